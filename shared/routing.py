"""Queues and devices: what a run needs, what the live workers of each queue offer, and which
runs a queue can take.

A run needs a queue (the one its spec names, the deployment's default, or any: null), a
device kind (or any) and memory: the device memory its spec asks for, and the cost model's
estimate for one network alone and for each further network of a pack (services/spec/cost.py).
Celery hands a pack to whichever worker of its queue asks first, so a queue can take a run
only if every live worker serving it can hold the run; and a pack is sized for the smallest
of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from cortexrnn.services.spec import ExperimentSpec, RunSpec
from cortexrnn.services.spec.cost import ExperimentCost
from cortexrnn.shared.models import Pack, Run, RunState, WorkerInfo, as_utc, utcnow

MB = 2**20
# The part of a slot's memory a pack is planned to fill: the estimate is within ~10 % of the
# measured peak (tests/spec/test_cost.py), and the allocator and the OS take their share.
PACK_MEMORY_FILL = 0.8


def device_kind(device: str) -> str:
    """`cuda:1` -> `cuda`; `cpu` -> `cpu`."""
    return device.split(":", 1)[0].lower()


@dataclass(frozen=True)
class RunNeeds:
    queue: str | None
    device_kind: str | None
    min_memory_mb: float | None
    memory_mb: float | None  # one network alone (the whole pack process)
    network_mb: float | None  # each further network of its pack

    def columns(self) -> dict[str, object]:
        return {
            "queue": self.queue,
            "device_kind": self.device_kind,
            "min_memory_mb": self.min_memory_mb,
            "memory_mb": self.memory_mb,
            "network_mb": self.network_mb,
        }


def run_needs(
    spec: ExperimentSpec, runs: Iterable[RunSpec], cost: ExperimentCost | None, default_queue: str
) -> list[RunNeeds]:
    """What each of `runs` needs, from its spec's `resources` and (where given) the cost
    model's estimate for its task and condition."""
    res = spec.resources
    queue = res.queue or (None if res.device else default_queue)
    min_mb = res.min_memory_gb * 1024 if res.min_memory_gb is not None else None
    by_variant = {}
    if cost is not None:
        for c in cost.runs:
            by_variant[(c.task, c.condition)] = (
                c.memory.peak / MB,
                (c.memory.pack_peak(2) - c.memory.peak) / MB,
            )
    out = []
    for run in runs:
        memory, network = by_variant.get((run.task_name, run.condition_name), (None, None))
        out.append(RunNeeds(queue, res.device, min_mb, memory, network))
    return out


@dataclass
class QueueCapacity:
    """A queue as its live workers make it: slots, free slots, device kinds and the smallest
    memory per slot (None: a worker that did not say, so no memory bound is known)."""

    name: str
    slots: int = 0
    busy: int = 0
    kinds: set[str] = field(default_factory=set)
    memory_mb: float | None = None
    memory_known: bool = True

    @property
    def free(self) -> int:
        return max(self.slots - self.busy, 0)

    @property
    def slot_memory_mb(self) -> float | None:
        return self.memory_mb if self.memory_known else None

    def describe(self) -> str:
        kinds = "/".join(sorted(self.kinds)) or "?"
        mem = f", {self.slot_memory_mb / 1024:.3g} GB per slot" if self.slot_memory_mb else ""
        return f"'{self.name}' ({self.slots} slots, {kinds}{mem})"


def live_capacities(session: Session, heartbeat_timeout: timedelta) -> dict[str, QueueCapacity]:
    """Each queue served by at least one live worker."""
    now = utcnow()
    caps: dict[str, QueueCapacity] = {}
    for w in session.scalars(select(WorkerInfo)):
        if now - as_utc(w.heartbeat_at) >= heartbeat_timeout:
            continue
        for q in w.queues or []:
            cap = caps.setdefault(q, QueueCapacity(q))
            cap.slots += w.concurrency
            cap.kinds.add(device_kind(w.device))
            if w.memory_mb is None:
                cap.memory_known = False
            else:
                cap.memory_mb = (
                    w.memory_mb if cap.memory_mb is None else min(cap.memory_mb, w.memory_mb)
                )
    for q, n in busy_packs(session, list(caps)).items():
        caps[q].busy = n
    return caps


