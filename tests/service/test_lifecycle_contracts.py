"""Every state change of shared/lifecycle.py, as an operator reads it off the rows: which
state each run and pack ends in, what error text the owner sees, which counters move, and
what an experiment's status becomes. Hand-written expectations from the module's documented
rules, against a real database (SQLite here, Postgres when reachable)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cortexrnn.shared import lifecycle
from cortexrnn.shared.models import Experiment, Pack, Run, RunState, User, utcnow
from cortexrnn.shared.notify import PENDING_KEY
from tests.queue_rows import pending_runs

OK = SimpleNamespace(error=None, status="completed", row={})


def _user(s: Session, name: str = "alice") -> User:
    u = User(name=name)
    s.add(u)
    s.flush()
    return u


def _running_pack(s: Session, runs: list[Run], worker: str = "w1") -> Pack:
    pack = lifecycle.open_pack(s, "k", runs, "cpu")
    s.commit()
    started = lifecycle.claim_pack(s, pack.id, worker)
    assert started is not None and {r.id for r in started} == {r.id for r in runs}
    s.refresh(pack)  # the claim's UPDATE, as a scheduler reading the row sees it
    return pack


def _claim(s: Session, pack: Pack, worker: str) -> None:
    assert lifecycle.claim_pack(s, pack.id, worker)
    s.refresh(pack)


def _identical_runs(s: Session, user: User, run_hash: str, n: int = 1, **kw: Any) -> list[Run]:
    """`n` pending runs of a new experiment whose inputs all hash to `run_hash`, as identical
    submissions' runs do (flushed)."""
    runs = pending_runs(s, user, n, "same", **kw)
    for run in runs:
        run.run_hash = run_hash
    s.flush()
    return runs


def _shared_pack_after_its_worker_died(s: Session, flagged: str) -> tuple[Run, Run, Pack]:
    """(alice's run, bob's run, their pack): the two runs trained in one pack, the `flagged`
    one ("mine": alice's, "theirs": bob's) asked to cancel, then the worker died: that run is
    cancelled (keeping its pack id) and the other is queued again in the pack."""
    mine = pending_runs(s, _user(s), 1)[0]
    theirs = pending_runs(s, _user(s, "bob"), 1)[0]
    pack = _running_pack(s, [mine, theirs])
    (mine if flagged == "mine" else theirs).cancel_requested = True
    assert lifecycle.requeue_or_lose(pack, [mine, theirs], 3, utcnow()) is True
    return mine, theirs, pack


def _experiment(s: Session, run: Run) -> Experiment:
    exp = s.get(Experiment, run.experiment_id)
    assert exp is not None
    return exp


# ----- experiment status ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "status"),
    [
        (["succeeded", "succeeded"], "succeeded"),
        (["succeeded", "failed"], "failed"),
        (["succeeded", "lost"], "failed"),
        (["cancelled", "lost"], "failed"),
        (["succeeded", "cancelled"], "cancelled"),
        (["cancelled", "cancelled"], "cancelled"),
        (["succeeded", "running"], "active"),
        (["pending", "queued"], "active"),
        ([], "active"),
    ],
)
def test_experiment_status_follows_its_runs(sessions, states: list[str], status: str) -> None:
    with sessions() as s:
        spec = {"webhook": "http://hook.invalid/x"}
        runs = pending_runs(s, _user(s), len(states), spec=spec)
        exp = s.scalars(select(Experiment)).one()
        for run, st in zip(runs, states, strict=True):
            run.state = st
        s.flush()
        assert lifecycle.refresh_experiment_status(s, exp) == status
        assert exp.status == status
        ended = status != "active"
        assert (exp.finished_at is not None) == ended
        notices = s.info.get(PENDING_KEY, [])
        assert len(notices) == int(ended)  # one notice, as it ends
        if ended:
            assert notices[0][2]["status"] == status
            first = exp.finished_at
            assert lifecycle.refresh_experiment_status(s, exp) == status
            assert exp.finished_at == first and len(s.info[PENDING_KEY]) == 1  # no second one
            # A retry makes it active again, unfinished.
            runs[0].state = RunState.PENDING.value
            s.flush()
            assert lifecycle.refresh_experiment_status(s, exp) == "active"
            assert exp.finished_at is None


# ----- the scheduler: open, send again, close, requeue or lose ------------------------------


