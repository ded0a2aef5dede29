"""The scheduler decides who runs next; the reconciler notices lost work.

Both read and write only the database, so that a lost broker message, a restarted Redis or a
worker killed with -9 costs nothing that was accepted: the rows say what must still happen.
`dispatch` is a callable that sends a pack id to the broker (Celery in production, a list in
tests). Only one scheduler acts at a time: on Postgres an advisory transaction lock, on
SQLite the database write lock taken at the start of the tick.

What these decisions do to run and pack states is in shared/lifecycle.py; claiming a pack
(`lifecycle.claim_pack`) is the worker's side.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, func, select, text
from sqlalchemy.orm import Session

from cortexrnn.shared import fair_share, lifecycle, routing
from cortexrnn.shared.fair_share import UserShare
from cortexrnn.shared.models import Pack, Run, RunState, User, as_utc, utcnow
from cortexrnn.shared.routing import QueueCapacity

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
        return bool(
            session.execute(
                text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SCHEDULER_LOCK_KEY}
            ).scalar()
        )
    # SQLite: BEGIN IMMEDIATE semantics; a harmless write takes the database lock now.
    session.execute(text("UPDATE packs SET id = id WHERE 0"))
    return True


@dataclass
class Pick:
    """The next run to send, and how many more runs each user with a limit may start now
    (absent: no limit; 0: blocked), so that pack mates respect the limits too."""

    head: Run
    allowance: dict[int, int | None]


def _pick_next_run(session: Session, where: list[ColumnElement[bool]]) -> Pick | None:
    """Fair share: among users not at a limit an admin set, the user with the fewest runs in
    flight goes first; among equals, the one with the least recent usage (worker time, decayed
    as Slurm's fair share does: shared/fair_share.py), then the one served longest ago; then
    priority, then age.

    A tick must cost the same with 2,000 or 100,000 runs waiting (benchmarks/scheduler.py):
    each user's head run (their first in priority, age order), runs in flight and last dispatch
    are one index lookup each (migration 0003), so a pick reads a few rows per user and never
    the backlog. `where` keeps the runs the queue being filled can take (shared/routing.py)."""
    head = (
        select(Run.id)
        .where(Run.owner_id == User.id, Run.state == RunState.PENDING.value, *where)
        .order_by(Run.priority.desc(), Run.created_at, Run.id)
        .limit(1)
        .correlate(User)
        .scalar_subquery()
    )
    in_flight = (
        select(func.count())
        .select_from(Run)
        .where(Run.owner_id == User.id, Run.state.in_(lifecycle.IN_FLIGHT))
        .correlate(User)
        .scalar_subquery()
    )
    served = (
        select(func.max(Run.queued_at))
        .where(Run.owner_id == User.id)
        .correlate(User)
        .scalar_subquery()
    )
    per_user = (
        select(
            User.id.label("user_id"),
            head.label("head"),
            in_flight.label("in_flight"),
            served.label("served"),
        )
        .select_from(User)
        .subquery()
    )
    users = session.execute(select(per_user).where(per_user.c.head.is_not(None))).all()
    if not users:
        return None
    now = utcnow()
    shares = {
        s.user_id: s
        for s in session.scalars(
            select(UserShare).where(UserShare.user_id.in_([u.user_id for u in users]))
        )
    }
    standings = {
        u.user_id: fair_share.standing(shares.get(u.user_id), now, fair_share.half_life_h())
        for u in users
    }
    allowance: dict[int, int | None] = {}
    for u in users:
        st = standings[u.user_id]
        if st.blocked(u.in_flight):
            allowance[u.user_id] = 0
        elif st.max_runs_in_flight is not None:
            allowance[u.user_id] = st.max_runs_in_flight - u.in_flight
    eligible = [u for u in users if allowance.get(u.user_id) != 0]
    if not eligible:
        return None
    heads = {
        r.id: r for r in session.scalars(select(Run).where(Run.id.in_([u.head for u in eligible])))
    }
    epoch = datetime.min.replace(tzinfo=UTC)
    first = min(
        eligible,
        key=lambda u: (
            u.in_flight,
            round(standings[u.user_id].usage_seconds, 3),
            as_utc(u.served) or epoch,
            -heads[u.head].priority,
            as_utc(heads[u.head].created_at),
            u.head,
        ),
    )
    return Pick(heads[first.head], allowance)


def _pending_mates(
    session: Session, head: Run, *where: ColumnElement[bool], limit: int
) -> list[Run]:
    return list(
        session.scalars(
            select(Run)
            .where(
                Run.pack_key == head.pack_key,
                Run.state == RunState.PENDING.value,
                Run.pack_id.is_(None),
                *where,
            )
            .order_by(Run.priority.desc(), Run.created_at, Run.id)
            .limit(limit)
        )
    )


def _within_limits(mates: list[Run], allowance: dict[int, int | None]) -> list[Run]:
    """The mates whose owners may start them: a user's runs beyond their allowance wait."""
    left = dict(allowance)
    kept = []
    for run in mates:
        n = left.get(run.owner_id)
        if n is None:
            kept.append(run)
        elif n > 0:
            left[run.owner_id] = n - 1
            kept.append(run)
    return kept


def _form_pack(
    session: Session,
    pick: Pick,
    cap: QueueCapacity,
    where: list[ColumnElement[bool]],
    max_pack_size: int,
) -> Pack:
    """The head run and the pending runs that can train with it: the same pack key, from any
    experiment (its own first, then by priority and age), so that small experiments fill a
    pack where one network alone leaves the device idle (GPUs; small N on CPU, see
    benchmarks/pack_size.py). max_pack_size is the operator's bound for the device; the
    queue's memory per slot bounds it further (shared/routing.py).

    A retried run still belongs to its earlier pack: that pack goes out again with its
    pending runs, so that a whole retried pack resumes from its checkpoint."""
    head = pick.head
    if head.pack_id is not None:
        # Packs are never deleted (a run's pack_id is only cleared), so the row exists.
        return lifecycle.send_pack_again(session, session.get_one(Pack, head.pack_id), cap.name)
    size = routing.pack_size([head], cap, max_pack_size)
    # Two queries rather than one ordered by "own experiment first": each walks an index in
    # its order and stops after the pack is full, where the single query sorted every pending
    # run of the pack key.
    mates = _pending_mates(
        session, head, Run.experiment_id == head.experiment_id, *where, limit=size
    )
    if len(mates) < size:
        mates += _pending_mates(
            session, head, Run.experiment_id != head.experiment_id, *where, limit=size - len(mates)
        )
    mates = _within_limits(mates, pick.allowance)
    # Mates of another condition may need more memory than the head (a grid, say).
    while len(mates) > 1 and len(mates) > routing.pack_size(mates, cap, max_pack_size):
        mates.pop()
    return lifecycle.open_pack(session, head.pack_key, mates, cap.name)


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
    if slots is not None:  # a fixed number of slots on `queue` (tests, benchmarks)
        busy = routing.busy_packs(session, [queue]).get(queue, 0)
        caps = {queue: QueueCapacity(queue, slots=slots, busy=busy)}
    else:
        caps = routing.live_capacities(session, timeout)
    to_send: list[tuple[int, str]] = []
    # Queues in turn, one pack each per round, so that a busy queue does not starve the others.
    open_queues = [c for c in sorted(caps.values(), key=lambda c: c.name) if c.free > 0]
    while open_queues:
        for cap in list(open_queues):
            where = routing.eligible(cap)
            pick = _pick_next_run(session, where)
            if pick is None:
                open_queues.remove(cap)
                continue
            pack = _form_pack(session, pick, cap, where, max_pack_size)
            to_send.append((pack.id, cap.name))
            cap.busy += 1
            if cap.free <= 0:
                open_queues.remove(cap)
    session.commit()
    # Sent only after the commit: a message never names a pack the database does not hold.
    queues = dict(to_send)
    for pack_id in report.redispatched:
        queues[pack_id] = session.get_one(Pack, pack_id).queue
    for pack_id, q in queues.items():
        dispatch(pack_id, q)
    report.dispatched = [pack_id for pack_id, _ in to_send]
    return report


def release_dead_worker(session: Session, worker: str, max_attempts: int) -> list[tuple[int, str]]:
    """The packs a worker held when its supervisor (`cortexrnn serve`) saw its process end:
    requeued now, as `_reconcile` does once their heartbeat is older than the timeout, so that
    no run stays "running" for that long without a live owner. (pack id, queue) of each pack
    to send again once the caller commits. The replacement runs under another name, so the
    dead worker's name can never match a live holder again."""
    now = utcnow()
    out: list[tuple[int, str]] = []
    held = session.scalars(
        select(Pack.id).where(Pack.worker == worker, Pack.state == RunState.RUNNING.value)
    ).all()
    for pack_id in held:
        pack = session.get(Pack, pack_id, with_for_update=True)
        if pack is None or pack.worker != worker or pack.state != RunState.RUNNING.value:
            continue
        runs = session.scalars(select(Run).where(Run.pack_id == pack.id))
        live = [r for r in runs if not RunState(r.state).is_terminal]
        log.warning("pack %s: its worker %s died; requeueing it now", pack.id, worker)
        if lifecycle.requeue_or_lose(pack, live, max_attempts, now):
            out.append((pack.id, pack.queue))
    return out


def _reconcile(
    session: Session,
    report: TickReport,
    heartbeat_timeout: timedelta,
    dispatch_timeout: timedelta,
    max_attempts: int,
) -> None:
    now = utcnow()
    touched: set[int] = set()
    for pack in session.scalars(
        select(Pack).where(Pack.state.in_([RunState.QUEUED.value, RunState.RUNNING.value]))
    ):
        runs = list(session.scalars(select(Run).where(Run.pack_id == pack.id)))
        live = [r for r in runs if not RunState(r.state).is_terminal]
        if not live:
            lifecycle.close_pack(pack)  # nothing left to do in it
            continue
        # Every pack is dispatched when it is opened or sent again (shared/lifecycle.py); a row
        # without the timestamp counts from its creation.
        dispatched = as_utc(pack.dispatched_at or pack.created_at)
        if pack.state == RunState.QUEUED.value:
            if now - dispatched > dispatch_timeout:
                # The message may be gone (broker restarted); claiming is atomic, so a
                # duplicate delivery is harmless.
                pack.dispatched_at = now
                report.redispatched.append(pack.id)
            continue
        beat = as_utc(pack.heartbeat_at) or dispatched
        if now - beat <= heartbeat_timeout:
            continue
        log.warning("pack %s lost its worker %s (last heartbeat %s)", pack.id, pack.worker, beat)
        if lifecycle.requeue_or_lose(pack, live, max_attempts, now):
            report.requeued_runs.extend(r.id for r in live)
            report.redispatched.append(pack.id)
        else:
            report.lost_runs.extend(r.id for r in live)
            touched.update(r.experiment_id for r in live)
    lifecycle.refresh_experiments(session, touched)
