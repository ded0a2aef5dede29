"""The scheduler with several slots and users whose runs are in flight, on a real database
(SQLite, and Postgres where reachable), and claims and ticks from several OS processes at once
on Postgres.

tests/service/test_scheduler.py fills one slot at a time, so no user ever has runs in flight
when a choice is made; fair share there cannot tell "fewest runs in flight" from "served
longest ago". Here users keep packs running while others finish theirs.
"""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session, sessionmaker

from cortexrnn.shared.db import get_sessionmaker
from cortexrnn.shared.lifecycle import claim_pack
from cortexrnn.shared.migrate import upgrade
from cortexrnn.shared.models import Experiment, Pack, Run, RunState, User, WorkerInfo, utcnow
from cortexrnn.worker.scheduler import SCHEDULER_LOCK_KEY, schedule_once
from tests.queue_rows import add_users, submit_runs

SETTINGS: dict[str, Any] = dict(
    queue="cpu", max_pack_size=8, heartbeat_timeout_s=60, dispatch_timeout_s=300, max_attempts=3
)
IN_FLIGHT = (RunState.QUEUED.value, RunState.RUNNING.value)


def _tick(s: Session, slots: int) -> list[int]:
    return schedule_once(s, lambda pid, q: None, slots=slots, **SETTINGS).dispatched


def _owner(s: Session, pack_id: int) -> str:
    return (
        s.scalars(
            select(User.name).join(Run, Run.owner_id == User.id).where(Run.pack_id == pack_id)
        ).first()
        or ""
    )


def _packs_in_flight(s: Session) -> list[tuple[int, str]]:
    """(pack, owner) of each queued or running pack."""
    packs = list(s.scalars(select(Pack.id).where(Pack.state.in_(IN_FLIGHT))))
    return [(p, _owner(s, p)) for p in packs]


def _in_flight_per_user(s: Session) -> Counter[str]:
    return Counter(who for _, who in _packs_in_flight(s))


def _finish(s: Session, pack_id: int) -> None:
    for run in claim_pack(s, pack_id, "w") or []:
        run.transition(RunState.SUCCEEDED)
    s.get_one(Pack, pack_id).state = RunState.SUCCEEDED.value
    s.commit()


def test_a_user_whose_packs_finish_fast_keeps_their_share_while_anothers_run_long(
    db_url: str,
) -> None:
    """Three slots; anna's packs train for hours, ben's finish between ticks. Each slot ben
    frees goes back to him (he has fewer runs in flight than anna's two packs), never to anna,
    even when she was served longer ago than he was."""
    with get_sessionmaker(db_url)() as s:
        anna, ben = add_users(s, "anna", "ben")
        t0 = utcnow()
        submit_runs(s, anna, 80, "annas-task", when=t0)
        submit_runs(s, ben, 80, "bens-task", when=t0 + timedelta(seconds=1))
        first = _tick(s, slots=3)
        assert [_owner(s, p) for p in first] == ["anna", "ben", "anna"]
        for p in first:
            if _owner(s, p) == "anna":
                assert claim_pack(s, p, "long-worker")  # training: her runs are running
        for _ in range(4):
            (bens,) = [p for p, who in _packs_in_flight(s) if who == "ben"]
            _finish(s, bens)
            assert [_owner(s, p) for p in _tick(s, slots=3)] == ["ben"]
            assert _in_flight_per_user(s) == Counter(anna=2, ben=1)


def test_free_slots_go_to_users_with_fewer_runs_in_flight_before_those_served_longer_ago(
    db_url: str,
) -> None:
    """carl has two packs training since this morning; dora's pack has just finished; eve has
    never been served. Two slots are free: eve and dora get them, carl waits, although he was
    served longer ago than dora."""
    with get_sessionmaker(db_url)() as s:
        carl, dora, eve = add_users(s, "carl", "dora", "eve")
        morning = utcnow() - timedelta(hours=6)
        submit_runs(s, carl, 40, "carls-task", when=morning)
        (c1, c2) = _tick(s, slots=2)
        for p in (c1, c2):
            assert claim_pack(s, p, "w")
        for run in s.scalars(select(Run).where(Run.pack_id.in_([c1, c2]))):
            run.queued_at = morning  # served this morning, still training
        submit_runs(s, dora, 16, "doras-task", when=morning + timedelta(minutes=1))
        (d1,) = _tick(s, slots=3)
        _finish(s, d1)
        submit_runs(s, eve, 16, "eves-task", when=utcnow())
        sent = _tick(s, slots=4)
        assert [_owner(s, p) for p in sent] == ["eve", "dora"]
        assert _in_flight_per_user(s) == Counter(carl=2, eve=1, dora=1)


