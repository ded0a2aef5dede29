"""Starting a server process on this machine: a free port, and waiting until it answers;
for the benchmarks also a throwaway database, this interpreter's `cortexrnn` commands, the
tiny experiment they submit and timed client threads. Used by `cortexrnn demo`, the
benchmarks and the integration tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

CORTEXRNN = Path(sys.executable).parent / "cortexrnn"  # the command of this interpreter's install
# A PostgreSQL server on this machine (user postgres, trust auth), its maintenance database.
LOCAL_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class ServerNotReady(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(
    url: str,
    proc: subprocess.Popen | None = None,
    *,
    timeout: float = 60.0,
    path: str = "/readyz",
    interval: float = 0.2,
) -> None:
    """Poll `url + path` until it answers 200; raise ServerNotReady if `proc` exits first or
    `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise ServerNotReady(
                f"the server exited (status {proc.returncode}) before answering {path}"
            )
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise ServerNotReady(f"the server did not answer {path} within {timeout:.0f} s")
        time.sleep(interval)


def run_cortexrnn(env: dict[str, str], *args: str) -> str:
    """Run `cortexrnn *args` with `env`; its standard output, stripped (CalledProcessError when
    it fails)."""
    done = subprocess.run([CORTEXRNN, *args], env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@contextmanager
def throwaway_database(admin_url: str, prefix: str) -> Iterator[str]:
    """A new empty database `<prefix>_<random>` on the server of `admin_url`, dropped (even
    with connections open) on exit; yields its URL."""

    db = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    try:
        yield make_url(admin_url).set(database=db).render_as_string(False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


def tiny_experiment(name: str, seeds: int, conditions: dict[str, Any]) -> dict[str, Any]:
    """The spec of an experiment small enough to load a server rather than its workers:
    16 neurons, one epoch of go/no-go on 64 training trials."""
    return {
        "name": name,
        "sampling": {"strategy": "random", "n_neurons": 16, "seed": 0},
        "tasks": ["go_no_go"],
        "training": {"epochs": 1, "train_trials": 64, "test_trials": 32, "batch_size": 32},
        "seeds": seeds,
        "conditions": conditions,
    }


def run_timed(threads: list[threading.Thread]) -> float:
    """Start `threads` together and wait for all of them; the wall-clock seconds that took."""
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0