def test_open_send_again_and_close_a_pack(sessions) -> None:
    with sessions() as s:
        runs = pending_runs(s, _user(s), 2)
        before = utcnow()
        pack = lifecycle.open_pack(s, "key", runs, "gpu")
        assert (pack.pack_key, pack.queue, pack.state) == ("key", "gpu", "queued")
        assert pack.dispatched_at is not None and pack.dispatched_at >= before
        assert all(r.pack_id == pack.id and r.state == "queued" for r in runs)
        # The pack comes back with one run retried (pending): it goes out whole again.
        pack.state, pack.worker, pack.attempt = "failed", "w9", 2
        runs[0].state = RunState.FAILED.value
        runs[0].transition(RunState.PENDING)
        runs[1].state = RunState.CANCELLED.value
        elsewhere = pending_runs(s, _user(s, "bob"), 1)  # pending, in no pack
        pack.dispatched_at = before - timedelta(hours=1)
        s.flush()
        resent = utcnow()
        again = lifecycle.send_pack_again(s, pack, "cpu")
        assert again is pack
        assert pack.dispatched_at is not None and pack.dispatched_at >= resent
        assert elsewhere[0].state == "pending"
        assert (pack.state, pack.worker, pack.attempt, pack.queue) == ("queued", None, 0, "cpu")
        assert [r.state for r in runs] == ["queued", "cancelled"]
        lifecycle.close_pack(pack)
        assert pack.state == "succeeded"


def test_a_silent_workers_pack_is_requeued_then_lost(sessions) -> None:
    with sessions() as s:
        runs = pending_runs(s, _user(s), 2)
        pack = _running_pack(s, runs)
        now = utcnow() + timedelta(minutes=5)
        assert lifecycle.requeue_or_lose(pack, runs, 3, now) is True
        assert (pack.state, pack.attempt, pack.worker) == ("queued", 1, None)
        assert pack.dispatched_at == now
        assert [(r.state, r.attempt, r.worker) for r in runs] == [("queued", 1, None)] * 2
        # A drain gives the pack back on purpose: no attempt used, however often.
        for _ in range(2):
            _claim(s, pack, "w2")
            assert lifecycle.requeue_or_lose(pack, runs, 3, now, counts_attempt=False)
            assert pack.attempt == 1 and pack.state == "queued"
        _claim(s, pack, "w3")
        assert lifecycle.requeue_or_lose(pack, runs, 3, now) is True and pack.attempt == 2
        _claim(s, pack, "w4")
        # The third loss of three allowed: lost, with the reason the owner reads.
        assert lifecycle.requeue_or_lose(pack, runs, 3, now) is False
        assert (pack.state, pack.attempt) == ("lost", 3)
        assert [r.state for r in runs] == ["lost", "lost"]
        assert runs[0].error == (
            "lost 3 times (worker stopped heartbeating; last: w4); "
            "retry the experiment to try again"
        )
        assert _experiment(s, runs[0]).status == "failed"


def test_a_run_asked_to_cancel_is_cancelled_not_requeued_when_its_worker_dies(sessions) -> None:
    with sessions() as s:
        runs = pending_runs(s, _user(s), 2)
        pack = _running_pack(s, runs)
        runs[0].cancel_requested = True
        now = utcnow()
        assert lifecycle.requeue_or_lose(pack, runs, 3, now) is True
        assert runs[0].state == "cancelled" and runs[1].state == "queued"
        assert runs[0].error == (
            "cancelled; its worker (w1) stopped before the run reached its next step, "
            "so it was not trained again (retry resumes it)"
        )
        assert runs[0].finished_at == now
        # Only runs asked to cancel left: the pack is cancelled, not requeued.
        _claim(s, pack, "w2")
        runs[1].cancel_requested = True
        assert lifecycle.requeue_or_lose(pack, [runs[1]], 3, now) is False
        assert pack.state == "cancelled" and runs[1].state == "cancelled"
        assert pack.attempt == 1  # the first requeue's, no more
        assert _experiment(s, runs[0]).status == "cancelled"


# ----- the worker: claim, heartbeat, progress, hold ---------------------------------------