def test_priority_orders_a_users_own_queue_and_users_otherwise_equal(db_url: str) -> None:
    """Fair share comes first; priority then decides, before age: anna's urgent experiment,
    submitted after her routine one, goes first; between ben and carl, never served and with
    nothing in flight, carl's urgent one goes before ben's older routine one."""
    with get_sessionmaker(db_url)() as s:
        anna, ben, carl = add_users(s, "anna", "ben", "carl")
        t0 = utcnow() - timedelta(minutes=10)
        submit_runs(s, anna, 8, "annas-routine", when=t0)
        submit_runs(s, anna, 8, "annas-urgent", when=t0 + timedelta(seconds=1), priority=5)
        assert [s.get_one(Pack, p).pack_key for p in _tick(s, slots=2)] == [
            "annas-urgent",
            "annas-routine",
        ]
        submit_runs(s, ben, 8, "bens-routine", when=t0 + timedelta(seconds=2))
        submit_runs(s, carl, 8, "carls-urgent", when=t0 + timedelta(seconds=3), priority=5)
        assert [_owner(s, p) for p in _tick(s, slots=3)] == ["carl"]
        assert [_owner(s, p) for p in _tick(s, slots=4)] == ["ben"]


def test_the_slots_are_those_of_live_workers_serving_the_queue(db_url: str) -> None:
    """No slot count given: each queue has the slots of its live workers, less the packs on
    it: GPU 2 + 1 - 1 = 2, CPU 1 + 8 - 1 = 8 (a dead GPU worker does not count). anna's runs
    name the GPU queue and ben's the CPU queue: each goes out only on its own."""
    now = utcnow()
    with get_sessionmaker(db_url)() as s:
        anna, ben = add_users(s, "anna", "ben")
        for name, queues, concurrency, seen in (
            ("gpu-a", ["gpu"], 2, now),
            ("gpu-b", ["cpu", "gpu"], 1, now),
            ("gpu-dead", ["gpu"], 4, now - timedelta(minutes=5)),
            ("cpu-a", ["cpu"], 8, now),
        ):
            s.add(
                WorkerInfo(
                    name=name,
                    hostname="h",
                    device="d",
                    queues=queues,
                    concurrency=concurrency,
                    heartbeat_at=seen,
                )
            )
        s.commit()
        submit_runs(s, anna, 80, "annas-task", queue="gpu")
        submit_runs(s, ben, 80, "bens-task", queue="cpu")
        # One pack training on each queue.
        for queue, owner in (("cpu", "ben"), ("gpu", "anna")):
            (training,) = schedule_once(
                s, lambda pid, q: None, slots=1, **{**SETTINGS, "queue": queue}
            ).dispatched
            assert _owner(s, training) == owner
            assert claim_pack(s, training, f"{queue}-a")
        sent: list[tuple[int, str]] = []
        report = schedule_once(s, lambda pid, q: sent.append((pid, q)), **SETTINGS)
        assert sorted(sent) == sorted((p, s.get_one(Pack, p).queue) for p in report.dispatched)
        by_queue = {q: [p for p, q2 in sent if q2 == q] for q in ("cpu", "gpu")}
        assert len(by_queue["gpu"]) == 2
        assert len(by_queue["cpu"]) == 8
        assert {_owner(s, p) for p in by_queue["gpu"]} == {"anna"}
        assert {_owner(s, p) for p in by_queue["cpu"]} == {"ben"}


