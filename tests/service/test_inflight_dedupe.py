"""Dedupe against runs in flight: a run identical to one still to be trained (pending, queued
or running) waits for it and takes its results, instead of training again; when that run fails,
is cancelled or lost, one waiting run trains in its place and the others wait for it. Against
a real database (SQLite here, Postgres when reachable)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cortexrnn.services.spec import parse_spec
from cortexrnn.shared import lifecycle
from cortexrnn.shared.experiments import Submission, create_experiment, result_run_id
from cortexrnn.shared.models import Experiment, Pack, Run, User, utcnow
from cortexrnn.worker.scheduler import schedule_once
from tests.queue_rows import add_users
from tests.service.test_scheduler import SETTINGS

SPEC: dict[str, Any] = {
    "dataset": "tiny",
    "seeds": 2,
    "training": {"epochs": 1, "train_trials": 64, "batch_size": 32, "test_trials": 32},
    "conditions": {"base": {}},
}


def _submit(session: Session, user: User, **changes: Any) -> Submission:
    sub = create_experiment(session, user, parse_spec({**SPEC, **changes}))
    session.commit()
    return sub


def _states(session: Session, experiment_id: int) -> Counter[str]:
    return Counter(session.scalars(select(Run.state).where(Run.experiment_id == experiment_id)))


def _dispatch(session: Session) -> list[int]:
    return schedule_once(session, lambda *a: None, slots=8, **SETTINGS).dispatched


def _succeed(session: Session, pack_id: int) -> list[Run]:
    runs = lifecycle.claim_pack(session, pack_id, "w1")
    assert runs
    ok = SimpleNamespace(error=None, status="ok", row={})
    for run in runs:
        run.step = run.total_steps = 4
    lifecycle.finish_pack(session, pack_id, [r.id for r in runs], [ok] * len(runs), 4, 4, "ck")
    session.commit()
    return runs


def test_twenty_identical_submissions_while_busy_train_once(sessions) -> None:
    with sessions() as s:
        (alice,) = add_users(s, "alice")
        first = _submit(s, alice)
        subs = [_submit(s, alice) for _ in range(19)]
        assert first.n_waiting == 0
        assert all(sub.n_waiting == 2 and sub.n_cached == 0 for sub in subs)
        originals = list(s.scalars(select(Run).where(Run.experiment_id == first.experiment.id)))
        waiting = list(s.scalars(select(Run).where(Run.experiment_id != first.experiment.id)))
        assert {r.state for r in waiting} == {"queued"}
        assert {r.pack_id for r in waiting} == {None}
        assert {r.cached_from_id for r in waiting} == {r.id for r in originals}

        (pack_id,) = _dispatch(s)  # eight free slots, one pack: only the originals train
        assert {r.id for r in s.scalars(select(Run).where(Run.pack_id == pack_id))} == {
            r.id for r in originals
        }
        assert _dispatch(s) == []
        _succeed(s, pack_id)

        for sub in [first, *subs]:
            assert _states(s, sub.experiment.id) == {"succeeded": 2}
            assert s.get(Experiment, sub.experiment.id).status == "succeeded"
        s.expire_all()
        for run in s.scalars(select(Run).where(Run.experiment_id != first.experiment.id)):
            assert result_run_id(run) in {r.id for r in originals}
            assert run.progress == 1.0 and run.step == 4 and run.finished_at is not None


def test_identical_runs_of_one_submission_train_once(sessions) -> None:
    with sessions() as s:
        (alice,) = add_users(s, "alice")
        # Two names for one condition: the same runs (the name is a label).
        sub = _submit(s, alice, conditions={"a": {}, "b": {}})
        assert sub.n_runs == 4 and sub.n_waiting == 2
        (pack_id,) = _dispatch(s)
        assert len(_succeed(s, pack_id)) == 2
        assert _states(s, sub.experiment.id) == {"succeeded": 4}


def test_force_trains_again_and_is_not_waited_for_by_itself(sessions) -> None:
    with sessions() as s:
        (alice,) = add_users(s, "alice")
        _submit(s, alice)
        forced = _submit(s, alice, force=True)
        assert forced.n_waiting == 0
        assert _states(s, forced.experiment.id) == {"pending": 2}


def test_when_the_original_fails_one_waiting_run_trains_and_the_others_wait_for_it(
    sessions,
) -> None:
    with sessions() as s:
        alice, bob = add_users(s, "alice", "bob")
        first = _submit(s, alice)
        second, third = _submit(s, bob), _submit(s, bob)
        (pack_id,) = _dispatch(s)
        runs = lifecycle.claim_pack(s, pack_id, "w1")
        assert runs
        lifecycle.fail_pack(s, pack_id, [r.id for r in runs], "the device fell over")
        s.commit()

        assert _states(s, first.experiment.id) == {"failed": 2}
        assert _states(s, second.experiment.id) == {"pending": 2}  # trains in its place
        promoted = list(s.scalars(select(Run).where(Run.experiment_id == second.experiment.id)))
        assert {r.cached_from_id for r in promoted} == {None}
        third_runs = list(s.scalars(select(Run).where(Run.experiment_id == third.experiment.id)))
        assert {r.state for r in third_runs} == {"queued"}
        assert {r.cached_from_id for r in third_runs} == {r.id for r in promoted}

        (pack_id,) = _dispatch(s)
        _succeed(s, pack_id)
        assert (
            _states(s, second.experiment.id) == _states(s, third.experiment.id) == {"succeeded": 2}
        )
        assert s.get(Experiment, third.experiment.id).status == "succeeded"


def test_cancelling_the_original_leaves_others_waiting_runs_to_train(sessions) -> None:
    with sessions() as s:
        alice, bob = add_users(s, "alice", "bob")
        first = _submit(s, alice)
        second = _submit(s, bob)
        assert second.n_waiting == 2
        lifecycle.cancel_experiment(s, s.get(Experiment, first.experiment.id), "alice")
        s.commit()
        assert _states(s, first.experiment.id) == {"cancelled": 2}
        assert _states(s, second.experiment.id) == {"pending": 2}
        assert s.get(Experiment, second.experiment.id).status == "active"
        (pack_id,) = _dispatch(s)
        _succeed(s, pack_id)
        assert _states(s, second.experiment.id) == {"succeeded": 2}


def test_a_running_original_cancelled_whose_worker_dies_hands_over_to_the_waiting_runs(
    sessions,
) -> None:
    with sessions() as s:
        alice, bob = add_users(s, "alice", "bob")
        first = _submit(s, alice)
        (pack_id,) = _dispatch(s)
        assert lifecycle.claim_pack(s, pack_id, "w1")
        second = _submit(s, bob)  # arrives while the original trains
        assert second.n_waiting == 2
        lifecycle.cancel_experiment(s, s.get(Experiment, first.experiment.id), "alice")
        s.get(Pack, pack_id).heartbeat_at = utcnow() - timedelta(hours=1)
        s.commit()
        report = schedule_once(s, lambda *a: None, slots=0, **SETTINGS)
        assert report.redispatched == []
        assert _states(s, first.experiment.id) == {"cancelled": 2}
        assert _states(s, second.experiment.id) == {"pending": 2}


def test_a_lost_original_hands_over_to_the_waiting_runs(sessions) -> None:
    with sessions() as s:
        alice, bob = add_users(s, "alice", "bob")
        first = _submit(s, alice)
        (pack_id,) = _dispatch(s)
        second = _submit(s, bob)
        assert second.n_waiting == 2
        for _ in range(SETTINGS["max_attempts"]):
            assert lifecycle.claim_pack(s, pack_id, "w1")
            s.get(Pack, pack_id).heartbeat_at = utcnow() - timedelta(hours=1)
            s.commit()
            schedule_once(s, lambda *a: None, slots=0, **SETTINGS)
        assert _states(s, first.experiment.id) == {"lost": 2}
        assert _states(s, second.experiment.id) == {"pending": 2}


def test_a_cancelled_waiting_run_retried_waits_again(sessions) -> None:
    with sessions() as s:
        alice, bob = add_users(s, "alice", "bob")
        first = _submit(s, alice)
        second = _submit(s, bob)
        experiment = s.get(Experiment, second.experiment.id)
        lifecycle.cancel_experiment(s, experiment, "bob")
        s.commit()
        assert _states(s, second.experiment.id) == {"cancelled": 2}
        assert _states(s, first.experiment.id) == {"pending": 2}  # the original is untouched
        lifecycle.retry_experiment(s, experiment)
        s.commit()
        assert _states(s, second.experiment.id) == {"queued": 2}
        (pack_id,) = _dispatch(s)
        _succeed(s, pack_id)
        assert _states(s, second.experiment.id) == {"succeeded": 2}