def test_claim_starts_the_queued_runs_once(sessions) -> None:
    with sessions() as s:
        runs = pending_runs(s, _user(s), 3)
        pack = lifecycle.open_pack(s, "k", runs, "cpu")
        runs[2].transition(RunState.CANCELLED)
        s.commit()
        started = lifecycle.claim_pack(s, pack.id, "w1")
        assert started is not None and [r.id for r in started] == [runs[0].id, runs[1].id]
        for r in started:
            assert (r.state, r.worker) == ("running", "w1")
            assert r.heartbeat_at is not None and r.started_at is not None
        # One claim, one moment: every started run's start and heartbeat.
        assert len({r.started_at for r in started} | {r.heartbeat_at for r in started}) == 1
        assert runs[2].state == "cancelled" and runs[2].worker is None
        s.refresh(pack)
        assert (pack.state, pack.worker) == ("running", "w1") and pack.heartbeat_at is not None
        assert lifecycle.claim_pack(s, pack.id, "w2") is None
        assert lifecycle.claim_pack(s, 10**6, "w2") is None
        # A pack none of whose runs is left to start is cancelled by its claim.
        other = pending_runs(s, _user(s, "bob"), 1)
        empty = lifecycle.open_pack(s, "k", other, "cpu")
        other[0].transition(RunState.CANCELLED)
        s.commit()
        assert lifecycle.claim_pack(s, empty.id, "w1") == []
        s.refresh(empty)
        assert empty.state == "cancelled"


def test_heartbeats_progress_membership_and_hold_belong_to_the_holder(sessions) -> None:
    with sessions() as s:
        runs = pending_runs(s, _user(s), 2)
        pack = _running_pack(s, runs)
        ids = [r.id for r in runs]
        t = utcnow() + timedelta(seconds=30)
        assert lifecycle.heartbeat_pack(s, pack.id, "w1", t) is True
        assert lifecycle.heartbeat_pack(s, pack.id, "w2", t) is False
        lifecycle.heartbeat_runs(s, pack.id, ids, "w1", t)
        lifecycle.heartbeat_runs(s, pack.id, ids, "w2", t + timedelta(hours=1))
        s.commit()
        for r in runs:
            s.refresh(r)
            assert r.heartbeat_at is not None
            assert abs(r.heartbeat_at.replace(tzinfo=None) - t.replace(tzinfo=None)) < timedelta(
                seconds=1
            )
        # A worker with two slots holds two packs: a heartbeat is for the one it names.
        other_runs = pending_runs(s, _user(s, "bob"), 1)
        other = _running_pack(s, other_runs)
        before = other.heartbeat_at
        run_before = other_runs[0].heartbeat_at
        assert run_before is not None
        assert lifecycle.heartbeat_pack(s, pack.id, "w1", t + timedelta(minutes=5)) is True
        lifecycle.heartbeat_runs(s, pack.id, [*ids, other_runs[0].id], "w1", t)
        s.commit()
        s.refresh(other)
        s.refresh(pack)
        s.refresh(other_runs[0])
        assert other.heartbeat_at == before and other_runs[0].heartbeat_at is not None
        assert other_runs[0].heartbeat_at.replace(tzinfo=None) == run_before.replace(tzinfo=None)
        assert pack.heartbeat_at is not None
        assert pack.heartbeat_at.replace(tzinfo=None) - t.replace(tzinfo=None) > timedelta(
            minutes=4
        )
        later = t + timedelta(minutes=10)
        assert lifecycle.record_progress(s, pack.id, ids[0], 30, 40, later) is True
        s.commit()
        s.refresh(runs[0])
        assert runs[0].heartbeat_at is not None  # progress is a heartbeat too
        assert abs(runs[0].heartbeat_at.replace(tzinfo=None) - later.replace(tzinfo=None)) < (
            timedelta(seconds=1)
        )
        assert lifecycle.record_progress(s, pack.id, ids[1], 40, 40, t) is True
        assert lifecycle.record_progress(s, pack.id + 1, ids[1], 5, 40, t) is False
        s.commit()
        s.refresh(runs[0])
        s.refresh(runs[1])
        assert (runs[0].step, runs[0].total_steps, runs[0].progress) == (30, 40, 0.75)
        assert runs[1].progress == 0.999  # 1.0 only once its results are written
        assert lifecycle.members(s, pack.id, ids) == set(ids)
        assert lifecycle.members(s, pack.id, ids[:1]) == {ids[0]}
        assert lifecycle.hold_pack(s, pack.id, "w1") is True
        assert lifecycle.hold_pack(s, pack.id, "w2") is False
        assert lifecycle.hold_pack(s, 10**6, "w1") is False
        # The pack's cancel: only when every run still in it asked for it.
        assert lifecycle.cancel_requested(s, pack.id, ids) is False
        runs[0].cancel_requested = True
        s.flush()
        assert lifecycle.cancel_requested(s, pack.id, ids) is False
        runs[1].cancel_requested = True
        s.flush()
        assert lifecycle.cancel_requested(s, pack.id, ids) is True
        assert lifecycle.cancel_requested(s, pack.id, []) is False
        # A run no longer running takes no progress.
        runs[0].transition(RunState.CANCELLED)
        s.flush()
        assert lifecycle.record_progress(s, pack.id, ids[0], 35, 40, t) is False
        assert lifecycle.record_progress(s, pack.id, ids[1], 0, 0, t) is True
        assert lifecycle.record_progress(s, pack.id, ids[1], 1, 1, t) is True
        s.commit()
        s.refresh(runs[1])
        assert runs[1].progress == 0.999  # a one-step run at its step
        # A pack that no longer runs takes no heartbeat, even from the worker it had.
        lifecycle.cancel_pack(s, pack.id, ids, 1, 2, "ck")
        s.commit()
        assert lifecycle.heartbeat_pack(s, pack.id, "w1", t) is False