def busy_packs(session: Session, queues: list[str]) -> dict[str, int]:
    """Packs queued or running on each of `queues` (absent: none)."""
    if not queues:
        return {}
    rows = session.execute(
        select(Pack.queue, func.count())
        .where(
            Pack.queue.in_(queues),
            Pack.state.in_([RunState.QUEUED.value, RunState.RUNNING.value]),
        )
        .group_by(Pack.queue)
    )
    return {q: n for q, n in rows}


def eligible(cap: QueueCapacity) -> list[ColumnElement[bool]]:
    """SQL conditions on Run: the runs this queue can take."""
    where = [or_(Run.queue.is_(None), Run.queue == cap.name)]
    if len(cap.kinds) == 1:
        (kind,) = cap.kinds
        where.append(or_(Run.device_kind.is_(None), Run.device_kind == kind))
    elif cap.kinds:  # workers of several kinds: only runs that do not care
        where.append(Run.device_kind.is_(None))
    memory = cap.slot_memory_mb
    if memory is not None:
        where.append(or_(Run.memory_mb.is_(None), Run.memory_mb <= memory))
        where.append(or_(Run.min_memory_mb.is_(None), Run.min_memory_mb <= memory))
    return where


def can_hold(needs: RunNeeds, cap: QueueCapacity) -> bool:
    """`eligible` in Python, for one run's needs."""
    if needs.queue is not None and needs.queue != cap.name:
        return False
    if needs.device_kind is not None and cap.kinds and cap.kinds != {needs.device_kind}:
        return False
    memory = cap.slot_memory_mb
    if memory is not None:
        for need in (needs.memory_mb, needs.min_memory_mb):
            if need is not None and need > memory:
                return False
    return True


def pack_size(runs: Iterable[Run], cap: QueueCapacity | None, max_pack_size: int) -> int:
    """How many networks like `runs` a slot of `cap` holds: the operator's bound, cut to the
    slot's memory by the costliest run's estimate; at least one (it was eligible alone)."""
    memory = cap.slot_memory_mb if cap is not None else None
    rows = list(runs)
    if memory is None or not rows:
        return max_pack_size
    alone = max((r.memory_mb or 0.0) for r in rows)
    each = max((r.network_mb or 0.0) for r in rows)
    if each <= 0:
        return max_pack_size
    fits = 1 + int((memory * PACK_MEMORY_FILL - alone) // each)
    return max(1, min(max_pack_size, fits))


def why_unroutable(needs: RunNeeds, caps: dict[str, QueueCapacity]) -> str | None:
    """None where some live queue can hold a run with these needs; else what is missing."""
    if any(can_hold(needs, cap) for cap in caps.values()):
        return None
    start = "cortexrnn worker" + (f" --queues {needs.queue}" if needs.queue else "")
    if needs.device_kind == "cuda":
        start += " --device cuda"
    if needs.queue is not None and needs.queue not in caps:
        return f"no live worker serves queue '{needs.queue}'; start one with `{start}`"
    if not caps:
        return f"no worker is live; start one with `{start}`"
    wants = []
    if needs.queue:
        wants.append(f"queue '{needs.queue}'")
    if needs.device_kind:
        wants.append(f"a {needs.device_kind} device")
    biggest = max(needs.min_memory_mb or 0.0, needs.memory_mb or 0.0)
    if biggest:
        wants.append(f"{biggest / 1024:.3g} GB per slot")
    live = ", ".join(cap.describe() for cap in caps.values()) or "none"
    return (
        f"no live worker can hold it: it needs {' and '.join(wants) or 'a worker'}; "
        f"live queues: {live}; start one with `{start}`"
    )
