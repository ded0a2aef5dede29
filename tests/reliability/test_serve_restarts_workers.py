"""`cortexrnn serve` replaces a worker process that dies (here SIGKILL, as the kernel's
out-of-memory killer sends): the death is logged, the pack it held goes back to the queue at
once (not after the heartbeat timeout), a new worker takes it and the experiment finishes;
no process of the dead worker goes on training."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.integration.conftest import start_embedded, tiny_spec

HEARTBEAT_TIMEOUT_S = 300  # far longer than the test waits: the requeue must come from serve


def _processes() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, process group, command line) of every process we can read."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        out[int(entry.name)] = (int(fields[1]), int(fields[2]), cmd)
    return out


def _workers_of(serve_pid: int) -> list[int]:
    return sorted(
        pid
        for pid, (ppid, _, cmd) in _processes().items()
        if ppid == serve_pid and " worker " in f"{cmd} "
    )


def _fork_servers_in(group: int) -> list[int]:
    return [
        pid
        for pid, (_, pgid, cmd) in _processes().items()
        if pgid == group and "multiprocessing.forkserver" in cmd
    ]


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.mark.timeout(600)
def test_serve_replaces_a_killed_worker_and_the_experiment_finishes(tmp_path) -> None:
    dep = start_embedded(
        tmp_path,
        workers=1,
        CORTEXRNN_HEARTBEAT_TIMEOUT_S=str(HEARTBEAT_TIMEOUT_S),
        CORTEXRNN_PACK_ISOLATION="1",  # the pack's own process must die with its worker too
    )
    serve = dep.procs[0]
    log = tmp_path / "serve.log"
    try:
        (first,) = _wait(lambda: _workers_of(serve.pid), 60, "the first worker process")
        spec = tiny_spec(
            name="outlives-its-worker",
            training={"epochs": 25, "train_trials": 128, "test_trials": 64, "batch_size": 32},
        )
        with dep.client as c:
            eid = c.post("/v1/experiments", json=spec).json()["id"]

            def training() -> list[dict]:
                runs = c.get(f"/v1/experiments/{eid}/runs").json()
                return [r for r in runs if r["state"] == "running" and (r.get("step") or 0) > 0]

            running = _wait(training, 120, "a run in training")
            old_worker = running[0]["worker"]
            os.kill(first, signal.SIGKILL)  # the worker alone: its pack process must follow it
            killed_at = time.monotonic()

            (second,) = _wait(
                lambda: [p for p in _workers_of(serve.pid) if p != first], 30, "a new worker"
            )

            def requeued() -> bool:
                runs = c.get(f"/v1/experiments/{eid}/runs").json()
                return all(r["worker"] != old_worker for r in runs)

            _wait(requeued, 30, "the dead worker's runs to leave it")
            requeued_s = time.monotonic() - killed_at
            # One fork server left in the deployment: the dead worker's went with it, and
            # with it its pack's process.
            _wait(lambda: len(_fork_servers_in(serve.pid)) == 1, 10, "one fork server")

        body = dep.wait(eid, timeout=400)
        assert body["status"] == "succeeded", body
        text = log.read_text()
        assert re.search(
            rf"worker {re.escape(old_worker)} \(pid {first}\) was killed \(SIGKILL", text
        )
        assert re.search(rf"started worker local-0\.1@\S+ \(pid {second}\) in its place", text)
        assert requeued_s < HEARTBEAT_TIMEOUT_S / 10, requeued_s
        # The dead worker's pack process died with it: it never lived to see the requeue.
        assert "was requeued to another worker while this one trained" not in text
        with dep.client as c:
            runs = c.get(f"/v1/experiments/{eid}/runs").json()
        assert {r["state"] for r in runs} == {"succeeded"}
        assert all(r["worker"] != old_worker for r in runs)
        print(f"\nthe dead worker's runs left it {requeued_s:.1f} s after the kill")
    finally:
        dep.stop()