# ----- the worker: fail, cancel, finish -----------------------------------------------------


def test_a_failed_pack_fails_its_running_runs_with_the_message(sessions) -> None:
    with sessions() as s:
        runs = pending_runs(s, _user(s), 3)
        pack = _running_pack(s, runs)
        runs[2].transition(RunState.CANCELLED)
        lifecycle.fail_pack(s, pack.id, [r.id for r in runs], "prior not built: boom")
        assert [r.state for r in runs] == ["failed", "failed", "cancelled"]
        assert runs[0].error == runs[1].error == "prior not built: boom"
        assert runs[2].error is None
        assert s.get(Pack, pack.id).state == "failed"  # type: ignore[union-attr]
        assert _experiment(s, runs[0]).status == "failed"


def test_a_cancelled_pack_keeps_its_checkpoint_for_the_retry(sessions) -> None:
    with sessions() as s:
        runs = pending_runs(s, _user(s), 2)
        pack = _running_pack(s, runs)
        lifecycle.cancel_pack(s, pack.id, [r.id for r in runs], 3, 10, "/ck/p.pt")
        for r in runs:
            assert (r.state, r.checkpoint_path) == ("cancelled", "/ck/p.pt")
            assert r.error == "cancelled at step 3 of 10; retry resumes it"
        assert s.get(Pack, pack.id).state == "cancelled"  # type: ignore[union-attr]
        assert _experiment(s, runs[0]).status == "cancelled"


def test_finish_writes_each_runs_outcome_and_skips_runs_that_left(sessions) -> None:
    with sessions() as s:
        runs = pending_runs(s, _user(s), 4)
        pack = _running_pack(s, runs)
        runs[3].transition(RunState.CANCELLED)  # cancelled meanwhile: keeps its state
        outcomes = [
            OK,
            SimpleNamespace(error=None, status="diverged", row={"diverged_step": 17}),
            SimpleNamespace(error="prior not built: no neurons", status=None, row={}),
            OK,
        ]
        lifecycle.finish_pack(s, pack.id, [r.id for r in runs], outcomes, 40, 40, "/ck/f.pt")
        ok, div, err, gone = runs
        assert (ok.state, ok.progress, ok.step, ok.total_steps) == ("succeeded", 1.0, 40, 40)
        assert ok.checkpoint_path == "/ck/f.pt" and ok.error is None
        assert div.state == "failed" and div.error == (
            "diverged: the loss became NaN or infinite at step 17; "
            "lower training.lr or the regulariser strength"
        )
        assert div.checkpoint_path == "/ck/f.pt"
        assert (err.state, err.error) == ("failed", "prior not built: no neurons")
        assert err.progress == 0.0 and err.checkpoint_path is None
        assert gone.state == "cancelled" and gone.progress == 0.0
        assert s.get(Pack, pack.id).state == "succeeded"  # type: ignore[union-attr]
        assert _experiment(s, ok).status == "failed"
        with pytest.raises(ValueError):  # one outcome per run
            lifecycle.finish_pack(s, pack.id, [ok.id], [], 40, 40, "/ck/f.pt")


def test_ending_runs_charge_their_owner_for_the_packs_time(sessions) -> None:
    from cortexrnn.shared.fair_share import share_of

    for end in ("fail", "cancel", "finish"):
        with sessions() as s:
            user = _user(s, f"u-{end}")
            runs = pending_runs(s, user, 2)
            pack = _running_pack(s, runs)
            t0 = utcnow()
            for r in runs:
                r.started_at = t0 - timedelta(seconds=100)
            ids = [r.id for r in runs]
            if end == "fail":
                lifecycle.fail_pack(s, pack.id, ids, "x")
            elif end == "cancel":
                lifecycle.cancel_pack(s, pack.id, ids, 1, 2, "ck")
            else:
                lifecycle.finish_pack(s, pack.id, ids, [OK, OK], 2, 2, "ck")
            waited = (utcnow() - t0).total_seconds()
            share = share_of(s, user.id)
            # The pack's 100 s (plus the moments this test took), split between two runs of
            # one owner: the owner is charged all of it once.
            assert 100.0 <= share.day_seconds <= 100.0 + waited, end
            s.rollback()


