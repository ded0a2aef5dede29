"""A worker process's presence in the database: registration and heartbeats, so that the
scheduler knows its free slots and `GET /v1/queue` can show it."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

from sqlalchemy import select

from cortexrnn.shared.db import session_scope
from cortexrnn.shared.models import WorkerInfo, utcnow

log = logging.getLogger("cortexrnn.worker")


def register_worker(name: str, device: str, queues: list[str], concurrency: int) -> None:
    with session_scope() as session:
        row = session.scalar(select(WorkerInfo).where(WorkerInfo.name == name))
        if row is None:
            row = WorkerInfo(name=name, hostname=socket.gethostname(), device=device)
            session.add(row)
        row.device, row.queues, row.concurrency = device, list(queues), concurrency
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
