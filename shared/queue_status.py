"""The queue as its users see it: what runs where, who waits and why (squeue's reason
column), when each waiting experiment is expected to start, and fair-share standing. Shown by
`GET /v1/queue`, `cortexrnn-client queue` and the dashboard's queue page.

Read-only, from the database alone (the scheduler's source of truth). The standing order
mirrors `worker/scheduler.py::_pick_next_run` (fewest runs in flight, then served longest
ago, then priority, then age), which this layer may not import; the waiting order is an
estimate from that rule, since packs form only when the scheduler dispatches them.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cortexrnn.shared import fair_share, routing
from cortexrnn.shared.fair_share import UserShare
from cortexrnn.shared.models import (
    Experiment,
    Pack,
    Run,
    RunState,
    User,
    WorkerInfo,
    as_utc,
    utcnow,
)
from cortexrnn.shared.routing import QueueCapacity, RunNeeds
from cortexrnn.shared.settings import Settings

PENDING, QUEUED, RUNNING = RunState.PENDING.value, RunState.QUEUED.value, RunState.RUNNING.value
EPOCH = datetime.min.replace(tzinfo=UTC)


@dataclass
class PackRow:
    id: int
    state: str
    queue: str
    heartbeat_at: datetime | None
    runs: int = 0
    progress: float = 0.0  # mean over its live runs, 0..1
    experiments: list[tuple[int, str, str, int]] = field(default_factory=list)  # id, name, owner, n


@dataclass
class WorkerRow:
    name: str
    hostname: str
    device: str
    queues: list[str]
    concurrency: int
    alive: bool
    heartbeat_at: datetime
    memory_mb: float | None = None  # per slot
    packs: list[PackRow] = field(default_factory=list)


@dataclass
class Standing:
    rank: int
    user: str
    pending: int
    queued: int
    running: int
    last_served: datetime | None
    head_priority: int | None

    @property
    def in_flight(self) -> int:
        return self.queued + self.running


@dataclass
class Waiting:
    position: int
    id: int
    name: str
    owner: str
    priority: int
    pending: int
    in_pack: int  # queued in a pack sent to the workers
    identical: int  # waiting for an identical run in flight
    running: int
    runs_ahead: int
    reason: str
    expected_start_s: float | None


@dataclass
class QueueView:
    queue: str
    slots: int
    busy: int
    workers: list[WorkerRow]
    unclaimed: list[PackRow]
    standings: list[Standing]
    waiting: list[Waiting]
    pack_seconds: float | None  # median measured time of one pack, the basis of estimates
    queues: list[QueueCapacity] = field(default_factory=list)  # every queue a live worker serves


def _packs(session: Session) -> dict[int, PackRow]:
    packs = {
        p.id: PackRow(p.id, p.state, p.queue, p.heartbeat_at)
        for p in session.scalars(select(Pack).where(Pack.state.in_([QUEUED, RUNNING])))
    }
    if not packs:
        return packs
    rows = session.execute(
        select(Run.pack_id, Run.experiment_id, func.count(), func.avg(Run.progress))
        .where(Run.pack_id.in_(list(packs)), Run.state.in_([QUEUED, RUNNING]))
        .group_by(Run.pack_id, Run.experiment_id)
    ).all()
    names = _experiment_names(session, {r[1] for r in rows})
    for pack_id, experiment_id, n, progress in rows:
        pack = packs[pack_id]
        pack.progress = (pack.progress * pack.runs + float(progress or 0) * n) / (pack.runs + n)
        pack.runs += n
        pack.experiments.append((experiment_id, *names.get(experiment_id, ("?", "?")), n))
    return packs


def _experiment_names(session: Session, ids: set[int]) -> dict[int, tuple[str, str]]:
    if not ids:
        return {}
    rows = session.execute(
        select(Experiment.id, Experiment.name, User.name)
        .join(User, User.id == Experiment.owner_id)
        .where(Experiment.id.in_(ids))
    )
    return {i: (name or f"experiment {i}", owner) for i, name, owner in rows}


def _standings(session: Session) -> list[Standing]:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    ids: dict[str, int] = {}
    for user_id, name, state, n in session.execute(
        select(User.id, User.name, Run.state, func.count())
        .join(User, User.id == Run.owner_id)
        .where(Run.state.in_([PENDING, QUEUED, RUNNING]))
        .group_by(User.id, User.name, Run.state)
    ):
        counts[name][state] += n
        ids[name] = user_id
    rows = []
    for name, c in counts.items():
        served = session.scalar(select(func.max(Run.queued_at)).where(Run.owner_id == ids[name]))
        head = session.execute(
            select(Run.priority, Run.created_at)
            .where(Run.owner_id == ids[name], Run.state == PENDING)
            .order_by(Run.priority.desc(), Run.created_at, Run.id)
            .limit(1)
        ).first()
        rows.append(
            (
                Standing(0, name, c[PENDING], c[QUEUED], c[RUNNING], as_utc(served), None),
                head,
            )
        )
    # Users with nothing pending are not competing for the next pick: they rank last.
    rows.sort(
        key=lambda sh: (
            sh[1] is None,
            sh[0].in_flight,
            sh[0].last_served or EPOCH,
            -(sh[1].priority if sh[1] else 0),
            as_utc(sh[1].created_at) if sh[1] else EPOCH,
        )
    )
    out = []
    for rank, (standing, head) in enumerate(rows, 1):
        standing.rank = rank
        standing.head_priority = head.priority if head else None
        out.append(standing)
    return out


def _pack_seconds(session: Session) -> float | None:
    """Median duration of recent packs: runs of one pack share start and finish times."""
    rows = session.execute(
        select(Run.started_at, Run.finished_at)
        .where(
            Run.state == RunState.SUCCEEDED.value,
            Run.started_at.is_not(None),
            Run.cached_from_id.is_(None),
        )
        .order_by(Run.finished_at.desc())
        .limit(200)
    ).all()
    spans = {(s, f) for s, f in rows if s is not None and f is not None}
    seconds = [(as_utc(f) - as_utc(s)).total_seconds() for s, f in spans]
    return statistics.median(seconds) if seconds else None


def build_queue(session: Session, settings: Settings) -> QueueView:
    now = utcnow()
    timeout = timedelta(seconds=settings.heartbeat_timeout_s)
    queue = settings.default_queue
    packs = _packs(session)
    workers = []
    for w in session.scalars(select(WorkerInfo).order_by(WorkerInfo.name)):
        alive = now - as_utc(w.heartbeat_at) < timeout
        workers.append(
            WorkerRow(
                w.name, w.hostname, w.device, list(w.queues or []), w.concurrency, alive,
                w.heartbeat_at, w.memory_mb,
            )
        )  # fmt: skip
    by_worker = {w.name: w for w in workers}
    for pack_id, worker in session.execute(
        select(Pack.id, Pack.worker).where(Pack.id.in_(list(packs)), Pack.state == RUNNING)
    ):
        if worker in by_worker:
            by_worker[worker].packs.append(packs[pack_id])
    unclaimed = [p for p in packs.values() if p.state == QUEUED]
    caps = routing.live_capacities(session, timeout)
    default = caps.get(queue, QueueCapacity(queue))
    standings = _standings(session)
    pack_seconds = _pack_seconds(session)
    blocked = _blocked(session, standings, now)
    waiting = _waiting(session, standings, caps, settings.max_pack_size, pack_seconds, blocked)
    return QueueView(
        queue, default.slots, default.busy, workers, unclaimed, standings, waiting, pack_seconds,
        sorted(caps.values(), key=lambda c: c.name),
    )  # fmt: skip


def _blocked(session: Session, standings: list[Standing], now: datetime) -> dict[str, str]:
    """Users at a limit an admin set, and which (shared/fair_share.py)."""
    in_flight = {s.user: s.in_flight for s in standings}
    out = {}
    for name, share in session.execute(
        select(User.name, UserShare)
        .join(UserShare, UserShare.user_id == User.id)
        .where(User.name.in_(list(in_flight)))
    ):
        why = fair_share.standing(share, now, fair_share.half_life_h()).blocked(in_flight[name])
        if why:
            out[name] = why
    return out


def _needs(session: Session, ids: list[int]) -> dict[int, RunNeeds]:
    """What each experiment's pending runs need (its costliest condition's memory)."""
    out: dict[int, RunNeeds] = {}
    for i, queue, kind, min_mb, mem, net in session.execute(
        select(
            Run.experiment_id, Run.queue, Run.device_kind, Run.min_memory_mb,
            func.max(Run.memory_mb), func.max(Run.network_mb),
        )
        .where(Run.experiment_id.in_(ids), Run.state == PENDING)
        .group_by(Run.experiment_id, Run.queue, Run.device_kind, Run.min_memory_mb)
    ):  # fmt: skip
        out[i] = RunNeeds(queue, kind, min_mb, mem, net)
    return out


def _waiting(
    session: Session,
    standings: list[Standing],
    caps: dict[str, QueueCapacity],
    max_pack_size: int,
    pack_seconds: float | None,
    blocked: dict[str, str],
) -> list[Waiting]:
    tallies: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for experiment_id, state, packed, n in session.execute(
        select(Run.experiment_id, Run.state, Run.pack_id.is_not(None), func.count())
        .where(Run.state.in_([PENDING, QUEUED, RUNNING]))
        .group_by(Run.experiment_id, Run.state, Run.pack_id.is_not(None))
    ):
        key = "in_pack" if state == QUEUED and packed else "identical" if state == QUEUED else state
        tallies[experiment_id][key] += n
    waiting_ids = [i for i, t in tallies.items() if t[PENDING] or t["in_pack"] or t["identical"]]
    if not waiting_ids:
        return []
    rows = session.execute(
        select(
            Experiment.id, Experiment.name, Experiment.priority, Experiment.created_at, User.name
        )
        .join(User, User.id == Experiment.owner_id)
        .where(Experiment.id.in_(waiting_ids))
    ).all()
    rank = {s.user: s.rank for s in standings}
    per_user: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
    for i, name, priority, _created, owner in sorted(
        rows, key=lambda r: (-r.priority, as_utc(r.created_at), r.id)
    ):
        per_user[owner].append((i, name or f"experiment {i}", priority))
    # The scheduler serves the user with fewest runs in flight at each pick, which over a
    # backlog amounts to taking turns: interleave users in standing order.
    order: list[tuple[int, str, str, int]] = []
    owners = sorted(per_user, key=lambda u: rank.get(u, math.inf))
    while any(per_user[u] for u in owners):
        for owner in owners:
            if per_user[owner]:
                i, name, priority = per_user[owner].pop(0)
                order.append((i, name, owner, priority))
    needs = _needs(session, waiting_ids)
    out, ahead = [], 0
    for position, (i, name, owner, priority) in enumerate(order, 1):
        t = tallies[i]
        need = needs.get(i)
        fit = [c for c in caps.values() if need is None or routing.can_hold(need, c)]
        slots, free = sum(c.slots for c in fit), sum(c.free for c in fit)
        reason = _reason(t, slots, free, ahead)
        unroutable = routing.why_unroutable(need, caps) if need is not None else None
        if t[PENDING] and owner in blocked:
            reason = f"user limit: {owner} has {blocked[owner]}"
        elif t[PENDING] and unroutable:
            reason = unroutable
        expected = None
        if pack_seconds is not None and slots and t[PENDING] and owner not in blocked:
            # Whole packs ahead, each taking a slot for about one measured pack duration;
            # progress of the packs now running is ignored, so this errs late.
            packs_ahead = math.ceil(ahead / max_pack_size)
            expected = math.ceil(max(packs_ahead + 1 - free, 0) / slots) * pack_seconds
        out.append(
            Waiting(
                position, i, name, owner, priority, t[PENDING], t["in_pack"], t["identical"],
                t[RUNNING], ahead, reason, expected,
            )
        )  # fmt: skip
        if owner not in blocked:  # a blocked user's runs do not hold up anyone else's
            ahead += t[PENDING]
    return out


def _reason(t: dict[str, int], slots: int, free: int, ahead: int) -> str:
    if (t[PENDING] or t["in_pack"]) and slots == 0:
        return "no live worker serves its queue; start one with `cortexrnn worker`"
    if t[PENDING]:
        if free:
            return f"the scheduler sends it at its next tick ({free} free worker slots)"
        return f"all {slots} worker slots are busy; {ahead} runs wait ahead of it (fair share)"
    if t["in_pack"]:
        return "sent to the workers in a pack; waiting for a worker to claim it"
    return "waits for identical runs already in flight; it takes their results"