# ----- the API: cancel, retry, delete ---------------------------------------------------------


def test_cancel_ends_waiting_runs_at_once_and_flags_running_ones(sessions) -> None:
    with sessions() as s:
        runs = pending_runs(s, _user(s), 4)
        exp = _experiment(s, runs[0])
        lifecycle.open_pack(s, "k", runs[1:3], "cpu")
        s.commit()
        pack = lifecycle.open_pack(s, "k2", [runs[3]], "cpu")
        s.commit()
        lifecycle.claim_pack(s, pack.id, "w1")
        lifecycle.cancel_experiment(s, exp, "alice")
        assert [r.state for r in runs] == ["cancelled", "cancelled", "cancelled", "running"]
        assert all(r.error == "cancelled by alice" for r in runs[:3])
        assert runs[3].cancel_requested is True and runs[3].error is None
        assert exp.status == "active"  # its running run stops at its next step


def test_cancel_releases_runs_from_a_pack_shared_with_another_experiment(sessions) -> None:
    with sessions() as s:
        mine = pending_runs(s, _user(s), 1)
        theirs = pending_runs(s, _user(s, "bob"), 1)
        pack = _running_pack(s, [mine[0], theirs[0]])
        exp = _experiment(s, mine[0])
        mine[0].checkpoint_path = "/ck/shared.pt"
        lifecycle.cancel_experiment(s, exp, "alice")
        run = mine[0]
        assert run.state == "cancelled" and run.pack_id is None
        assert run.checkpoint_path is None and run.cancel_requested is False
        assert run.error == (
            "cancelled by alice; its pack trains on for other experiments, so a retry starts afresh"
        )
        assert theirs[0].state == "running" and theirs[0].pack_id == pack.id
        assert exp.status == "cancelled"
        # When the other experiment's runs are also being cancelled, the pack stops instead.
        a, b = (
            pending_runs(s, _user(s, "carol"), 1),
            pending_runs(s, _user(s, "dave"), 1),
        )
        pack2 = _running_pack(s, [a[0], b[0]], "w2")
        b[0].cancel_requested = True
        lifecycle.cancel_experiment(s, _experiment(s, a[0]), "carol")
        assert a[0].state == "running" and a[0].cancel_requested and a[0].pack_id == pack2.id


def test_retry_puts_failed_lost_and_cancelled_runs_back_and_refuses_when_none(sessions) -> None:
    with sessions() as s:
        runs = pending_runs(s, _user(s), 4)
        exp = _experiment(s, runs[0])
        for run, st in zip(runs, ("failed", "lost", "cancelled", "succeeded"), strict=True):
            run.state = st
            run.error = "e" if st != "succeeded" else None
            run.attempt = 2
            run.cancel_requested = st == "cancelled"
        s.flush()
        lifecycle.refresh_experiment_status(s, exp)
        assert exp.status == "failed"
        assert lifecycle.retry_experiment(s, exp) == 3
        for run in runs[:3]:
            assert (run.state, run.error, run.attempt, run.cancel_requested) == (
                "pending",
                None,
                0,
                False,
            )
        assert runs[3].state == "succeeded" and runs[3].attempt == 2
        assert exp.status == "active" and exp.finished_at is None
        for run in runs[:3]:
            run.transition(RunState.SUCCEEDED)
        s.flush()
        with pytest.raises(lifecycle.LifecycleConflict, match=r"no failed, lost or cancelled"):
            lifecycle.retry_experiment(s, exp)


def test_a_retried_run_identical_to_a_succeeded_one_is_answered_unless_forced(sessions) -> None:
    with sessions() as s:
        user = _user(s)
        done = _identical_runs(s, user, "H")
        done[0].state = RunState.SUCCEEDED.value
        for force in (False, True):
            runs = _identical_runs(s, user, "H", spec={"force": force})
            runs[0].state = RunState.FAILED.value
            s.flush()
            lifecycle.retry_experiment(s, _experiment(s, runs[0]))
            if force:
                assert runs[0].state == "pending" and runs[0].cached_from_id is None
            else:
                assert runs[0].state == "succeeded" and runs[0].cached_from_id == done[0].id
                assert runs[0].progress == 1.0


