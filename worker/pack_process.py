"""Each pack trains in a process of its own, so that a pack that runs out of memory, or is
killed by the kernel's out-of-memory killer, fails alone with a reason on its runs while the
worker process lives on and takes the next pack.

The pack's process is a `forkserver` child: the fork server imports the training code once
(torch included) and forks a clean, single-threaded copy for each pack, so a pack starts in a
fraction of a second where a spawned interpreter would import everything again (seconds),
and never inherits the worker's threads, Celery's state or database connections as a plain
fork would. The child runs `execution.execute_pack` unchanged (claim, heartbeats, cancel
flags, checkpoints, results: all in the database and on disk, as before) after limiting its
own memory (worker/pack_memory.py). The worker's process waits for it and:

- forwards a drain (SIGTERM to the worker, worker/drain.py) to it as SIGTERM: the pack stops
  at its next step and is given back, as it was in-process;
- fails the pack's runs with a reason when the child could not (killed by SIGKILL, which is
  how the out-of-memory killer ends a process; or an out-of-memory error where no handler
  could write it), and requeues the pack at once for any other crash, as the reconciler
  would after the heartbeat timeout.

The child watches the worker's process and kills itself when the worker is gone, so a worker
killed with -9 leaves no pack training behind it."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import resource
import selectors
import signal
import sys
import threading
import time
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext

from sqlalchemy import select
from sqlalchemy.orm import Session

from cortexrnn.shared import lifecycle
from cortexrnn.shared.db import transact
from cortexrnn.shared.models import Pack, Run, RunState, utcnow
from cortexrnn.shared.settings import get_settings, reset_settings_cache
from cortexrnn.worker import drain, malloc_tunables, pack_memory
from cortexrnn.worker.dispatch import send_pack

log = logging.getLogger("cortexrnn.worker")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_context: ForkServerContext | None = None


def _forkserver() -> ForkServerContext:
    global _context  # one fork server per worker process, started on first use
    if _context is None:
        settings = get_settings()
        # read by the fork server's interpreter at its start, inherited by the pack processes
        malloc_tunables.enable_for_children(
            malloc_tunables.pack_tunables(settings.huge_pages, settings.keep_freed_memory)
        )
        ctx = multiprocessing.get_context("forkserver")
        assert isinstance(ctx, ForkServerContext)
        # Each pack's process runs the worker's main module again (multiprocessing's rule for
        # __main__): with what it imports loaded by the fork server, that costs nothing.
        loaded = sorted(m for m in sys.modules if m.startswith("cortexrnn."))
        ctx.set_forkserver_preload(["cortexrnn.worker.execution", *loaded])
        _context = ctx
    return _context


def start_fork_server() -> None:
    """Start the fork server now, at the worker's start, rather than at its first pack
    (it imports torch: seconds). Only where packs run in the worker's main process (one at a
    time, Celery's solo pool): a pool process forked later could not wait on this one."""
    _forkserver()
    forkserver.ensure_running()


def run_pack(pack_id: int, worker: str, device: str, threads: int) -> str:
    """Train pack `pack_id` in a process of its own; the one-word outcome for the log."""
    if drain.requested():
        # Taken just as the worker drains: back to the broker for another worker, without
        # starting a process that the drain would stop before it could say so.
        queue = transact(_queue_if_queued, pack_id)
        if queue is not None:
            send_pack(pack_id, queue)
        return "draining"
    ctx = _forkserver()
    reader, writer = ctx.Pipe(duplex=False)
    env = {k: v for k, v in os.environ.items() if k.startswith("CORTEXRNN_")}
    child = ctx.Process(
        target=_pack_main,
        args=(pack_id, worker, device, threads, env, writer, os.getpid()),
        name=f"cortexrnn-pack-{pack_id}",
    )
    started = time.monotonic()
    child.start()
    writer.close()
    forwarded = False
    while child.exitcode is None:
        child.join(0.2)
        if child.exitcode is None and drain.requested() and not forwarded:
            forwarded = True
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid or 0, signal.SIGTERM)
    report = _read_report(reader)
    log.info(
        "pack %s: its process ended (exit code %s) after %.1f s",
        pack_id,
        child.exitcode,
        time.monotonic() - started,
    )
    if report is not None and report[0] == "outcome":
        return report[1]
    return _after_crash(pack_id, worker, child.exitcode or 0, report)


def _read_report(reader: Connection) -> tuple[str, str] | None:
    try:
        return reader.recv() if reader.poll() else None
    except (EOFError, OSError):
        return None
    finally:
        reader.close()