def test_a_pack_takes_its_heads_experiment_first_then_the_most_urgent_runs_of_its_key(
    db_url: str,
) -> None:
    """anna's young experiment heads the pack (fair share picked her); the pack fills up with
    carl's urgent runs, then bob's older routine ones, all of the same pack key. A run answered
    from the cache and a retried run that belongs to its earlier pack stay out."""
    with get_sessionmaker(db_url)() as s:
        anna, bob, carl, dan = add_users(s, "anna", "bob", "carl", "dan")
        t0 = utcnow() - timedelta(minutes=10)
        # bob and carl each have a pack training (on other keys), so anna goes first.
        submit_runs(s, bob, 8, "bobs-other-task", when=t0 - timedelta(minutes=2))
        submit_runs(s, carl, 8, "carls-other-task", when=t0 - timedelta(minutes=2))
        assert len(_tick(s, slots=2)) == 2
        older = submit_runs(s, bob, 6, "shared", when=t0)
        urgent = submit_runs(s, carl, 3, "shared", when=t0 + timedelta(seconds=2), priority=5)
        young = submit_runs(s, anna, 2, "shared", when=t0 + timedelta(seconds=5))
        dans = Experiment(
            owner_id=dan.id, spec={}, spec_hash="h", created_at=t0 - timedelta(hours=1)
        )
        earlier_pack = Pack(pack_key="shared", queue="cpu", state=RunState.FAILED.value)
        s.add_all([dans, earlier_pack])
        s.flush()
        common = dict(
            experiment_id=dans.id,
            owner_id=dan.id,
            condition="c",
            task="go_no_go",
            pack_key="shared",
            created_at=t0 - timedelta(hours=1),
        )
        cached = Run(seed=0, run_hash="cached", state=RunState.SUCCEEDED.value, **common)
        retried = Run(
            seed=1,
            run_hash="retried",
            pack_id=earlier_pack.id,
            queued_at=t0 - timedelta(hours=1),
            **common,
        )
        s.add_all([cached, retried])
        s.commit()
        (pack_id,) = _tick(s, slots=3)
        members = list(s.scalars(select(Run).where(Run.pack_id == pack_id).order_by(Run.id)))
        assert sorted(r.experiment_id for r in members) == sorted(
            [young.id] * 2 + [urgent.id] * 3 + [older.id] * 3
        )
        s.refresh(cached)
        s.refresh(retried)
        assert (cached.state, cached.pack_id) == (RunState.SUCCEEDED.value, None)
        assert (retried.state, retried.pack_id) == (RunState.PENDING.value, earlier_pack.id)


def test_one_tick_reconciles_every_pack_in_flight(db_url: str) -> None:
    """Four packs in flight: one training with a fresh heartbeat, one whose runs have all
    ended, one queued whose message is older than the dispatch timeout, one whose worker
    stopped heartbeating. One tick closes the ended pack, sends the queued one again and
    requeues the lost one, leaving the healthy one alone; the next tick sends nothing again,
    because both were sent just now."""
    now = utcnow()
    with get_sessionmaker(db_url)() as s:
        (anna,) = add_users(s, "anna")
        for key in ("healthy", "ended", "unclaimed", "lost"):
            submit_runs(s, anna, 2, key)
        healthy, ended, unclaimed, lost = _tick(s, slots=4)
        for p in (healthy, ended, lost):
            assert claim_pack(s, p, f"worker-{p}")
        for run in s.scalars(select(Run).where(Run.pack_id == ended)):
            run.transition(RunState.SUCCEEDED)
        s.get_one(Pack, unclaimed).dispatched_at = now - timedelta(seconds=301)
        s.get_one(Pack, lost).heartbeat_at = now - timedelta(seconds=61)
        s.commit()
        sent: list[int] = []
        report = schedule_once(s, lambda pid, q: sent.append(pid), slots=4, **SETTINGS)
        assert sorted(sent) == sorted([unclaimed, lost]) and report.dispatched == []
        states = {p: s.get_one(Pack, p).state for p in (healthy, ended, unclaimed, lost)}
        assert states == {
            healthy: "running",
            ended: "succeeded",
            unclaimed: "queued",
            lost: "queued",
        }
        assert report.requeued_runs and {
            r.state for r in s.scalars(select(Run).where(Run.pack_id == lost))
        } == {"queued"}
        again: list[int] = []
        schedule_once(s, lambda pid, q: again.append(pid), slots=4, **SETTINGS)
        assert again == []


