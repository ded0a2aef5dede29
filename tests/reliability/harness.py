"""Pieces the reliability tests share: a lab deployment whose API can be killed and restarted
and whose settings (timeouts, database and broker addresses) a test chooses, a private Redis
server that can lose its data, a TCP proxy that can cut Postgres off, a monitor that records
every pack row as it changes, and the claims each worker logged.

Everything runs as real processes (`cortexrnn serve`, `cortexrnn worker`, `redis-server`)
against a real Postgres, as in production; only the faults are injected by the tests."""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx

from cortexrnn.cli.local_server import free_port
from tests.integration.conftest import BIN, Deployment, _wait_ready


def lab_env(home: Path, database_url: str, broker_url: str, **settings: str) -> dict[str, str]:
    """The environment of every process of one lab deployment; `settings` are CORTEXRNN_*
    overrides given without the prefix (heartbeat_timeout_s="4")."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORTEXRNN_")}
    env.update(
        CORTEXRNN_HOME=str(home),
        CORTEXRNN_FINAL_NULLS="20",
        CORTEXRNN_HEARTBEAT_TIMEOUT_S="6",
        CORTEXRNN_DISPATCH_TIMEOUT_S="20",
        CORTEXRNN_DATABASE_URL=database_url,
        CORTEXRNN_BROKER_URL=broker_url,
        CORTEXRNN_SECRET_KEY="reliability-test-secret-0123456789",
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS="1",
    )
    env.update({f"CORTEXRNN_{k.upper()}": str(v) for k, v in settings.items()})
    return env


@dataclass
class Lab(Deployment):
    """A lab deployment whose API process (`serve --workers 0`: API + scheduler) can be
    killed and started again on the same port."""

    port: int = 0
    api: subprocess.Popen | None = None
    api_starts: int = 0
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start_api(self) -> None:
        self.api_starts += 1
        log = self.home / f"serve-{self.api_starts}.log"
        with open(log, "wb") as log_file:  # the child keeps its own copy
            self.api = subprocess.Popen(
                [
                    BIN / "cortexrnn",
                    "serve",
                    "--port",
                    str(self.port),
                    "--workers",
                    "0",
                    "--scheduler-interval",
                    "0.5",
                ],
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(self.api)
        _wait_ready(self.url, self.api, log)

    def kill_api(self, sig: int = signal.SIGKILL) -> None:
        assert self.api is not None
        kill_group(self.api, sig)

    def start_worker(self, name: str) -> subprocess.Popen:
        proc = super().start_worker(name)
        self.workers[name] = proc
        return proc

    def kill_worker(self, name: str, sig: int = signal.SIGKILL) -> None:
        kill_group(self.workers[name], sig)


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Signal a process started with start_new_session (its whole group) and, for SIGKILL and
    SIGTERM, wait until it is gone."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    if sig in (signal.SIGKILL, signal.SIGTERM):
        proc.wait(timeout=30)


def start_lab(
    tmp_path: Path,
    database_url: str,
    broker_url: str,
    *,
    workers: int = 1,
    admin_database_url: str | None = None,
    **settings: str,
) -> Lab:
    """Migrate, create an admin token, start the API and `workers` workers. Database admin
    commands go to `admin_database_url` when the service's own address is a proxy."""
    home = tmp_path / "home"
    home.mkdir(parents=True)
    env = lab_env(home, database_url, broker_url, **settings)
    admin_env = {**env, "CORTEXRNN_DATABASE_URL": admin_database_url or database_url}
    subprocess.run(
        [BIN / "cortexrnn", "db", "upgrade"], env=admin_env, check=True, capture_output=True
    )
    token = subprocess.run(
        [BIN / "cortexrnn", "users", "create", "lab-admin", "--admin"],
        env=admin_env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    lab = Lab("lab", f"http://127.0.0.1:{port}", token, env, home, port=port)
    try:
        lab.start_api()
        for i in range(workers):
            lab.start_worker(f"worker-{i}")
    except BaseException:
        lab.stop()
        raise
    return lab


# -- worker logs ---------------------------------------------------------------------------

_LOG_TIME = r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})"
CLAIM_RE = re.compile(_LOG_TIME + r" INFO cortexrnn\.worker: pack (\d+): \d+ runs on ")
RESUME_RE = re.compile(
    _LOG_TIME + r" INFO cortexrnn\.worker: pack (\d+): resumed from its checkpoint at step (\d+)"
)
SKIP_RE = re.compile(_LOG_TIME + r" INFO cortexrnn\.worker: pack (\d+): already claimed or gone")