def _after_crash(pack_id: int, worker: str, exitcode: int, report: tuple[str, str] | None) -> str:
    """The child ended without an outcome: fail the pack's runs with why, or requeue it."""
    settings = get_settings()
    if report is not None and report[0] == "out_of_memory":
        reason: str | None = report[1]
    elif exitcode == -signal.SIGKILL:
        reason = (
            "the pack's process was killed (SIGKILL), most likely by the kernel's out-of-memory "
            "killer: the host ran out of memory while it trained; reduce training.batch_size, "
            "training.train_trials or sampling.n_neurons, or ask the operator for more memory "
            "per pack"
        )
    else:
        reason = None
    what = report[1] if report is not None else f"exit code {exitcode}"
    if reason is not None:
        log.error("pack %s failed in its process: %s", pack_id, what)
        failed = transact(_fail_if_ours, pack_id, worker, reason)
        return "failed" if failed else "superseded"
    queue = transact(_requeue_if_ours, pack_id, worker, settings.max_attempts)
    if queue is None:
        log.warning("pack %s: its process ended early (%s); it is not ours now", pack_id, what)
        return "superseded"
    log.error("pack %s: its process crashed (%s); requeued it", pack_id, what)
    send_pack(pack_id, queue)
    return "crashed"


def _queue_if_queued(session: Session, pack_id: int) -> str | None:
    pack = session.get(Pack, pack_id)
    return pack.queue if pack is not None and pack.state == RunState.QUEUED.value else None


def _live_runs(session: Session, pack_id: int) -> list[Run]:
    runs = session.scalars(select(Run).where(Run.pack_id == pack_id).order_by(Run.id))
    return [r for r in runs if not RunState(r.state).is_terminal]


def _fail_if_ours(session: Session, pack_id: int, worker: str, reason: str) -> bool:
    if not lifecycle.hold_pack(session, pack_id, worker):
        return False  # never claimed, already written, or requeued to another worker
    lifecycle.fail_pack(session, pack_id, [r.id for r in _live_runs(session, pack_id)], reason)
    return True


def _requeue_if_ours(session: Session, pack_id: int, worker: str, max_attempts: int) -> str | None:
    if not lifecycle.hold_pack(session, pack_id, worker):
        return None
    pack = session.get_one(Pack, pack_id)
    requeued = lifecycle.requeue_or_lose(pack, _live_runs(session, pack_id), max_attempts, utcnow())
    return pack.queue if requeued else None


# -- in the pack's process ------------------------------------------------------------------


def _pack_main(
    pack_id: int,
    worker: str,
    device: str,
    threads: int,
    env: dict[str, str],
    out: Connection,
    worker_pid: int,
) -> None:
    # First: a drain forwarded by the worker must not find SIGTERM's default action.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: drain.request(signal.Signals(signum).name))
    _die_with_worker(worker_pid)
    # The fork server's environment is the worker's when it started; the worker's own now is
    # what counts (tests and `serve` change CORTEXRNN_* between packs).
    for key in [k for k in os.environ if k.startswith("CORTEXRNN_")]:
        del os.environ[key]
    os.environ.update(env)
    reset_settings_cache()
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr, force=True)

    import torch  # noqa: PLC0415 - loaded by the fork server already

    from cortexrnn.worker.execution import execute_pack  # noqa: PLC0415 - as torch

    torch.set_num_threads(max(1, threads))
    try:
        outcome = execute_pack(pack_id, worker, device, limit_memory=True)
    except BaseException as exc:
        if pack_memory.is_out_of_memory(exc):
            pack_memory.lift()
            _send(out, ("out_of_memory", pack_memory.exceeded_reason(pack_memory.current(), exc)))
        else:
            _send(out, ("error", f"{type(exc).__name__}: {exc}"))
        raise
    # What the pack took at most (resident), for the operator to compare with the limit.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    log.info(
        "pack %s: its process peaked at %.0f MiB resident (%.0f MiB of data mapped at the end)",
        pack_id,
        peak_mb,
        pack_memory.data_mb(),
    )
    _send(out, ("outcome", outcome))


def _send(out: Connection, message: tuple[str, str]) -> None:
    with contextlib.suppress(OSError, MemoryError):
        out.send(message)
    out.close()


def _die_with_worker(worker_pid: int) -> None:
    """SIGKILL this process as soon as the worker that started it is gone. Not through the
    fork server (PR_SET_PDEATHSIG): multiprocessing hands every child the fork server's
    liveness pipe, so the fork server outlives a killed worker for as long as this process
    lives. A pidfd turns readable when the worker exits; without one, poll every second."""

    def watch() -> None:
        try:
            fd = os.pidfd_open(worker_pid)
        except ProcessLookupError:
            os.kill(os.getpid(), signal.SIGKILL)
        except (AttributeError, OSError):  # no pidfd (not Linux, or before 5.3)
            while _alive(worker_pid):
                time.sleep(1.0)
        else:
            with selectors.DefaultSelector() as selector:
                selector.register(fd, selectors.EVENT_READ)
                selector.select()
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, daemon=True, name="cortexrnn-worker-watch").start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
