"""A worker process's presence in the database: registration and heartbeats, so that the
scheduler knows its free slots and `GET /v1/queue` can show it."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from cortexrnn.shared.db import session_scope
from cortexrnn.shared.models import WorkerInfo, utcnow

log = logging.getLogger("cortexrnn.worker")
MB = 2**20


def device_memory_mb(device: str) -> float | None:
    """The memory a worker's packs share: the GPU's free memory for a CUDA device (what
    other processes on it leave), else the host's (or its container's limit, where lower).
    None where the device cannot be asked (no CUDA): the scheduler then knows no memory bound
    for its queue."""
    if device.startswith("cuda"):
        import torch  # noqa: PLC0415 - only CUDA workers need it here

        if not torch.cuda.is_available():
            log.warning("%s: CUDA is not available; the worker's memory is unknown", device)
            return None
        index = int(device.split(":", 1)[1]) if ":" in device else 0
        free, _total = torch.cuda.mem_get_info(index)
        return free / MB
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    with contextlib.suppress(OSError, ValueError):
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            total = min(total, int(limit))
    return total / MB


def register_worker(
    name: str, device: str, queues: list[str], concurrency: int, memory_mb: float | None = None
) -> None:
    """`memory_mb`: the memory of each slot (the scheduler sizes packs by it); None: the
    device's memory shared by the slots."""
    if memory_mb is None:
        total = device_memory_mb(device)
        memory_mb = None if total is None else total / concurrency
    with session_scope() as session:
        row = session.scalar(select(WorkerInfo).where(WorkerInfo.name == name))
        if row is None:
            row = WorkerInfo(name=name, hostname=socket.gethostname(), device=device)
            session.add(row)
        row.device, row.queues, row.concurrency = device, list(queues), concurrency
        row.memory_mb = memory_mb
        row.started_at = row.heartbeat_at = utcnow()


def unregister_worker(name: str) -> None:
    with session_scope() as session:
        row = session.scalar(select(WorkerInfo).where(WorkerInfo.name == name))
        if row is not None:
            session.delete(row)


class Heartbeat:
    """Calls `beat` every `interval` seconds on a daemon thread until stopped. A failed beat
    (database briefly away) is logged and retried at the next interval."""

    def __init__(self, beat: Callable[[], None], interval: float) -> None:
        self._beat = beat
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="cortexrnn-heartbeat")

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._beat()
            except Exception:
                log.warning("heartbeat failed; retrying in %.0f s", self._interval, exc_info=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval + 5)


def worker_heartbeat(name: str) -> None:
    with session_scope() as session:
        row = session.scalar(select(WorkerInfo).where(WorkerInfo.name == name))
        if row is not None:
            row.heartbeat_at = utcnow()