def _log_time(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S,%f").timestamp()


def log_events(
    home: Path, pattern: re.Pattern[str]
) -> list[tuple[float, str, int, tuple[str, ...]]]:
    """(unix time, worker name, pack id, other groups) of every match in every worker log."""
    out = []
    for log in sorted(home.glob("*.log")):
        if log.name.startswith("serve"):
            continue
        for m in pattern.finditer(log.read_text(errors="replace")):
            out.append((_log_time(m.group(1)), log.stem, int(m.group(2)), m.groups()[2:]))
    return sorted(out)


# -- database monitor ----------------------------------------------------------------------


class PackMonitor(threading.Thread):
    """Polls the packs and runs tables every `interval` seconds and keeps every change:
    (unix time, pack id, state, worker, attempt) for packs, and the steps runs report."""

    def __init__(self, database_url: str, interval: float = 0.1) -> None:
        super().__init__(daemon=True, name="pack-monitor")
        from sqlalchemy import create_engine

        self.engine = create_engine(database_url, pool_pre_ping=True)
        self.interval = interval
        self.packs: list[tuple[float, int, str, str | None, int]] = []
        self.run_steps: list[
            tuple[float, int, int, str, int]
        ] = []  # time, run id, pack id, state, step
        self._halt = threading.Event()

    def run(self) -> None:
        from sqlalchemy import text

        last: dict[int, tuple] = {}
        last_run: dict[int, tuple] = {}
        while not self._halt.is_set():
            try:
                with self.engine.connect() as conn:
                    now = time.time()
                    for pid, state, worker, attempt in conn.execute(
                        text("SELECT id, state, worker, attempt FROM packs ORDER BY id")
                    ):
                        if last.get(pid) != (state, worker, attempt):
                            last[pid] = (state, worker, attempt)
                            self.packs.append((now, pid, state, worker, attempt))
                    for rid, pid, state, step in conn.execute(
                        text("SELECT id, pack_id, state, step FROM runs ORDER BY id")
                    ):
                        if last_run.get(rid) != (state, step):
                            last_run[rid] = (state, step)
                            self.run_steps.append((now, rid, pid or 0, state, step))
            except Exception:  # noqa: BLE001 - the tables may not exist yet, or the database be away
                pass
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)
        self.engine.dispose()


# -- private Redis -------------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of this test alone, without persistence: killing it loses every
    message, as a crashed broker host would."""

    def __init__(self, workdir: Path) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise FileNotFoundError("redis-server")
        self.exe = exe
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / "redis.log", "ab") as log_file:  # the child keeps its own copy
            self.proc = subprocess.Popen(
                [
                    self.exe,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                ],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("private redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            kill_group(self.proc, signal.SIGKILL)


# -- a TCP proxy that can cut a server off --------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target. `cut()` resets every open connection and closes
    the listening socket (new connections are refused), as a database host dropping off the
    network would look; `restore()` listens again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    def start(self) -> None:
        self.restore()

    def restore(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(128)
        self._closing.clear()
        self._listener = sock
        self._thread = threading.Thread(target=self._accept, args=(sock,), daemon=True)
        self._thread.start()

    def cut(self) -> None:
        self._closing.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for c in conns:
            try:
                c.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                c.close()  # linger 0: a reset, not a polite close
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def close(self) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while not self._closing.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._closing.is_set():
                    client.close()
                    upstream.close()
                    return
                self._conns.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                for key, _ in sel.select(timeout=1.0):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    key.data.sendall(data)
                if self._closing.is_set():
                    return
        except (OSError, ValueError):
            return
        finally:
            sel.close()
            for s in (a, b):
                with self._lock:
                    self._conns.discard(s)
                with contextlib.suppress(OSError):
                    s.close()


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def experiment_state(client: httpx.Client, experiment_id: int) -> dict:
    return client.get(f"/v1/experiments/{experiment_id}").json()