def test_delete_is_refused_while_runs_fly_or_others_reuse_the_results(sessions) -> None:
    with sessions() as s:
        runs = pending_runs(s, _user(s), 2)
        exp = _experiment(s, runs[0])
        lifecycle.open_pack(s, "k", runs, "cpu")
        s.flush()
        with pytest.raises(lifecycle.LifecycleConflict, match="still has 2 queued or running runs"):
            lifecycle.delete_experiment(s, exp)
        for r in runs:
            r.transition(RunState.CANCELLED)
        runs[0].state = RunState.SUCCEEDED.value
        reuser = pending_runs(s, _user(s, "bob"), 1)
        reuser[0].state = RunState.SUCCEEDED.value
        reuser[0].cached_from_id = runs[0].id
        # A run of the same experiment reusing its own result does not block.
        runs[1].cached_from_id = runs[0].id
        s.flush()
        with pytest.raises(
            lifecycle.LifecycleConflict,
            match=r"^1 runs of other experiments reuse this experiment's results; "
            r"it cannot be deleted$",
        ):
            lifecycle.delete_experiment(s, exp)
        reuser[0].cached_from_id = None
        s.flush()
        lifecycle.delete_experiment(s, exp)
        s.flush()
        assert s.get(Experiment, exp.id) is None


def test_a_waiting_run_takes_the_originals_success_with_its_step_counts(sessions) -> None:
    with sessions() as s:
        user = _user(s)
        orig = _identical_runs(s, user, "H")
        pack = _running_pack(s, orig)
        waiting = _identical_runs(s, user, "H", 2)
        assert lifecycle.dedupe_runs(s, waiting, force=False) == (0, 2)
        for w in waiting:  # waiting: queued, never packed, pointing at the run that trains
            assert (w.state, w.pack_id, w.cached_from_id) == ("queued", None, orig[0].id)
        assert lifecycle.dedupe_runs(s, waiting, force=True) == (0, 0)
        lifecycle.finish_pack(s, pack.id, [orig[0].id], [OK], 12, 40, "ck")
        for w in waiting:
            assert (w.state, w.cached_from_id, w.progress) == ("succeeded", orig[0].id, 1.0)
            assert (w.step, w.total_steps) == (12, 40)
        assert _experiment(s, waiting[0]).status == "succeeded"


def test_runs_changed_together_share_one_timestamp(sessions) -> None:
    """Runs answered from results, or set waiting, in one call share their timestamps, as do
    waiting runs given their original's success (one moment, one row value)."""
    with sessions() as s:
        user = _user(s)
        done = _identical_runs(s, user, "DONE")
        done[0].state = RunState.SUCCEEDED.value
        orig = _identical_runs(s, user, "FLY")
        answered = _identical_runs(s, user, "DONE", 3)
        waiting = _identical_runs(s, user, "FLY", 3)
        assert lifecycle.dedupe_runs(s, answered + waiting, force=False) == (3, 3)
        assert len({r.finished_at for r in answered}) == 1 and answered[0].finished_at
        assert len({r.queued_at for r in waiting}) == 1 and waiting[0].queued_at
        pack = _running_pack(s, orig)
        lifecycle.finish_pack(s, pack.id, [orig[0].id], [OK], 4, 4, "ck")
        assert [r.state for r in waiting] == ["succeeded"] * 3
        assert len({r.finished_at for r in waiting}) == 1


def test_cancel_releases_only_the_shared_packs_runs_whatever_the_pack_order(sessions) -> None:
    """An experiment running in a pack of its own and in a pack shared with another: the run
    of its own pack is flagged (that pack stops), the shared pack's run is released."""
    with sessions() as s:
        mine = pending_runs(s, _user(s), 2)
        theirs = pending_runs(s, _user(s, "bob"), 1)
        own = _running_pack(s, [mine[0]])
        shared = _running_pack(s, [mine[1], theirs[0]], "w2")
        assert own.id < shared.id
        lifecycle.cancel_experiment(s, _experiment(s, mine[0]), "alice")
        assert mine[0].state == "running" and mine[0].cancel_requested
        assert mine[0].pack_id == own.id
        assert mine[1].state == "cancelled" and mine[1].pack_id is None


