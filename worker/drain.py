"""Draining: a worker asked to stop (SIGTERM, as a Slurm pilot gets before its time limit)
stops its pack at the next step, uploads the checkpoint and gives the pack back to the
queue, instead of holding it until the end or being killed mid-step.

Celery's warm shutdown only stops the worker from taking new messages; its
`worker_shutting_down` signal is sent from the signal handler of the process that runs the
pack when the pool is `solo` (one pack per process, as `cortexrnn worker` runs one per GPU),
so the flag below is set there."""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import worker_shutting_down

log = logging.getLogger("cortexrnn.worker")
_requested = threading.Event()


def requested() -> bool:
    return _requested.is_set()


def request(reason: str = "asked to") -> None:
    if not _requested.is_set():
        log.info("draining (%s): the current pack stops at its next step", reason)
    _requested.set()


def reset() -> None:
    """Forget a drain request (tests that run packs in-process)."""
    _requested.clear()


def _on_shutting_down(sig: Any = None, how: Any = None, **_: Any) -> None:
    request(f"{sig or 'signal'}, {how or 'warm'} shutdown")


worker_shutting_down.connect(_on_shutting_down, weak=False)
