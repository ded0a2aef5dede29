"""The client as a user runs it: `cortexrnn serve` in a subprocess (API, scheduler and one
worker on SQLite and the filesystem broker), `cortexrnn-client` as separate processes that
find the server and its local token by themselves."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from tests.client.test_client_api import closed_port

SPEC = """\
name: live
dataset: synthetic-cortex
sampling: {strategy: spatial, n_neurons: 16, seed: 0}
tasks: [go_no_go]
training: {epochs: 1, train_trials: 64, test_trials: 64, batch_size: 32}
seeds: 2
conditions:
  W: {init: orthogonal}
  W*: {init: functional, lam: 0.0}
"""


@pytest.fixture()
def live_server(tmp_path):
    port = closed_port()
    env = {
        **os.environ,
        "CORTEXRNN_HOME": str(tmp_path / "home"),
        "CORTEXRNN_API_PORT": str(port),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "COLUMNS": "160",
    }
    for var in (
        "CORTEXRNN_URL",
        "CORTEXRNN_TOKEN",
        "CORTEXRNN_DATABASE_URL",
        "CORTEXRNN_BROKER_URL",
        "CORTEXRNN_CLIENT_CONFIG",
        "CORTEXRNN_API_HOST",
    ):
        env.pop(var, None)
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cortexrnn.cli.main",
            "serve",
            "--workers",
            "1",
            "--scheduler-interval",
            "0.5",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"cortexrnn serve exited: {(tmp_path / 'serve.log').read_text()[-2000:]}")
        time.sleep(0.5)
    else:
        pytest.fail("cortexrnn serve did not answer /healthz within 90 s")
    yield env
    os.killpg(proc.pid, signal.SIGTERM)  # the server and the worker it started
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()


def client(
    env: dict[str, str], *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cortexrnn.client.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_submit_wait_results_against_cortexrnn_serve(live_server, tmp_path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    done = client(live_server, "submit", str(spec), "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "submitted experiment 1 (live): 4 runs" in done.stdout
        and "experiment 1 succeeded" in done.stdout
    )
    assert "Traceback" not in done.stderr

    results = client(live_server, "results", "1", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(results.stdout)))
    assert len(rows) == 4 and {r["state"] for r in rows} == {"succeeded"}
    assert all(0.0 <= float(r["test_acc"]) <= 1.0 for r in rows)

    mine = client(live_server, "list", "--mine")  # the local admin token names its user
    assert mine.returncode == 0 and "live" in mine.stdout and "local" in mine.stdout

    dl = client(live_server, "download", "1", "-o", str(tmp_path / "dl"))
    assert dl.returncode == 0, dl.stderr
    assert len(list((tmp_path / "dl" / "weights").glob("*.npz"))) == 4

    # A wrong token and an unknown id, through the real HTTP stack.
    bad = client({**live_server, "CORTEXRNN_TOKEN": "crnn_wrong"}, "status", "1")
    assert bad.returncode == 4 and bad.stderr.startswith("error: invalid or revoked API token")
    missing = client(live_server, "status", "99")
    assert missing.returncode == 5 and "experiment 99 does not exist" in missing.stderr