def test_cancelling_again_after_the_worker_died_changes_nothing(sessions) -> None:
    """A run cancelled when its worker died keeps its pack id while the pack, requeued with
    another experiment's run, waits to train again; a second cancel of its experiment leaves
    it (and the other run) as they are."""
    with sessions() as s:
        mine, theirs, pack = _shared_pack_after_its_worker_died(s, flagged="mine")
        assert mine.state == "cancelled" and mine.pack_id == pack.id
        assert theirs.state == "queued"
        error = mine.error
        lifecycle.cancel_experiment(s, _experiment(s, mine), "alice")
        assert (mine.state, mine.error) == ("cancelled", error)
        assert theirs.state == "queued" and theirs.pack_id == pack.id


def test_finish_skips_runs_that_left_wherever_they_stand_in_the_pack(sessions) -> None:
    """Runs that left (deleted with their experiment, released and now running in another
    pack, cancelled) are skipped wherever they stand in the pack's list, and a run failed by
    its outcome does not stop the runs after it from being written."""
    with sessions() as s:
        runs = pending_runs(s, _user(s), 4)
        pack = _running_pack(s, runs)
        moved, failing, ok, cancelled = runs
        # Released from this pack, retried and now running in another one.
        moved.transition(RunState.CANCELLED)
        moved.pack_id = None
        s.flush()
        moved.transition(RunState.PENDING)
        s.flush()
        other = _running_pack(s, [moved], "w2")
        cancelled.transition(RunState.CANCELLED)
        # The worker's list: a run since deleted first, then the pack's runs.
        ids = [10**6, moved.id, ok.id, failing.id, cancelled.id]
        bad = SimpleNamespace(error="prior not built: x", status=None, row={})
        outcomes = [OK, OK, OK, bad, OK]
        lifecycle.finish_pack(s, pack.id, ids, outcomes, 9, 9, "/ck/p.pt")
        assert (moved.state, moved.pack_id, moved.checkpoint_path) == ("running", other.id, None)
        assert (ok.state, ok.checkpoint_path) == ("succeeded", "/ck/p.pt")
        assert (failing.state, failing.error) == ("failed", "prior not built: x")
        assert cancelled.state == "cancelled"
        # A failed run before a good one: both written.
        more = pending_runs(s, _user(s, "bob"), 2)
        pack2 = _running_pack(s, more, "w3")
        lifecycle.finish_pack(s, pack2.id, [r.id for r in more], [bad, OK], 3, 3, "/ck/q.pt")
        assert [r.state for r in more] == ["failed", "succeeded"]


def test_retry_and_delete_touch_only_their_own_experiment(sessions) -> None:
    with sessions() as s:
        mine = pending_runs(s, _user(s), 1)
        theirs = pending_runs(s, _user(s, "bob"), 2)
        mine[0].state = theirs[0].state = RunState.FAILED.value
        lifecycle.open_pack(s, "k", theirs[1:], "cpu")  # bob's other run is queued
        s.flush()
        assert lifecycle.retry_experiment(s, _experiment(s, mine[0])) == 1
        assert mine[0].state == "pending" and theirs[0].state == "failed"
        mine[0].transition(RunState.CANCELLED)
        s.flush()
        # Bob's queued run does not keep alice from deleting her finished experiment.
        lifecycle.delete_experiment(s, _experiment(s, mine[0]))
        s.flush()
        assert s.get(Run, theirs[1].id) is not None


def test_waiting_runs_wait_until_their_original_ends_and_take_only_its_outcome(sessions) -> None:
    """Two originals in flight, each with a run of another experiment waiting for it. Cancelling
    the first original's experiment while that run is still running leaves its waiting run
    waiting (the run may yet finish); when it succeeds, only its own waiting run takes the
    result, and a waiting run whose experiment was cancelled meanwhile stays cancelled."""
    with sessions() as s:
        alice, bob, carol = _user(s), _user(s, "bob"), _user(s, "carol")
        originals = pending_runs(s, alice, 2)
        originals[0].run_hash, originals[1].run_hash = "A", "B"
        s.flush()
        pack = _running_pack(s, originals)
        waiting = pending_runs(s, bob, 2)
        waiting[0].run_hash, waiting[1].run_hash = "A", "B"
        late = pending_runs(s, carol, 1)
        late[0].run_hash = "A"
        s.flush()
        assert lifecycle.dedupe_runs(s, waiting + late, force=False) == (0, 3)
        lifecycle.cancel_experiment(s, _experiment(s, late[0]), "carol")
        assert late[0].state == "cancelled"
        lifecycle.cancel_experiment(s, _experiment(s, originals[0]), "alice")
        assert originals[0].state == "running" and originals[0].cancel_requested
        for w, o in zip(waiting, originals, strict=True):
            assert (w.state, w.pack_id, w.cached_from_id) == ("queued", None, o.id)
        # The pack reached its end before it could stop: the first original succeeded.
        lifecycle.finish_pack(s, pack.id, [originals[0].id], [OK], 5, 5, "ck")
        assert (waiting[0].state, waiting[0].cached_from_id) == ("succeeded", originals[0].id)
        assert (waiting[1].state, waiting[1].cached_from_id) == ("queued", originals[1].id)
        assert late[0].state == "cancelled" and late[0].error == "cancelled by carol"


