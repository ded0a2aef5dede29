"""The routing's values by hand: what the live workers of each queue add up to, how a queue
describes itself, and the exact sentence that tells a user why a run waits and which worker
would take it (shared/routing.py)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from cortexrnn.shared.db import get_sessionmaker
from cortexrnn.shared.models import WorkerInfo, utcnow
from cortexrnn.shared.routing import QueueCapacity, RunNeeds, live_capacities, why_unroutable

GB = 1024.0
CPU8 = QueueCapacity("cpu", slots=2, kinds={"cpu"}, memory_mb=8 * GB)


def _needs(queue=None, kind=None, min_mb=None, mb=None) -> RunNeeds:
    return RunNeeds(queue, kind, min_mb, mb, None)


def _worker(s: Session, name: str, device: str, queues: list[str], slots: int, mb, age_s=0.0):
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


def test_a_queue_describes_its_slots_kinds_and_memory() -> None:
    assert CPU8.describe() == "'cpu' (2 slots, cpu, 8 GB per slot)"
    mixed = QueueCapacity("any", slots=3, kinds={"cuda", "cpu"}, memory_mb=40 * GB)
    assert mixed.describe() == "'any' (3 slots, cpu/cuda, 40 GB per slot)"
    unknown = QueueCapacity("gpu", slots=1, kinds={"cuda"}, memory_mb=None)
    assert unknown.describe() == "'gpu' (1 slots, cuda)"
    assert QueueCapacity("new").describe() == "'new' (0 slots, ?)"


def test_why_a_run_waits_names_what_is_missing_and_the_worker_to_start() -> None:
    caps = {"cpu": CPU8}
    assert why_unroutable(_needs(mb=2 * GB), caps) is None
    assert why_unroutable(_needs(kind="cuda", min_mb=20 * GB, mb=GB), caps) == (
        "no live worker can hold it: it needs a cuda device and 20 GB per slot; "
        "live queues: 'cpu' (2 slots, cpu, 8 GB per slot); "
        "start one with `cortexrnn worker --device cuda`"
    )
    # No memory asked for and none estimated: the sentence does not invent any.
    assert why_unroutable(_needs(kind="cuda"), caps) == (
        "no live worker can hold it: it needs a cuda device; "
        "live queues: 'cpu' (2 slots, cpu, 8 GB per slot); "
        "start one with `cortexrnn worker --device cuda`"
    )
    # The estimate alone (no min_memory_gb) is what is too big.
    assert why_unroutable(_needs(queue="cpu", mb=30 * GB), caps) == (
        "no live worker can hold it: it needs queue 'cpu' and 30 GB per slot; "
        "live queues: 'cpu' (2 slots, cpu, 8 GB per slot); "
        "start one with `cortexrnn worker --queues cpu`"
    )
    two = {"cpu": CPU8, "gpu": QueueCapacity("gpu", slots=1, kinds={"cuda"}, memory_mb=16 * GB)}
    assert why_unroutable(_needs(kind="cuda", min_mb=20 * GB), two) == (
        "no live worker can hold it: it needs a cuda device and 20 GB per slot; "
        "live queues: 'cpu' (2 slots, cpu, 8 GB per slot), 'gpu' (1 slots, cuda, 16 GB per slot); "
        "start one with `cortexrnn worker --device cuda`"
    )
    assert why_unroutable(_needs(queue="big", kind="cuda"), caps) == (
        "no live worker serves queue 'big'; start one with `cortexrnn worker --queues big "
        "--device cuda`"
    )
    assert why_unroutable(_needs(), {}) == "no worker is live; start one with `cortexrnn worker`"


def test_live_capacities_add_slots_and_keep_the_smallest_slot(db_url: str) -> None:
    with get_sessionmaker(db_url)() as s:
        _worker(s, "a", "cuda:0", ["gpu"], 2, 30 * GB)
        _worker(s, "b", "cuda:1", ["gpu", "any"], 1, 10 * GB)
        _worker(s, "c", "cpu", ["any"], 4, 20 * GB)
        _worker(s, "d", "cpu", ["cpu"], 2, None)  # memory not reported
        _worker(s, "e", "cpu", ["cpu"], 1, 50 * GB)
        _worker(s, "old", "cuda:0", ["gpu", "stale"], 8, 1 * GB, age_s=120)  # not live
        caps = live_capacities(s, timedelta(seconds=60))
    assert sorted(caps) == ["any", "cpu", "gpu"]
    gpu, any_, cpu = caps["gpu"], caps["any"], caps["cpu"]
    assert (gpu.slots, gpu.kinds, gpu.slot_memory_mb) == (3, {"cuda"}, 10 * GB)
    assert (any_.slots, any_.kinds, any_.slot_memory_mb) == (5, {"cuda", "cpu"}, 10 * GB)
    # One worker that did not say: no memory bound is known for the queue.
    assert (cpu.slots, cpu.memory_known, cpu.slot_memory_mb) == (3, False, None)
