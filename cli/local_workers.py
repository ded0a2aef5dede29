"""The worker processes `cortexrnn serve` starts on its own machine, and their supervision: a
worker process that dies (killed by the kernel's out-of-memory killer, by -9, or crashed) is
logged, the packs it held go back to the queue at once, and a replacement starts under a new
name, so that a late write of the dead one can never pass for the new one's."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from cortexrnn.shared.db import transact
from cortexrnn.shared.settings import get_settings
from cortexrnn.worker.dispatch import send_pack
from cortexrnn.worker.runtime import unregister_worker
from cortexrnn.worker.scheduler import release_dead_worker

log = logging.getLogger("cortexrnn")

CHECK_EVERY_S = 1.0
# A worker that dies soon after its start (a broken install, a database that refuses it) is
# started again after a wait that doubles each time, up to this.
MAX_BACKOFF_S = 60.0
STABLE_AFTER_S = 60.0


def worker_name(index: int, generation: int) -> str:
    again = f".{generation}" if generation else ""
    return f"local-{index}{again}@{socket.gethostname()}-{os.getpid()}"


def how_it_ended(returncode: int) -> str:
    if returncode >= 0:
        return f"exited with status {returncode}"
    sig = signal.Signals(-returncode)
    if sig == signal.SIGKILL:
        return "was killed (SIGKILL; the kernel's out-of-memory killer ends processes so)"
    return f"was killed by {sig.name}"


class LocalWorkers:
    """`count` worker processes serving `queue` with `threads` torch threads each."""

    def __init__(self, count: int, queue: str, threads: int) -> None:
        self.queue = queue
        self.threads = threads
        self.procs: list[subprocess.Popen] = []
        self.names: list[str] = []
        self._generation = [0] * count
        self._started = [0.0] * count
        self._backoff = [1.0] * count
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="worker-watch")
        for i in range(count):
            proc, name = self._spawn(i)
            self.procs.append(proc)
            self.names.append(name)

    def _spawn(self, index: int) -> tuple[subprocess.Popen, str]:
        name = worker_name(index, self._generation[index])
        cmd = [
            sys.executable,
            "-m",
            "cortexrnn.cli.main",
            "worker",
            "--name",
            name,
            "--queues",
            self.queue,
            "--threads",
            str(self.threads),
        ]
        self._started[index] = time.monotonic()
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL), name

    def start_watching(self) -> None:
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(CHECK_EVERY_S):
            for index in range(len(self.procs)):
                try:
                    self._check(index)
                except Exception:  # the watch must outlive a database hiccup
                    log.warning("checking local worker %d failed; retrying", index, exc_info=True)

    def _check(self, index: int) -> None:
        with self._lock:
            proc, name = self.procs[index], self.names[index]
            code = proc.poll()
            if code is None or self._stop.is_set():
                return
            lived = time.monotonic() - self._started[index]
            if lived >= STABLE_AFTER_S:
                self._backoff[index] = 1.0
            log.error(
                "worker %s (pid %d) %s after %.0f s; its packs go back to the queue",
                name,
                proc.pid,
                how_it_ended(code),
                lived,
            )
            self._release(name)
            wait = self._backoff[index]
            self._backoff[index] = min(wait * 2, MAX_BACKOFF_S)
        if self._stop.wait(wait):
            return
        with self._lock:
            if self._stop.is_set():
                return
            self._generation[index] += 1
            self.procs[index], self.names[index] = self._spawn(index)
            log.warning(
                "started worker %s (pid %d) in its place", self.names[index], self.procs[index].pid
            )

    @staticmethod
    def _release(name: str) -> None:
        settings = get_settings()
        for pack_id, queue in transact(release_dead_worker, name, settings.max_attempts):
            send_pack(pack_id, queue)
        unregister_worker(name)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM every worker (each drains its pack), then SIGKILL those still there."""
        with self._lock:
            self._stop.set()
            procs = list(self.procs)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
