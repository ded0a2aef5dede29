"""The routing's values by hand: what the live workers of each queue add up to, how a queue
describes itself, and the exact sentence that tells a user why a run waits and which worker
would take it (shared/routing.py)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from cortexrnn.shared.db import get_sessionmaker
from cortexrnn.shared.models import Pack, Run, User, utcnow
from cortexrnn.shared.routing import (
    QueueCapacity,
    RunNeeds,
    can_hold,
    eligible,
    live_capacities,
    pack_size,
    why_unroutable,
)
from cortexrnn.worker.scheduler import schedule_once
from tests.integration.test_routing import GB, SETTINGS, _worker
from tests.queue_rows import submit_runs

CPU8 = QueueCapacity("cpu", slots=2, kinds={"cpu"}, memory_mb=8 * GB)


def _needs(queue=None, kind=None, min_mb=None, mb=None) -> RunNeeds:
    return RunNeeds(queue, kind, min_mb, mb, None)


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
        s.add_all(
            [
                Pack(pack_key="p1", queue="gpu", state="running"),
                Pack(pack_key="p2", queue="gpu", state="queued"),
                Pack(pack_key="p3", queue="gpu", state="succeeded"),  # done: frees its slot
                Pack(pack_key="p4", queue="elsewhere", state="running"),
            ]
        )
        s.commit()
        caps = live_capacities(s, timedelta(seconds=60))
    assert sorted(caps) == ["any", "cpu", "gpu"]
    gpu, any_, cpu = caps["gpu"], caps["any"], caps["cpu"]
    assert (gpu.slots, gpu.kinds, gpu.slot_memory_mb) == (3, {"cuda"}, 10 * GB)
    # Busy slots are the queue's own packs queued or running, no other queue's.
    assert (gpu.busy, gpu.free, any_.busy, cpu.busy) == (2, 1, 0, 0)
    assert (any_.slots, any_.kinds, any_.slot_memory_mb) == (5, {"cuda", "cpu"}, 10 * GB)
    # One worker that did not say: no memory bound is known for the queue.
    assert (cpu.slots, cpu.memory_known, cpu.slot_memory_mb) == (3, False, None)


def _run(memory_mb=None, network_mb=None) -> Run:
    return Run(memory_mb=memory_mb, network_mb=network_mb)


def test_pack_size_by_hand() -> None:
    """Slots planned to 80 % of their memory: 1 + floor((0.8 M - alone) / each)."""
    slot = QueueCapacity("cpu", slots=1, kinds={"cpu"}, memory_mb=1000.0)
    assert pack_size([_run(100.0, 100.0)], slot, 20) == 8  # 1 + floor(700 / 100)
    assert pack_size([_run(None, 100.0)], slot, 20) == 9  # no estimate alone: 1 + 800 / 100
    assert pack_size([_run(100.0, 100.0)], slot, 5) == 5  # the operator's bound
    assert pack_size([_run(700.0, 200.0)], slot, 8) == 1  # only the first fits: 100 < 200
    assert pack_size([_run(799.5, 0.5)], slot, 8) == 2  # half a MiB per further network
    # No per-network estimate, a slot of unknown memory, or no slot: the operator's bound.
    assert pack_size([_run(900.0, None)], slot, 8) == 8
    unknown = QueueCapacity("cpu", slots=1, kinds={"cpu"}, memory_mb=None, memory_known=False)
    assert pack_size([_run(100.0, 100.0)], unknown, 8) == 8
    assert pack_size([_run(100.0, 100.0)], None, 8) == 8
    # The costliest run of the pack decides.
    assert pack_size([_run(100.0, 100.0), _run(300.0, 250.0)], slot, 20) == 3


NEEDS_GRID = [
    dict(),
    dict(queue="cpu"),
    dict(queue="gpu"),
    dict(device_kind="cpu"),
    dict(device_kind="cuda"),
    dict(memory_mb=8 * GB, network_mb=1.0),  # exactly one slot: fits
    dict(memory_mb=8 * GB + 1, network_mb=1.0),
    dict(min_memory_mb=8 * GB),  # exactly one slot: fits
    dict(min_memory_mb=8 * GB + 1),
    dict(queue="cpu", device_kind="cpu", min_memory_mb=4 * GB, memory_mb=GB, network_mb=1.0),
]
CAPS = [
    CPU8,
    QueueCapacity("gpu", slots=1, kinds={"cuda"}, memory_mb=8 * GB),
    QueueCapacity("mixed", slots=2, kinds={"cpu", "cuda"}, memory_mb=8 * GB),
    QueueCapacity("cpu", slots=2, kinds={"cpu"}, memory_mb=None, memory_known=False),
]


def test_the_schedulers_sql_takes_exactly_the_runs_can_hold_accepts(db_url: str) -> None:
    """`eligible` (SQL over pending runs) and `can_hold` (Python, for the queue view) are two
    writings of one rule; on every pair of needs and queue, boundaries included, they agree."""
    with get_sessionmaker(db_url)() as s:
        owner = User(name="anna")
        s.add(owner)
        s.commit()
        ids = {
            submit_runs(s, owner, 1, f"k{i}", **needs).id: needs
            for i, needs in enumerate(NEEDS_GRID)
        }
        for cap in CAPS:
            taken = set(s.scalars(select(Run.experiment_id).where(*eligible(cap))))
            by_hand = {
                eid
                for eid, needs in ids.items()
                if can_hold(
                    RunNeeds(
                        needs.get("queue"),
                        needs.get("device_kind"),
                        needs.get("min_memory_mb"),
                        needs.get("memory_mb"),
                        needs.get("network_mb"),
                    ),
                    cap,
                )
            }
            assert taken == by_hand, cap.describe()
        # And the rule itself, for the CPU queue of 8 GB slots: by hand.
        taken = set(s.scalars(select(Run.experiment_id).where(*eligible(CPU8))))
        expected = [i for i, n in enumerate(NEEDS_GRID) if i not in (2, 4, 6, 8)]
        assert sorted(taken) == sorted(list(ids)[i] for i in expected)


def test_a_pack_takes_only_mates_its_queue_can_hold(db_url: str) -> None:
    """Runs of one pack key that need another queue, or more memory than the slot, stay out
    of the pack, in the head's own experiment and in others; two runs that do not fit in one
    slot together go in packs of one."""
    with get_sessionmaker(db_url)() as s:
        anna, ben = User(name="anna"), User(name="ben")
        s.add_all([anna, ben])
        s.commit()
        _worker(s, "w", "cpu", ["cpu"], 1, 1000.0)
        own = submit_runs(s, anna, 3, "k", memory_mb=100.0, network_mb=100.0)
        # One condition of the head's own experiment needs more than the slot.
        s.scalars(select(Run).where(Run.experiment_id == own.id)).all()[-1].memory_mb = 1200.0
        s.commit()
        submit_runs(s, anna, 3, "k", memory_mb=1200.0, network_mb=100.0)  # more than the slot
        submit_runs(s, ben, 3, "k", queue="gpu")  # another queue
        submit_runs(s, ben, 2, "k", memory_mb=100.0, network_mb=100.0)
        (pack,) = schedule_once(s, lambda p, q: None, **SETTINGS).dispatched
        runs = list(s.scalars(select(Run).where(Run.pack_id == pack)))
        assert len(runs) == 4 and {r.memory_mb for r in runs} == {100.0}
        assert sum(r.experiment_id == own.id for r in runs) == 2
        assert all(r.queue is None for r in runs)

    with get_sessionmaker(db_url)() as s:
        # A cheap head (8 fit a slot) and one costly mate (700 MiB alone): not both in one.
        for pack in s.scalars(select(Pack)):
            pack.state = "succeeded"
        s.commit()
        anna = s.scalars(select(User).where(User.name == "anna")).one()
        submit_runs(s, anna, 1, "cut", memory_mb=100.0, network_mb=100.0, when=utcnow())
        submit_runs(s, anna, 1, "cut", memory_mb=700.0, network_mb=700.0, when=utcnow())
        before = set(s.scalars(select(Pack.id)))
        (cut,) = schedule_once(s, lambda p, q: None, **SETTINGS).dispatched
        assert cut not in before
        assert [r.memory_mb for r in s.scalars(select(Run).where(Run.pack_id == cut))] == [100.0]

    with get_sessionmaker(db_url)() as s:
        ben = s.scalars(select(User).where(User.name == "ben")).one()
        for pack in s.scalars(select(Pack)):
            pack.state = "succeeded"
        s.commit()
        # 700 MiB alone and 700 per further network: two never share a 1,000 MiB slot.
        pair = submit_runs(s, ben, 2, "pair", memory_mb=700.0, network_mb=700.0, when=utcnow())
        sent = schedule_once(s, lambda p, q: None, **SETTINGS).dispatched
        assert len(sent) == 1
        members = list(s.scalars(select(Run).where(Run.pack_id == sent[0])))
        assert len(members) == 1 and members[0].experiment_id == pair.id
