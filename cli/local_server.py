"""Starting a server process on this machine: a free port, and waiting until it answers.
Used by `cortexrnn demo`, the benchmarks and the integration tests."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx


class ServerNotReady(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen | None = None, *, timeout: float = 60.0,
               path: str = "/readyz", interval: float = 0.2) -> None:
    """Poll `url + path` until it answers 200; raise ServerNotReady if `proc` exits first or
    `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise ServerNotReady(f"the server exited (status {proc.returncode}) before answering {path}")
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise ServerNotReady(f"the server did not answer {path} within {timeout:.0f} s")
        time.sleep(interval)
