"""Queues and devices: runs go only to a queue whose live workers can all hold them, packs are
sized by the slot's memory, and a run nobody can serve says so (shared/routing.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cortexrnn.shared.db import get_sessionmaker
from cortexrnn.shared.models import Pack, Run, RunState, User, WorkerInfo, utcnow
from cortexrnn.shared.queue_status import build_queue
from cortexrnn.shared.routing import QueueCapacity, RunNeeds, can_hold, pack_size
from cortexrnn.shared.settings import Settings
from cortexrnn.worker.scheduler import schedule_once
from tests.queue_rows import submit_runs

SETTINGS: dict[str, Any] = dict(
    queue="cpu", max_pack_size=8, heartbeat_timeout_s=60, dispatch_timeout_s=300, max_attempts=3
)
GB = 1024.0


def _worker(
    s: Session,
    name: str,
    device: str,
    queues: list[str],
    slots: int,
    mb: float | None,
    age_s: float = 0.0,
) -> None:
    """A worker row; `age_s`: seconds since its last heartbeat; `mb`: None, not reported."""
    s.add(
        WorkerInfo(
            name=name,
            hostname="h",
            device=device,
            queues=queues,
            concurrency=slots,
            memory_mb=mb,
            heartbeat_at=utcnow() - timedelta(seconds=age_s),
        )
    )
    s.commit()


def _experiment(s: Session, owner: User, n: int, key: str, **needs: Any) -> int:
    """`n` pending runs of pack key `key` (named so too) with routing columns `needs`."""
    return submit_runs(s, owner, n, key, **needs).id


def _packs_by_queue(s: Session, sent: list[tuple[int, str]]) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    for pack_id, queue in sent:
        assert s.get_one(Pack, pack_id).queue == queue
        keys = list(s.scalars(select(Run.pack_key).where(Run.pack_id == pack_id)))
        out.setdefault(queue, []).append(keys)
    return out


def test_runs_go_only_to_queues_whose_workers_can_hold_them(db_url: str) -> None:
    """A CPU queue (2 slots of 16 GB) and a GPU queue (1 slot of 40 GB): runs asking for CUDA
    go to the GPU queue, runs naming the CPU queue to it, a run of 30 GB only where 30 GB fit,
    and a run asking 60 GB nowhere: it stays pending and the queue view says why."""
    with get_sessionmaker(db_url)() as s:
        anna = User(name="anna")
        s.add(anna)
        s.commit()
        _worker(s, "cpu-1", "cpu", ["cpu"], 2, 16 * GB)
        _worker(s, "gpu-1", "cuda:0", ["gpu"], 1, 40 * GB)
        _experiment(s, anna, 3, "wants-cuda", device_kind="cuda")
        _experiment(s, anna, 3, "names-cpu", queue="cpu")
        _experiment(s, anna, 3, "big", memory_mb=30 * GB, network_mb=1.0)
        huge = _experiment(s, anna, 3, "huge", min_memory_mb=60 * GB)
        sent: list[tuple[int, str]] = []
        schedule_once(s, lambda p, q: sent.append((p, q)), **SETTINGS)
        by_queue = _packs_by_queue(s, sent)
        # One GPU slot, so one of the two runs that fit there went; two CPU slots.
        assert len(by_queue["gpu"]) == 1 and set(by_queue["gpu"][0]) <= {"wants-cuda", "big"}
        assert sorted(k for p in by_queue["cpu"] for k in set(p)) == ["names-cpu"]
        # Free the slots: the rest goes where it fits, "huge" nowhere.
        for p in s.scalars(select(Pack)):
            p.state = RunState.SUCCEEDED.value
        for r in s.scalars(select(Run).where(Run.state == RunState.QUEUED.value)):
            r.transition(RunState.RUNNING)
            r.transition(RunState.SUCCEEDED)
        s.commit()
        sent.clear()
        schedule_once(s, lambda p, q: sent.append((p, q)), **SETTINGS)
        assert {k for p in _packs_by_queue(s, sent).get("cpu", []) for k in p} <= {"names-cpu"}
        pending = set(s.scalars(select(Run.pack_key).where(Run.state == RunState.PENDING.value)))
        assert pending == {"huge"}
        view = build_queue(s, Settings(database_url=db_url))
        (waiting,) = [w for w in view.waiting if w.id == huge]
        assert waiting.reason.startswith("no live worker can hold it")
        assert (
            "60 GB per slot" in waiting.reason and "'gpu' (1 slots, cuda, 40 GB" in waiting.reason
        )
        assert waiting.expected_start_s is None
        assert {(q.name, q.slots, tuple(sorted(q.kinds))) for q in view.queues} == {
            ("cpu", 2, ("cpu",)),
            ("gpu", 1, ("cuda",)),
        }


def test_packs_are_sized_by_the_slots_memory(db_url: str) -> None:
    """A slot of 4,096 MiB planned to 80 %: one network alone needs 1,000 MiB and each
    further one 500, so 1 + floor((3,276.8 - 1,000) / 500) = 5 networks per pack."""
    with get_sessionmaker(db_url)() as s:
        anna = User(name="anna")
        s.add(anna)
        s.commit()
        _worker(s, "small", "cpu", ["cpu"], 1, 4096.0)
        _experiment(s, anna, 12, "k", memory_mb=1000.0, network_mb=500.0)
        report = schedule_once(s, lambda p, q: None, **SETTINGS)
        (pack,) = report.dispatched
        assert len(list(s.scalars(select(Run).where(Run.pack_id == pack)))) == 5


def test_a_pack_is_cut_to_its_costliest_mates(db_url: str) -> None:
    """Mates of the head's pack key from another experiment need more memory each (a grid
    condition, say): the pack keeps only as many as the slot holds at their cost."""
    with get_sessionmaker(db_url)() as s:
        anna, ben = User(name="anna"), User(name="ben")
        s.add_all([anna, ben])
        s.commit()
        _worker(s, "w", "cpu", ["cpu"], 1, 10_000.0)
        _experiment(s, anna, 2, "k", memory_mb=1000.0, network_mb=100.0)
        _experiment(s, ben, 6, "k", memory_mb=1000.0, network_mb=2000.0)
        (pack,) = schedule_once(s, lambda p, q: None, **SETTINGS).dispatched
        runs = list(s.scalars(select(Run).where(Run.pack_id == pack)))
        # At 2,000 MiB per further network: 1 + floor((8,000 - 1,000) / 2,000) = 4.
        assert len(runs) == 4
        assert pack_size(runs, QueueCapacity("cpu", memory_mb=10_000.0), 8) == 4


def test_can_hold_by_hand() -> None:
    gpu = QueueCapacity("gpu", slots=1, kinds={"cuda"}, memory_mb=40 * GB)
    mixed = QueueCapacity("any", slots=2, kinds={"cuda", "cpu"}, memory_mb=8 * GB)
    assert can_hold(RunNeeds(None, "cuda", None, None, None), gpu)
    assert not can_hold(RunNeeds(None, "cpu", None, None, None), gpu)
    assert not can_hold(RunNeeds("cpu", None, None, None, None), gpu)
    assert not can_hold(RunNeeds(None, None, 41 * GB, None, None), gpu)
    assert can_hold(RunNeeds(None, None, None, 40 * GB, 1.0), gpu)
    # A queue of several device kinds takes only runs that name none.
    assert not can_hold(RunNeeds(None, "cuda", None, None, None), mixed)
    assert can_hold(RunNeeds(None, None, None, None, None), mixed)
    # A worker that did not say its memory: no memory bound is known.
    unknown = QueueCapacity("gpu", slots=1, kinds={"cuda"}, memory_mb=1.0, memory_known=False)
    assert can_hold(RunNeeds(None, None, 10**9, 10**9, 1.0), unknown)


def test_a_dead_workers_queue_is_not_a_route(db_url: str) -> None:
    with get_sessionmaker(db_url)() as s:
        anna = User(name="anna")
        s.add(anna)
        s.commit()
        _worker(s, "gpu-dead", "cuda:0", ["gpu"], 4, 80 * GB)
        s.get_one(WorkerInfo, 1).heartbeat_at = utcnow() - timedelta(minutes=5)
        s.commit()
        eid = _experiment(s, anna, 2, "k", queue="gpu")
        assert schedule_once(s, lambda p, q: None, **SETTINGS).dispatched == []
        (waiting,) = [w for w in build_queue(s, Settings(database_url=db_url)).waiting]
        assert waiting.id == eid
        assert waiting.reason == (
            "no live worker serves queue 'gpu'; start one with `cortexrnn worker --queues gpu`"
        )
