"""`cortexrnn serve --port X` records its address beside its local token; a client started
with no --url and no CORTEXRNN_API_PORT finds it there, and a record left by a server that
has stopped is passed over with a message that says so."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cortexrnn.cli.local_server import free_port


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "CORTEXRNN_HOME": str(tmp_path / "home"),
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
        "CORTEXRNN_API_PORT",
    ):
        env.pop(var, None)
    return env


def _client(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cortexrnn.client.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_client_finds_server_on_another_port(tmp_path: Path) -> None:
    env = _env(tmp_path)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cortexrnn.cli.main",
            "serve",
            "--port",
            str(port),
            "--workers",
            "0",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    record = tmp_path / "home" / "local_server.json"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "cortexrnn serve exited"
            assert time.monotonic() < deadline, "cortexrnn serve did not answer in 90 s"
            time.sleep(0.3)
        assert json.loads(record.read_text())["url"] == f"http://127.0.0.1:{port}"
        listed = _client(env, "list")
        assert listed.returncode == 0, listed.stdout + listed.stderr
        shown = _client(env, "config")
        assert f"http://127.0.0.1:{port}" in shown.stdout and str(record) in shown.stdout
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
    assert not record.exists()  # a stopped server leaves no record behind


def test_stale_record_is_ignored_with_a_message(tmp_path: Path) -> None:
    env = _env(tmp_path)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a process id that no longer runs
    home = tmp_path / "home"
    home.mkdir()
    dead_port = free_port()
    (home / "local_server.json").write_text(
        json.dumps(
            {"url": f"http://127.0.0.1:{dead_port}", "pid": gone.pid, "host": socket.gethostname()}
        )
    )
    env["CORTEXRNN_API_PORT"] = str(free_port())  # explicit port: the record is not consulted
    shown = _client(env, "config")
    assert "no longer running" not in shown.stdout
    del env["CORTEXRNN_API_PORT"]
    listed = _client(env, "list")
    assert listed.returncode != 0
    message = listed.stdout + listed.stderr
    assert "no longer running" in message and str(gone.pid) in message
    assert "127.0.0.1:8765" in message  # it fell back to the default address
    assert message.count("no longer running") == 1
    assert "Traceback" not in message


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_bind_all_address_is_reached_over_loopback(host: str, tmp_path: Path) -> None:
    from cortexrnn.wire import embedded

    embedded.record_server(host, 9000, home=tmp_path)
    record = embedded.read_server_record(tmp_path)
    assert record is not None and record.url == "http://127.0.0.1:9000" and record.is_running()
    embedded.forget_server(tmp_path)
    assert embedded.read_server_record(tmp_path) is None