@pytest.mark.postgres
def test_a_scheduler_stays_out_while_another_holds_the_lock(postgres_url: str) -> None:
    upgrade(url=postgres_url)
    factory = get_sessionmaker(postgres_url)
    with factory() as s, factory() as other:
        (anna,) = add_users(s, "anna")
        submit_runs(s, anna, 8, "annas-task")
        other.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEDULER_LOCK_KEY})
        report = schedule_once(s, lambda pid, q: None, slots=2, **SETTINGS)
        assert report.skipped and report.dispatched == []
        other.rollback()  # the other tick ends
        again = schedule_once(s, lambda pid, q: None, slots=2, **SETTINGS)
        assert not again.skipped and len(again.dispatched) == 1


# -- a tick reads the queue heads, not the backlog --------------------------------------------


def _backlog(s: Session, runs_per_experiment: int) -> None:
    """Six users with three experiments each, two pack keys shared across users."""
    users = add_users(s, *(f"user{i}" for i in range(6)))
    t0 = utcnow() - timedelta(hours=1)
    for i, user in enumerate(users):
        for e in range(3):
            submit_runs(
                s,
                user,
                runs_per_experiment,
                f"key{(i + e) % 2}",
                when=t0 + timedelta(seconds=i * 3 + e),
            )
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("ANALYZE runs"))  # what autovacuum does after a bulk insert
        s.commit()


def _tick_reads(url: str) -> tuple[int, int | None]:
    """Runs one tick filling four slots; returns the Run rows it loaded into Python and, on
    Postgres, the rows of `runs` the server read for it (None on SQLite)."""
    factory: sessionmaker[Session] = get_sessionmaker(url)
    loaded = 0
    server_rows: list[int] = []

    def count_load(target: Run, context: object) -> None:
        nonlocal loaded
        loaded += 1

    def server_reads(session: Session) -> None:
        # This transaction's reads of `runs` so far: sequential and index fetches.
        server_rows.append(
            session.execute(
                text(
                    "SELECT coalesce(seq_tup_read, 0) + coalesce(idx_tup_fetch, 0) "
                    "FROM pg_stat_xact_user_tables WHERE relname = 'runs'"
                )
            ).scalar_one()
        )

    event.listen(Run, "load", count_load)
    try:
        with factory() as s:
            if s.get_bind().dialect.name == "postgresql":
                event.listen(s, "before_commit", server_reads)
            assert len(_tick(s, slots=4)) == 4
    finally:
        event.remove(Run, "load", count_load)
    return loaded, (server_rows[0] if server_rows else None)


def test_a_tick_reads_as_many_rows_with_ten_times_the_backlog(db_url: str, tmp_path) -> None:
    """The same users and experiments with 30 or 300 pending runs each: a tick filling four
    slots loads the same runs and (on Postgres) reads about as many rows either way."""
    reads = []
    for per_experiment in (30, 300):
        if db_url.startswith("sqlite"):
            url = f"sqlite:///{tmp_path / f'backlog{per_experiment}.db'}"
            upgrade(url=url)
        else:
            url = db_url
            with get_sessionmaker(url)() as s:
                s.execute(text("TRUNCATE runs, experiments, users, packs CASCADE"))
                s.commit()
        with get_sessionmaker(url)() as s:
            _backlog(s, per_experiment)
        reads.append(_tick_reads(url))
    (small_loaded, small_server), (big_loaded, big_server) = reads
    # Four packs of eight and a head per user: a few dozen rows, whatever waits behind them.
    assert small_loaded <= 4 * 8 + 4 * 6
    assert big_loaded == small_loaded
    if small_server is not None and big_server is not None:
        assert big_server <= 2 * small_server, reads


