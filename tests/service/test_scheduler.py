"""Scheduler and reconciler against a real database (SQLite here, Postgres when reachable)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from cortexrnn.shared.db import get_sessionmaker
from cortexrnn.shared.lifecycle import claim_pack
from cortexrnn.shared.migrate import upgrade
from cortexrnn.shared.models import Experiment, Pack, Run, RunState, User, utcnow
from cortexrnn.worker.scheduler import release_dead_worker, schedule_once
from tests.queue_rows import add_users, submit_runs

SETTINGS = dict(
    queue="cpu", max_pack_size=8, heartbeat_timeout_s=60, dispatch_timeout_s=300, max_attempts=3
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def session_factory(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'sched.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade(url=url)
    return get_sessionmaker(url)


def _finish_pack(session, pack_id: int) -> None:
    runs = claim_pack(session, pack_id, "w1")
    assert runs
    for run in runs:
        run.transition(RunState.SUCCEEDED)
    session.get(Pack, pack_id).state = RunState.SUCCEEDED.value
    session.commit()


def test_fair_share_lets_a_small_user_in_before_a_big_users_fifth_pack(session_factory) -> None:
    with session_factory() as s:
        alice, bob = add_users(s, "alice", "bob")
        t0 = utcnow()
        # Different pack keys (e.g. tasks), so that bob's runs cannot ride in alice's packs.
        submit_runs(s, alice, 40, when=t0)
        submit_runs(s, bob, 2, when=t0 + timedelta(seconds=1), pack_key="bobs")
        order: list[str] = []
        sent: list[int] = []
        for _ in range(7):
            report = schedule_once(
                s, lambda pid, q, sent=sent: sent.append(pid), slots=1, **SETTINGS
            )
            if not report.dispatched:
                break
            (pack_id,) = report.dispatched
            owner = s.scalar(
                select(User.name)
                .join(Run, Run.owner_id == User.id)
                .where(Run.pack_id == pack_id)
                .limit(1)
            )
            order.append(owner)
            _finish_pack(s, pack_id)
        assert sent == sorted(sent)
        assert order[:2] == ["alice", "bob"]
        assert order.count("alice") == 5 and order.count("bob") == 1
        assert order.index("bob") < 4  # before alice's fifth pack


def test_only_free_slots_are_filled_and_packs_group_runs(session_factory) -> None:
    with session_factory() as s:
        alice = User(name="alice")
        s.add(alice)
        s.commit()
        submit_runs(s, alice, 20)
        sent: list[int] = []
        report = schedule_once(s, lambda pid, q: sent.append(pid), slots=2, **SETTINGS)
        assert len(report.dispatched) == 2 == len(sent)
        sizes = [len(list(s.scalars(select(Run).where(Run.pack_id == p)))) for p in sent]
        assert sizes == [8, 8]
        # Nothing more while both slots are busy.
        assert schedule_once(s, sent.append, slots=2, **SETTINGS).dispatched == []
        states = {r.state for r in s.scalars(select(Run))}
        assert states == {"queued", "pending"}


def test_a_users_oldest_run_goes_first_whatever_order_the_rows_were_written(
    session_factory,
) -> None:
    """Age is the submission time, not the row id: an experiment stamped an hour earlier (an
    import, a retried run's original time) goes before one written before it."""
    with session_factory() as s:
        alice = User(name="alice")
        s.add(alice)
        s.commit()
        submit_runs(s, alice, 2, pack_key="newer")
        submit_runs(s, alice, 2, pack_key="older", when=utcnow() - timedelta(hours=1))
        (first,) = schedule_once(s, lambda *a: None, slots=1, **SETTINGS).dispatched
        keys = {r.pack_key for r in s.scalars(select(Run).where(Run.pack_id == first))}
        assert keys == {"older"}


def test_a_pack_fills_up_with_other_experiments_runs_of_the_same_pack_key(session_factory) -> None:
    with session_factory() as s:
        alice, bob = add_users(s, "alice", "bob")
        t0 = utcnow()
        small = submit_runs(s, alice, 5, when=t0)
        other = submit_runs(s, bob, 5, when=t0 + timedelta(seconds=1))
        apart = submit_runs(s, bob, 5, when=t0 + timedelta(seconds=2), pack_key="another-task")
        sent: list[int] = []
        schedule_once(s, lambda pid, q: sent.append(pid), slots=3, **SETTINGS)
        members = [
            list(s.scalars(select(Run).where(Run.pack_id == p).order_by(Run.id))) for p in sent
        ]
        # Its own experiment's runs first, then the other experiment's, up to the pack size.
        assert [[r.experiment_id for r in m] for m in members] == [
            [small.id] * 5 + [other.id] * 3,
            [other.id] * 2,
            [apart.id] * 5,
        ]
        assert all(len({r.pack_key for r in m}) == 1 for m in members)


def test_a_claimed_pack_cannot_be_claimed_twice(session_factory) -> None:
    with session_factory() as s:
        alice = User(name="alice")
        s.add(alice)
        s.commit()
        submit_runs(s, alice, 3)
        (pack_id,) = schedule_once(s, lambda *a: None, slots=1, **SETTINGS).dispatched
        assert len(claim_pack(s, pack_id, "w1")) == 3
        assert claim_pack(s, pack_id, "w2") is None
        assert {r.worker for r in s.scalars(select(Run))} == {"w1"}


def test_lost_worker_requeues_the_same_pack_then_gives_up(session_factory, caplog) -> None:
    caplog.set_level("WARNING", logger="cortexrnn.scheduler")
    with session_factory() as s:
        alice = User(name="alice")
        s.add(alice)
        s.commit()
        exp = submit_runs(s, alice, 2)
        (pack_id,) = schedule_once(s, lambda *a: None, slots=1, **SETTINGS).dispatched
        s.get(Pack, pack_id).created_at = utcnow() - timedelta(hours=1)
        s.commit()
        for attempt in range(1, 4):
            assert claim_pack(s, pack_id, f"w{attempt}")
            s.get(Pack, pack_id).heartbeat_at = utcnow() - timedelta(seconds=61)
            s.commit()
            sent: list[int] = []
            report = schedule_once(
                s, lambda pid, q, sent=sent: sent.append(pid), slots=1, **SETTINGS
            )
            runs = list(s.scalars(select(Run).where(Run.experiment_id == exp.id)))
            assert any(
                r.getMessage().startswith(
                    f"pack {pack_id} lost its worker w{attempt} (last heartbeat 20"
                )
                for r in caplog.records
            )
            if attempt < 3:
                assert sent == [pack_id] and report.dispatched == []
                # Requeued now: the next tick neither resends it nor counts another loss.
                schedule_once(s, lambda pid, q, sent=sent: sent.append(pid), slots=1, **SETTINGS)
                assert sent == [pack_id]
                assert {r.state for r in runs} == {"queued"} and {r.pack_id for r in runs} == {
                    pack_id
                }
                assert {r.attempt for r in runs} == {attempt}
            else:
                assert sent == [] and sorted(report.lost_runs) == sorted(r.id for r in runs)
                assert {r.state for r in runs} == {"lost"}
                assert all("lost 3 times" in r.error for r in runs)
                assert s.get(Experiment, exp.id).status == "failed"


def test_a_dead_workers_packs_are_requeued_at_once_and_others_untouched(
    session_factory, caplog
) -> None:
    """What `cortexrnn serve` does when it sees a worker process end: that worker's running
    packs go back to the queue now (their finished runs stay finished), without waiting for
    the heartbeat timeout; another worker's pack and a pack at its last attempt are not."""
    with session_factory() as s:
        alice = User(name="alice")
        s.add(alice)
        s.commit()
        first = submit_runs(s, alice, 3, pack_key="a")
        second = submit_runs(s, alice, 2, pack_key="b")
        report = schedule_once(s, lambda *a: None, slots=2, **SETTINGS)
        pack_a, pack_b = sorted(report.dispatched)
        runs_a = claim_pack(s, pack_a, "w-dead")
        assert runs_a and claim_pack(s, pack_b, "w-alive")
        runs_a[0].transition(RunState.SUCCEEDED)
        s.get(Pack, pack_a).created_at = utcnow() - timedelta(hours=1)
        s.commit()  # the heartbeat is fresh: the reconciler would not touch it yet

        released = release_dead_worker(s, "w-dead", max_attempts=3)
        s.commit()
        assert released == [(pack_a, "cpu")]
        assert f"pack {pack_a}: its worker w-dead died; requeueing it now" in [
            r.getMessage() for r in caplog.records
        ]
        # Its caller sends it now: the next tick neither resends it nor takes it for lost.
        sent: list[int] = []
        schedule_once(s, lambda pid, q: sent.append(pid), slots=2, **SETTINGS)
        assert sent == []
        pack = s.get(Pack, pack_a)
        assert pack.state == "queued" and pack.worker is None and pack.attempt == 1
        states = {r.seed: (r.state, r.attempt) for r in s.scalars(
            select(Run).where(Run.experiment_id == first.id)
        )}  # fmt: skip
        assert states == {0: ("succeeded", 0), 1: ("queued", 1), 2: ("queued", 1)}
        assert {r.state for r in s.scalars(select(Run).where(Run.experiment_id == second.id))} == {
            "running"
        }
        assert s.get(Pack, pack_b).worker == "w-alive"
        assert release_dead_worker(s, "w-nobody", max_attempts=3) == []

        # On its last attempt the pack is lost with its live runs, not requeued.
        assert claim_pack(s, pack_a, "w-dead-2")
        s.get(Pack, pack_a).attempt = 2
        s.commit()
        assert release_dead_worker(s, "w-dead-2", max_attempts=3) == []
        s.commit()
        lost = [r for r in s.scalars(select(Run).where(Run.experiment_id == first.id))]
        assert sorted(r.state for r in lost) == ["lost", "lost", "succeeded"]
        assert s.get(Pack, pack_a).state == "lost"


def test_an_unclaimed_dispatch_is_sent_again_after_the_timeout(session_factory) -> None:
    with session_factory() as s:
        alice = User(name="alice")
        s.add(alice)
        s.commit()
        submit_runs(s, alice, 2)
        (pack_id,) = schedule_once(s, lambda *a: None, slots=1, **SETTINGS).dispatched
        sent: list[int] = []
        assert (
            schedule_once(s, lambda pid, q: sent.append(pid), slots=1, **SETTINGS).redispatched
            == []
        )
        pack = s.get(Pack, pack_id)
        pack.dispatched_at = utcnow() - timedelta(seconds=301)
        pack.created_at = utcnow() - timedelta(hours=1)  # an old pack: its clock is its dispatch
        s.commit()
        again: list[tuple[int, str]] = []
        report = schedule_once(s, lambda pid, q: again.append((pid, q)), slots=1, **SETTINGS)
        assert again == [(pack_id, "cpu")] and report.redispatched == [pack_id]
        # Sent again now, so its clock starts again: the next tick does not resend it.
        schedule_once(s, lambda pid, q: again.append((pid, q)), slots=1, **SETTINGS)
        assert again == [(pack_id, "cpu")]


def test_a_retried_pack_goes_out_again_whole(session_factory) -> None:
    """Failed (or cancelled) runs keep their pack; a retry re-dispatches that pack, so a
    pack retried whole resumes from its checkpoint."""
    with session_factory() as s:
        alice = User(name="alice")
        s.add(alice)
        s.commit()
        exp = submit_runs(s, alice, 3)
        (pack_id,) = schedule_once(s, lambda *a: None, slots=1, **SETTINGS).dispatched
        for run in claim_pack(s, pack_id, "w1"):
            run.transition(RunState.FAILED)
        s.get(Pack, pack_id).state = RunState.FAILED.value
        s.commit()
        for run in s.scalars(
            select(Run).where(Run.experiment_id == exp.id)
        ):  # what POST .../retry does
            run.transition(RunState.PENDING)
        s.commit()
        sent: list[int] = []
        report = schedule_once(s, lambda pid, q, sent=sent: sent.append(pid), slots=1, **SETTINGS)
        assert report.dispatched == [pack_id] == sent
        assert {r.state for r in s.scalars(select(Run))} == {"queued"}
        assert s.get(Pack, pack_id).state == "queued"
        assert len(claim_pack(s, pack_id, "w2")) == 3


def test_a_worker_taken_for_dead_stops_and_writes_nothing(cortexrnn_home, monkeypatch) -> None:
    """A worker paused past the heartbeat timeout finds its pack requeued at its next
    heartbeat: it stops training and leaves the results to the new holder."""
    import threading

    from cortexrnn.services.spec import parse_spec
    from cortexrnn.shared.db import session_scope
    from cortexrnn.shared.experiments import create_experiment
    from cortexrnn.shared.settings import get_settings
    from cortexrnn.worker import execution
    from cortexrnn.worker.execution import execute_pack

    upgrade()
    spec = parse_spec(
        {
            "sampling": {"strategy": "random", "n_neurons": 12, "seed": 0},
            "seeds": 1,
            "training": {
                "epochs": 5000,
                "train_trials": 64,
                "batch_size": 32,
                "test_trials": 32,
                "checkpoint_every_steps": None,
            },
            "conditions": {"W": {}},
        }
    )
    from cortexrnn.shared.experiments import resolve_dataset

    with session_scope() as s:
        sha = resolve_dataset(s, spec).content_sha256  # creates the default dataset first
    with session_scope() as s:
        alice = User(name="alice")
        s.add(alice)
        s.flush()
        create_experiment(s, alice, spec, dataset_sha=sha)
    with session_scope() as s:
        (pack_id,) = schedule_once(s, lambda *a: None, slots=1, **SETTINGS).dispatched
    monkeypatch.setattr(execution, "HEARTBEAT_EVERY_S", 0.2)

    def steal() -> None:  # what the reconciler does when the heartbeat is too old
        import time

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # once training is under way
            with session_scope() as s:
                if max(r.step for r in s.scalars(select(Run).where(Run.pack_id == pack_id))) > 0:
                    break
            time.sleep(0.05)
        with session_scope() as s:
            pack = s.get(Pack, pack_id)
            pack.worker, pack.attempt = "another-worker", 1

    thief = threading.Thread(target=steal)
    thief.start()
    outcome = execute_pack(pack_id, "paused-worker", settings=get_settings())
    thief.join()
    assert outcome == "superseded"
    with session_scope() as s:
        runs = list(s.scalars(select(Run).where(Run.pack_id == pack_id)))
        assert {r.state for r in runs} == {"running"}  # untouched: the new holder finishes them
        from cortexrnn.shared.models import RunSummary

        assert s.scalar(select(RunSummary)) is None


def test_eta_counts_from_the_first_run_start_not_the_queue_wait(session_factory) -> None:
    from cortexrnn.shared.experiments import experiment_progress

    with session_factory() as s:
        user = User(name="eta")
        s.add(user)
        s.commit()
        now = utcnow()
        exp = submit_runs(s, user, 2, when=now - timedelta(hours=1))  # an hour in the queue
        assert experiment_progress(s, exp).eta_seconds is None  # nothing started: no guess
        for run in s.scalars(select(Run).where(Run.experiment_id == exp.id)):
            run.state, run.progress, run.started_at = (
                RunState.RUNNING.value,
                0.5,
                now - timedelta(seconds=60),
            )
        s.commit()
        eta = experiment_progress(s, exp).eta_seconds
        assert (
            eta is not None and 55 <= eta <= 75
        )  # half done after a minute of training: a minute left
