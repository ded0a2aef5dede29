"""Load: many concurrent clients submitting small experiments and polling them, against the
lab deployment's database (Postgres), for a fixed time.

Prints throughput (requests/s), the error count (must be 0) and p50 / p99 latency per
endpoint. No workers are started: submissions queue, which is the state that takes the most
requests in a shared lab (everyone polling while the queue drains).

    python benchmarks/load.py [--seconds 60] [--clients 50] [--users 5] [--url URL --token T]

Without --url it creates a throwaway database on 127.0.0.1:5432 (user postgres, trust auth),
migrates it, creates the users, starts `cortexrnn serve --workers 0` (API + scheduler) in a
subprocess with a filesystem broker, and drops the database afterwards.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx

from cortexrnn.cli import local_server as lab

SPEC = lab.tiny_experiment(
    "load", 2, {"baseline": {"init": "orthogonal"}, "bio": {"init": "functional"}}
)
POLLS_PER_SUBMISSION = 8
THINK_S = 0.05  # a client pauses this long between polls, like a progress bar refreshing


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    examples: list[str] = field(default_factory=list)
    submitted: int = 0

    def record(self, endpoint: str, seconds: float, ok: bool, detail: str = "") -> None:
        self.latencies[endpoint].append(seconds)
        if not ok:
            self.errors[endpoint] += 1
            if len(self.examples) < 5:
                self.examples.append(f"{endpoint}: {detail[:200]}")

    def merge(self, other: Tally) -> None:
        for k, v in other.latencies.items():
            self.latencies[k].extend(v)
        for k, v in other.errors.items():
            self.errors[k] += v
        self.examples.extend(other.examples[: max(0, 5 - len(self.examples))])
        self.submitted += other.submitted


def client_loop(url: str, token: str, index: int, deadline: float, tally: Tally) -> None:
    """Submit one small experiment, poll its status and runs, list my experiments; repeat."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:

        def call(
            endpoint: str, method: str, path: str, expect: tuple[int, ...], **kw: Any
        ) -> httpx.Response | None:
            t0 = time.perf_counter()
            try:
                r = c.request(method, path, **kw)
            except httpx.HTTPError as exc:
                tally.record(
                    endpoint, time.perf_counter() - t0, False, f"{type(exc).__name__}: {exc}"
                )
                return None
            tally.record(
                endpoint,
                time.perf_counter() - t0,
                r.status_code in expect,
                f"{r.status_code} {r.text}",
            )
            return r if r.status_code in expect else None

        n = 0
        while time.monotonic() < deadline:
            n += 1
            spec = {
                **SPEC,
                "name": f"load-{index}-{n}",
                "seeds": [index * 100_000 + n, index * 100_000 + n + 50_000],
            }
            r = call("POST /v1/experiments", "POST", "/v1/experiments", (201,), json=spec)
            if r is None:
                continue
            tally.submitted += 1
            eid = r.json()["id"]
            for _ in range(POLLS_PER_SUBMISSION):
                if time.monotonic() >= deadline:
                    break
                call("GET /v1/experiments/{id}", "GET", f"/v1/experiments/{eid}", (200,))
                time.sleep(THINK_S)
            call("GET /v1/experiments/{id}/runs", "GET", f"/v1/experiments/{eid}/runs", (200,))
            call(
                "GET /v1/experiments?owner=…&limit=20",
                "GET",
                "/v1/experiments",
                (200,),
                params={"owner": f"load{index % 1000}", "limit": 20},
            )
            call("GET /v1/queue", "GET", "/v1/queue", (200,))


def run_load(url: str, tokens: list[str], seconds: float, clients: int) -> tuple[Tally, float]:
    tallies = [Tally() for _ in range(clients)]
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=client_loop, args=(url, tokens[i % len(tokens)], i, deadline, tallies[i])
        )
        for i in range(clients)
    ]
    wall = lab.run_timed(threads)
    total = Tally()
    for t in tallies:
        total.merge(t)
    return total, wall


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * (len(sorted_values) - 1) + 0.5))]