# -- several processes at once (Postgres) ------------------------------------------------------

N_PROCESSES = 4


def _claim_all(url: str, pack_ids: list[int], worker: str, barrier, results) -> None:
    """A worker process: try to claim every pack, starting when all workers are ready."""
    factory = get_sessionmaker(url)
    won: dict[int, list[int]] = {}
    tried = 0
    with factory() as s:
        s.execute(select(1))  # connected before the start, so that the claims overlap
        s.rollback()
        barrier.wait(timeout=60)
        for pack_id in pack_ids:
            runs = claim_pack(s, pack_id, worker)
            tried += 1
            if runs is not None:
                won[pack_id] = [r.id for r in runs]
    results.put((worker, tried, won))


def _tick_at_once(url: str, barrier, results) -> None:
    """A scheduler process: one tick, started when all schedulers are ready."""
    factory = get_sessionmaker(url)
    with factory() as s:
        s.execute(select(1))
        s.rollback()
        barrier.wait(timeout=60)
        report = schedule_once(s, lambda pid, q: None, slots=6, **SETTINGS)
    results.put((report.skipped, report.dispatched))


def _run_processes(target, args: tuple) -> list[Any]:
    ctx = mp.get_context("spawn")  # fresh interpreters: no engine or socket inherited
    barrier, results = ctx.Barrier(N_PROCESSES), ctx.Queue()
    procs = [
        ctx.Process(target=target, args=(*args(i), barrier, results)) for i in range(N_PROCESSES)
    ]
    for p in procs:
        p.start()
    try:
        out = [results.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
    assert [p.exitcode for p in procs] == [0] * N_PROCESSES
    return out


@pytest.mark.postgres
def test_packs_claimed_by_four_processes_at_once_train_once_each(postgres_url: str) -> None:
    upgrade(url=postgres_url)
    with get_sessionmaker(postgres_url)() as s:
        for user in add_users(s, "anna", "ben", "carl"):
            submit_runs(s, user, 24, f"{user.name}-task")
        pack_ids = _tick(s, slots=9)
    assert len(pack_ids) == 9
    # Every process tries every pack, each in its own order, so that they collide throughout.
    out = _run_processes(
        _claim_all,
        lambda i: (postgres_url, pack_ids[i * 2 :] + pack_ids[: i * 2], f"worker-{i}"),
    )
    assert all(tried == len(pack_ids) for _, tried, _ in out)
    claims = Counter(p for _, _, won in out for p in won)
    assert claims == Counter({p: 1 for p in pack_ids}), claims  # each pack once, by one worker
    started = Counter(r for _, _, won in out for runs in won.values() for r in runs)
    assert len(started) == 72 and set(started.values()) == {1}  # each run started once
    holder = {p: w for w, _, won in out for p in won}
    with get_sessionmaker(postgres_url)() as s:
        for pack in s.scalars(select(Pack)):
            assert pack.state == RunState.RUNNING.value and pack.worker == holder[pack.id]
        for run in s.scalars(select(Run)):
            assert run.state == RunState.RUNNING.value and run.worker == holder[run.pack_id]


@pytest.mark.postgres
def test_four_schedulers_ticking_at_once_fill_the_slots_once(postgres_url: str) -> None:
    upgrade(url=postgres_url)
    with get_sessionmaker(postgres_url)() as s:
        for user in add_users(s, "anna", "ben", "carl"):
            submit_runs(s, user, 40, f"{user.name}-task")
    out = _run_processes(_tick_at_once, lambda i: (postgres_url,))
    sent = [p for _, dispatched in out for p in dispatched]
    assert len(sent) == 6 == len(set(sent))  # six free slots, six packs, whoever sent them
    with get_sessionmaker(postgres_url)() as s:
        packs = {p.id: p for p in s.scalars(select(Pack))}
        assert sorted(packs) == sorted(sent)
        sizes = Counter(r.pack_id for r in s.scalars(select(Run).where(Run.pack_id.is_not(None))))
        assert sizes == Counter({p: 8 for p in sent})  # no pack emptied by another's tick
