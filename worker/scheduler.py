"""The scheduler decides who runs next; the reconciler notices lost work.

Both read and write only the database, so that a lost broker message, a restarted Redis or a
worker killed with -9 costs nothing that was accepted: the rows say what must still happen.
`dispatch` is a callable that sends a pack id to the broker (Celery in production, a list in
tests). Only one scheduler acts at a time: on Postgres an advisory transaction lock, on
SQLite the database write lock taken at the start of the tick.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from cortexrnn.shared.experiments import refresh_experiment_status
from cortexrnn.shared.models import Experiment, Pack, Run, RunState, WorkerInfo, as_utc, utcnow

log = logging.getLogger("cortexrnn.scheduler")

SCHEDULER_LOCK_KEY = 0x636F7274  # "cort": one advisory lock for the whole scheduler

Dispatch = Callable[[int, str], None]  # (pack id, queue)


@dataclass
class TickReport:
    dispatched: list[int] = field(default_factory=list)
    redispatched: list[int] = field(default_factory=list)
    requeued_runs: list[int] = field(default_factory=list)
    lost_runs: list[int] = field(default_factory=list)
    skipped: bool = False  # another scheduler held the lock


def _lock(session: Session) -> bool:
    if session.get_bind().dialect.name == "postgresql":
        return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SCHEDULER_LOCK_KEY}).scalar())
    # SQLite: BEGIN IMMEDIATE semantics; a harmless write takes the database lock now.
    session.execute(text("UPDATE packs SET id = id WHERE 0"))
    return True


def worker_slots(session: Session, queue: str, heartbeat_timeout: timedelta) -> int:
    """Slots of live workers serving `queue`."""
    now = utcnow()
    slots = 0
    for w in session.scalars(select(WorkerInfo)):
        if queue in (w.queues or []) and now - as_utc(w.heartbeat_at) < heartbeat_timeout:
            slots += w.concurrency
    return slots


def busy_packs(session: Session, queue: str) -> int:
    return session.scalar(
        select(func.count()).where(Pack.queue == queue, Pack.state.in_([RunState.QUEUED.value, RunState.RUNNING.value]))
    ) or 0


def _pick_next_run(session: Session) -> Run | None:
    """Fair share: the user with the fewest runs in flight goes first; among equals, the one
    served longest ago; then priority, then age."""
    pending = list(session.scalars(
        select(Run).where(Run.state == RunState.PENDING.value)
        .order_by(Run.priority.desc(), Run.created_at, Run.id)
    ))
    if not pending:
        return None
    owners = {r.owner_id for r in pending}
    in_flight = dict(session.execute(
        select(Run.owner_id, func.count()).where(
            Run.owner_id.in_(owners), Run.state.in_([RunState.QUEUED.value, RunState.RUNNING.value]))
        .group_by(Run.owner_id)
    ).all())
    last_served = dict(session.execute(
        select(Run.owner_id, func.max(Run.queued_at)).where(Run.owner_id.in_(owners), Run.queued_at.is_not(None))
        .group_by(Run.owner_id)
    ).all())
    epoch = datetime.min.replace(tzinfo=timezone.utc)
    best_per_owner: dict[int, Run] = {}
    for run in pending:  # already in priority, age order
        best_per_owner.setdefault(run.owner_id, run)
    return min(
        best_per_owner.values(),
        key=lambda r: (in_flight.get(r.owner_id, 0), as_utc(last_served.get(r.owner_id)) or epoch,
                       -r.priority, as_utc(r.created_at), r.id),
    )


def _form_pack(session: Session, head: Run, queue: str, max_pack_size: int) -> Pack:
    """The head run and the pending runs that can train with it: the same pack key, from any
    experiment (its own first, then by priority and age), so that small experiments fill a
    pack where one network alone leaves the device idle (GPUs; small N on CPU, see
    benchmarks/pack_size.py). max_pack_size is the operator's bound for the device.

    A retried run still belongs to its earlier pack: that pack goes out again with its
    pending runs, so that a whole retried pack resumes from its checkpoint."""
    if head.pack_id is not None:
        pack = session.get(Pack, head.pack_id)
        pack.state, pack.worker, pack.attempt, pack.queue = RunState.QUEUED.value, None, 0, queue
        pack.dispatched_at = utcnow()
        for run in session.scalars(select(Run).where(Run.pack_id == pack.id, Run.state == RunState.PENDING.value)):
            run.transition(RunState.QUEUED)
        return pack
    mates = list(session.scalars(
        select(Run).where(Run.state == RunState.PENDING.value, Run.pack_id.is_(None), Run.pack_key == head.pack_key)
        .order_by((Run.experiment_id != head.experiment_id), Run.priority.desc(), Run.created_at, Run.id)
        .limit(max_pack_size)
    ))
    pack = Pack(pack_key=head.pack_key, queue=queue, state=RunState.QUEUED.value, dispatched_at=utcnow())
    session.add(pack)
    session.flush()
    for run in mates:
        run.pack_id = pack.id
        run.transition(RunState.QUEUED)
    return pack


def schedule_once(
    session: Session,
    dispatch: Dispatch,
    *,
    queue: str,
    max_pack_size: int,
    heartbeat_timeout_s: float,
    dispatch_timeout_s: float,
    max_attempts: int,
    slots: int | None = None,
) -> TickReport:
    """One scheduling tick: reconcile lost work, then fill free worker slots. Commits."""
    report = TickReport()
    if not _lock(session):
        session.rollback()
        report.skipped = True
        return report
    timeout = timedelta(seconds=heartbeat_timeout_s)
    _reconcile(session, report, timeout, timedelta(seconds=dispatch_timeout_s), max_attempts)
    free = (slots if slots is not None else worker_slots(session, queue, timeout)) - busy_packs(session, queue)
    to_send: list[int] = []
    while free > 0:
        head = _pick_next_run(session)
        if head is None:
            break
        pack = _form_pack(session, head, queue, max_pack_size)
        to_send.append(pack.id)
        free -= 1
    session.commit()
    # Sent only after the commit: a message never names a pack the database does not hold.
    for pack_id in to_send + report.redispatched:
        dispatch(pack_id, queue)
    report.dispatched = to_send
    return report


def _reconcile(session: Session, report: TickReport, heartbeat_timeout: timedelta,
               dispatch_timeout: timedelta, max_attempts: int) -> None:
    now = utcnow()
    touched: set[int] = set()
    for pack in session.scalars(select(Pack).where(Pack.state.in_([RunState.QUEUED.value, RunState.RUNNING.value]))):
        runs = list(session.scalars(select(Run).where(Run.pack_id == pack.id)))
        live = [r for r in runs if not RunState(r.state).is_terminal]
        if not live:
            pack.state = RunState.SUCCEEDED.value  # nothing left to do in it
            continue
        if pack.state == RunState.QUEUED.value:
            if now - as_utc(pack.dispatched_at) > dispatch_timeout:
                # The message may be gone (broker restarted); claiming is atomic, so a
                # duplicate delivery is harmless.
                pack.dispatched_at = now
                report.redispatched.append(pack.id)
            continue
        beat = as_utc(pack.heartbeat_at) or as_utc(pack.dispatched_at)
        if now - beat <= heartbeat_timeout:
            continue
        log.warning("pack %s lost its worker %s (last heartbeat %s)", pack.id, pack.worker, beat)
        pack.attempt += 1
        if pack.attempt >= max_attempts:
            pack.state = RunState.LOST.value
            for run in live:
                run.transition(RunState.LOST)
                run.error = (f"lost {pack.attempt} times (worker stopped heartbeating; last: {pack.worker}); "
                             "retry the experiment to try again")
                report.lost_runs.append(run.id)
                touched.add(run.experiment_id)
        else:
            # The same runs stay together so the pack resumes from its checkpoint.
            pack.state = RunState.QUEUED.value
            pack.worker = None
            pack.dispatched_at = now
            for run in live:
                run.transition(RunState.QUEUED)
                run.attempt = pack.attempt
                run.worker = None
                report.requeued_runs.append(run.id)
            report.redispatched.append(pack.id)
    for experiment_id in touched:
        experiment = session.get(Experiment, experiment_id)
        if experiment is not None:
            refresh_experiment_status(session, experiment)


def claim_pack(session: Session, pack_id: int, worker: str) -> list[Run] | None:
    """Atomically take a queued pack for `worker`; None if another worker has it or it is gone.

    The conditional UPDATE is the guarantee that no pack is trained twice at once."""
    claimed = session.execute(
        update(Pack).where(Pack.id == pack_id, Pack.state == RunState.QUEUED.value)
        .values(state=RunState.RUNNING.value, worker=worker, heartbeat_at=utcnow())
    ).rowcount
    if not claimed:
        session.rollback()
        return None
    runs = list(session.scalars(select(Run).where(Run.pack_id == pack_id).order_by(Run.id)))
    now = utcnow()
    for run in runs:
        if run.state == RunState.QUEUED.value:
            run.transition(RunState.RUNNING, now)
            run.worker = worker
            run.heartbeat_at = now
    session.commit()
    return [r for r in runs if r.state == RunState.RUNNING.value]
