"""API speed on the lab deployment (Postgres + Redis + a Celery worker), from a second
process on loopback.

Prints requests/s and p50/p99 latency of GET /v1/experiments/{id} (status with counts,
progress and ETA) under concurrent clients, with GET /healthz (no database) measured the same
way in the same run as the baseline, and the submit-to-running latency on an idle worker.

    python benchmarks/api.py [--seconds 15] [--clients 8] [--submissions 5]

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and Redis on 127.0.0.1:6379; it
creates and drops a throwaway database and uses Redis database 14.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import threading
import time
from tempfile import TemporaryDirectory

import httpx

from cortexrnn.cli import local_server as lab

SPEC = lab.tiny_experiment("bench", 1, {"W": {"init": "orthogonal"}})


def hammer(
    url: str, headers: dict[str, str], path: str, seconds: float, clients: int
) -> dict[str, float]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        mine, bad = [], 0
        with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
            while time.monotonic() < stop:
                t0 = time.perf_counter()
                r = c.get(path)
                mine.append(time.perf_counter() - t0)
                bad += r.status_code != 200
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=client) for _ in range(clients)]
    wall = lab.run_timed(threads)
    latencies.sort()
    return {
        "rps": len(latencies) / wall,
        "p50_ms": 1e3 * latencies[len(latencies) // 2],
        "p99_ms": 1e3 * latencies[int(0.99 * (len(latencies) - 1))],
        "n": len(latencies),
        "errors": errors[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--submissions", type=int, default=5)
    args = ap.parse_args()

    procs: list[subprocess.Popen] = []
    with (
        lab.throwaway_database(lab.LOCAL_POSTGRES, "cortexrnn_bench") as db_url,
        TemporaryDirectory() as home,
    ):
        env = {
            **os.environ,
            "CORTEXRNN_HOME": home,
            "CORTEXRNN_DATABASE_URL": db_url,
            "CORTEXRNN_BROKER_URL": "redis://127.0.0.1:6379/14",
            "CORTEXRNN_SECRET_KEY": "benchmark-secret-0123456789",
            "CORTEXRNN_FINAL_NULLS": "20",
        }
        try:
            lab.run_cortexrnn(env, "db", "upgrade")
            token = lab.run_cortexrnn(env, "users", "create", "bench")
            port = lab.free_port()
            url = f"http://127.0.0.1:{port}"
            procs.append(
                subprocess.Popen(
                    [
                        lab.CORTEXRNN,
                        "serve",
                        "--port",
                        str(port),
                        "--workers",
                        "0",
                        "--scheduler-interval",
                        "0.2",
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
            procs.append(
                subprocess.Popen(
                    [lab.CORTEXRNN, "worker", "--name", "bench-worker", "--threads", "1"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
            headers = {"Authorization": f"Bearer {token}"}
            lab.wait_ready(url, procs[0], timeout=60, interval=0.1)
            with httpx.Client(base_url=url, headers=headers, timeout=60) as c:
                # The first submission builds the default dataset once.
                first = c.post("/v1/experiments", json=SPEC).json()["id"]
                latencies = []
                for i in range(args.submissions + 1):
                    while c.get(f"/v1/experiments/{first}").json()["status"] == "active":
                        time.sleep(0.05)
                    t0 = time.perf_counter()
                    eid = c.post("/v1/experiments", json={**SPEC, "seeds": [100 + i]}).json()["id"]
                    while not {"running", "succeeded"} & set(
                        c.get(f"/v1/experiments/{eid}").json()["counts"]
                    ):
                        time.sleep(0.02)
                    if i:  # the first one also waits for the worker to warm up
                        latencies.append(time.perf_counter() - t0)
                    first = eid
            base = hammer(url, headers, "/healthz", args.seconds, args.clients)
            status = hammer(url, headers, f"/v1/experiments/{first}", args.seconds, args.clients)
        finally:
            for p in procs:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
    print(
        f"machine: {os.cpu_count()} CPUs; {args.clients} concurrent clients for {args.seconds:.0f} "
        "s each"
    )
    for name, r in (
        ("GET /healthz (baseline, no database)", base),
        ("GET /v1/experiments/{id}", status),
    ):
        print(
            f"{name:40s} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} "
            f"ms  errors {r['errors']}/{r['n']}"
        )
    print(f"status throughput / baseline: {status['rps'] / base['rps']:.2f}")
    print(
        f"submit-to-running on an idle worker: median {statistics.median(latencies):.2f} s "
        f"(min {min(latencies):.2f}, max {max(latencies):.2f}, n={len(latencies)})"
    )


if __name__ == "__main__":
    main()