def test_cancel_stops_a_pack_whose_other_run_waits_to_be_sent_again(sessions) -> None:
    """A shared pack's other run was cancelled when a worker died and then retried: pending,
    back in the pack only when it is sent again. Cancelling the experiment still training in
    the pack stops the pack (its run flagged, keeping the pack) rather than releasing the run
    from a pack that would train on for no one."""
    with sessions() as s:
        mine, theirs, pack = _shared_pack_after_its_worker_died(s, flagged="theirs")
        _claim(s, pack, "w2")
        assert lifecycle.retry_experiment(s, _experiment(s, theirs)) == 1
        assert (theirs.state, theirs.pack_id) == ("pending", pack.id)
        lifecycle.cancel_experiment(s, _experiment(s, mine), "alice")
        assert (mine.state, mine.pack_id) == ("running", pack.id)
        assert mine.cancel_requested


@pytest.mark.postgres
def test_a_pack_held_for_its_results_cannot_be_requeued_under_the_worker(postgres_url) -> None:
    """While a worker holds its pack to write results, the row is locked: the scheduler's
    requeue of that pack waits (here it gives up at once, by lock_timeout) instead of moving
    the pack to another worker in the middle of the write."""
    from sqlalchemy import text, update
    from sqlalchemy.exc import OperationalError

    from cortexrnn.shared.db import get_sessionmaker
    from cortexrnn.shared.migrate import upgrade

    upgrade(url=postgres_url)
    factory = get_sessionmaker(postgres_url)
    with factory() as s, factory() as scheduler:
        pack = _running_pack(s, pending_runs(s, _user(s), 1))
        s.commit()
        assert lifecycle.hold_pack(s, pack.id, "w1")
        scheduler.execute(text("SET LOCAL lock_timeout = '50ms'"))
        with pytest.raises(OperationalError, match="lock timeout"):
            scheduler.execute(update(Pack).where(Pack.id == pack.id).values(state="queued"))
        scheduler.rollback()
        s.commit()  # the results are written: the scheduler may now change the row
        scheduler.execute(update(Pack).where(Pack.id == pack.id).values(state="queued"))
        scheduler.commit()


def test_a_new_run_is_answered_by_the_run_that_trained_or_trains_itself(
    sessions,
) -> None:
    """Submission's deduplication by run hash: a new run is answered from the run that trained
    (not from a run that was itself answered from it), and trains itself where the only
    identical runs failed, or where the one in flight is being cancelled (not waiting for it,
    nor for a run that waits for it)."""
    with sessions() as s:
        user = _user(s)
        # H: the early run failed, a later one trained and succeeded, then the early one was
        # retried and answered from it; a new run is answered from the one that trained.
        (early,) = _identical_runs(s, user, "H")
        early.state = RunState.FAILED.value
        (trained,) = _identical_runs(s, user, "H")
        trained.state = RunState.SUCCEEDED.value
        s.flush()
        lifecycle.retry_experiment(s, _experiment(s, early))
        assert (early.state, early.cached_from_id) == ("succeeded", trained.id)
        (new,) = _identical_runs(s, user, "H")
        assert lifecycle.dedupe_runs(s, [new], force=False) == (1, 0)
        assert new.cached_from_id == trained.id

        # X: the only identical run failed. C: the run in flight is being cancelled, and
        # another run waits for it (it takes its place if it stops, or its result if it ends).
        (failed,) = _identical_runs(s, user, "X")
        failed.state = RunState.FAILED.value
        (stopping,) = _identical_runs(s, user, "C")
        _running_pack(s, [stopping], "w2")
        (waiter,) = _identical_runs(s, user, "C")
        assert lifecycle.dedupe_runs(s, [waiter], force=False) == (0, 1)
        assert (waiter.state, waiter.cached_from_id) == ("queued", stopping.id)
        stopping.cancel_requested = True
        s.flush()
        fresh = _identical_runs(s, user, "X") + _identical_runs(s, user, "C")
        assert lifecycle.dedupe_runs(s, fresh, force=False) == (0, 0)
        assert [(r.state, r.cached_from_id) for r in fresh] == [("pending", None)] * 2