def report(total: Tally, wall: float, clients: int, seconds: float) -> int:
    n = sum(len(v) for v in total.latencies.values())
    errors = sum(total.errors.values())
    print(
        f"machine: {os.cpu_count()} CPUs (clients, API and Postgres share them); "
        f"{clients} concurrent clients for {seconds:.0f} s (wall {wall:.1f} s)"
    )
    print(
        f"requests {n}, throughput {n / wall:.1f} req/s, experiments submitted {total.submitted} "
        f"({total.submitted / wall:.2f}/s, {4 * total.submitted} runs queued), errors {errors}"
    )
    print(
        f"{'endpoint':40s} {'n':>7s} {'req/s':>7s} {'p50 ms':>8s} {'p99 ms':>8s} {'max ms':>8s} "
        f"{'errors':>6s}"
    )
    everything: list[float] = []
    for endpoint in sorted(total.latencies):
        lat = sorted(total.latencies[endpoint])
        everything += lat
        print(
            f"{endpoint:40s} {len(lat):7d} {len(lat) / wall:7.1f} "
            f"{1e3 * percentile(lat, 0.5):8.1f} {1e3 * percentile(lat, 0.99):8.1f} "
            f"{1e3 * lat[-1]:8.1f} {total.errors[endpoint]:6d}"
        )
    everything.sort()
    if everything:
        print(
            f"{'all':40s} {len(everything):7d} {len(everything) / wall:7.1f} "
            f"{1e3 * percentile(everything, 0.5):8.1f} "
            f"{1e3 * percentile(everything, 0.99):8.1f} {1e3 * everything[-1]:8.1f} {errors:6d}"
        )
    for example in total.examples:
        print(f"  error: {example}")
    return 1 if errors else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument(
        "--users", type=int, default=5, help="distinct users the clients are spread over"
    )
    ap.add_argument(
        "--url", help="an API that is already running (with --token); nothing is started"
    )
    ap.add_argument("--token", action="append", help="API token(s) for --url")
    ap.add_argument(
        "--admin-url",
        default=lab.LOCAL_POSTGRES,
        help="Postgres where the throwaway database is created",
    )
    args = ap.parse_args()

    if args.url:
        if not args.token:
            ap.error("--url needs at least one --token")
        total, wall = run_load(args.url, args.token, args.seconds, args.clients)
        return report(total, wall, args.clients, args.seconds)

    with lab.throwaway_database(args.admin_url, "cortexrnn_load") as db_url:
        proc: subprocess.Popen | None = None
        try:
            with TemporaryDirectory(prefix="cortexrnn-load-") as home:
                env = {
                    **os.environ,
                    "CORTEXRNN_HOME": home,
                    "CORTEXRNN_DATABASE_URL": db_url,
                    "CORTEXRNN_BROKER_URL": "filesystem://",
                    "CORTEXRNN_SECRET_KEY": "load-benchmark-" + uuid.uuid4().hex,
                }
                lab.run_cortexrnn(env, "db", "upgrade")
                tokens = [
                    lab.run_cortexrnn(env, "users", "create", f"load{i}") for i in range(args.users)
                ]
                port = lab.free_port()
                url = f"http://127.0.0.1:{port}"
                log = open(Path(home) / "serve.log", "w")  # noqa: SIM115 - read after the run
                proc = subprocess.Popen(
                    [lab.CORTEXRNN, "serve", "--port", str(port), "--workers", "0"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
                lab.wait_ready(url, proc, timeout=60, path="/healthz", interval=0.1)
                # The first submission builds the default synthetic cortex; keep it out of the
                # timing.
                with httpx.Client(
                    base_url=url, headers={"Authorization": f"Bearer {tokens[0]}"}, timeout=120
                ) as c:
                    warm = c.post("/v1/experiments", json={**SPEC, "name": "warm-up"})
                    warm.raise_for_status()
                total, wall = run_load(url, tokens, args.seconds, args.clients)
                code = report(total, wall, args.clients, args.seconds)
                if code:
                    log.flush()
                    tail = (Path(home) / "serve.log").read_text()[-3000:]
                    print("--- server log (tail) ---\n" + tail)
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
                log.close()
                return code
        finally:
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
