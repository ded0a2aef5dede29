"""Every state change of runs and packs, in one place. The API (cancel, retry, delete), the
scheduler (dispatch, requeue, lost) and the worker (claim, heartbeat, progress, fail,
cancel, finish) call these functions; none of them sets a state itself.

Each function works in the caller's session and transaction (the API's request session, the
scheduler's tick, a worker's retried transaction: `shared.db.transact`). Only `claim_pack`
commits, because its conditional UPDATE is what guarantees that no pack trains twice at once.
An experiment's status follows from its runs: every function that ends runs refreshes it.

The scheduler keeps its decisions (which pack goes next, which runs form it, when a message
may be lost and is sent again: a timestamp, not a state); what those decisions do to states
is here (`open_pack`, `send_pack_again`, `requeue_or_lose`, `close_pack`).

Slightly over 400 lines on purpose: the point of this module is that every transition is in
one file, where the rules can be read side by side.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Update, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from cortexrnn.shared.models import (
    TERMINAL_RUN_STATES,
    Experiment,
    ExperimentStatus,
    Pack,
    Run,
    RunState,
    utcnow,
)

if TYPE_CHECKING:
    from cortexrnn.services.runner.pack import RunOutcome

IN_FLIGHT = (RunState.QUEUED.value, RunState.RUNNING.value)
RETRYABLE = (RunState.FAILED.value, RunState.LOST.value, RunState.CANCELLED.value)
RUNNING = RunState.RUNNING.value


class LifecycleConflict(ValueError):
    """The runs' states do not allow this change now (the API answers 409)."""


# -- experiment status -------------------------------------------------------------------------


def state_counts(session: Session, experiment_id: int) -> Counter[str]:
    rows = session.execute(
        select(Run.state, func.count())
        .where(Run.experiment_id == experiment_id)
        .group_by(Run.state)
    )
    return Counter({state: n for state, n in rows})


def refresh_experiment_status(session: Session, experiment: Experiment) -> str:
    counts = state_counts(session, experiment.id)
    total = sum(counts.values())
    terminal = sum(counts[s.value] for s in TERMINAL_RUN_STATES)
    if total and terminal == total:
        if counts[RunState.SUCCEEDED.value] == total:
            status = ExperimentStatus.SUCCEEDED
        elif counts[RunState.FAILED.value] or counts[RunState.LOST.value]:
            status = ExperimentStatus.FAILED
        else:
            status = ExperimentStatus.CANCELLED
        if experiment.finished_at is None:
            experiment.finished_at = utcnow()
    else:
        status = ExperimentStatus.ACTIVE
        experiment.finished_at = None
    experiment.status = status.value
    return status.value


def refresh_experiments(session: Session, experiment_ids: Iterable[int]) -> None:
    for experiment_id in set(experiment_ids):
        experiment = session.get(Experiment, experiment_id)
        if experiment is not None:
            refresh_experiment_status(session, experiment)


def _refresh_runs_experiments(session: Session, run_ids: list[int]) -> None:
    refresh_experiments(
        session, session.scalars(select(Run.experiment_id).where(Run.id.in_(run_ids)))
    )


# -- submission --------------------------------------------------------------------------------


def answer_from_cache(run: Run, source_id: int, now: datetime) -> None:
    """A new run whose inputs already succeeded: done at once, with that run's results."""
    run.state = RunState.SUCCEEDED.value
    run.cached_from_id = source_id
    run.progress = 1.0
    run.finished_at = now


# -- the API: cancel, retry, delete ------------------------------------------------------------


def cancel_experiment(session: Session, experiment: Experiment, by: str) -> None:
    """Cancel every unfinished run: waiting runs at once, running ones at their next step
    (they keep their checkpoint, so a retry resumes them)."""
    for run in session.scalars(select(Run).where(Run.experiment_id == experiment.id)):
        state = RunState(run.state)
        if state in (RunState.PENDING, RunState.QUEUED):
            run.transition(RunState.CANCELLED)
            run.error = f"cancelled by {by}"
        elif state is RunState.RUNNING:
            run.cancel_requested = True
    release_from_shared_packs(session, experiment, by)
    refresh_experiment_status(session, experiment)


def release_from_shared_packs(session: Session, experiment: Experiment, by: str) -> None:
    """A running pack stops at its next step only when all of its runs are cancelled. Where it
    also trains other experiments' runs, this experiment's runs leave it now: cancelled at
    once, detached from the pack (which trains on without writing their results), so that a
    retry trains them afresh in a new pack."""
    running = list(
        session.scalars(
            select(Run).where(
                Run.experiment_id == experiment.id, Run.state == RUNNING, Run.pack_id.is_not(None)
            )
        )
    )
    for pack_id in {r.pack_id for r in running}:
        others = session.scalar(
            select(func.count()).where(
                Run.pack_id == pack_id,
                Run.experiment_id != experiment.id,
                Run.cancel_requested.is_(False),
                Run.state.in_(IN_FLIGHT),
            )
        )
        if not others:
            continue
        for run in (r for r in running if r.pack_id == pack_id):
            run.transition(RunState.CANCELLED)
            run.error = (
                f"cancelled by {by}; its pack trains on for other experiments, "
                "so a retry starts afresh"
            )
            run.pack_id, run.checkpoint_path, run.cancel_requested = None, None, False


def retry_experiment(session: Session, experiment: Experiment) -> int:
    """Put failed, lost and cancelled runs back in the queue (from their checkpoint where one
    exists); returns how many."""
    runs = list(
        session.scalars(
            select(Run).where(Run.experiment_id == experiment.id, Run.state.in_(RETRYABLE))
        )
    )
    if not runs:
        raise LifecycleConflict(
            f"experiment {experiment.id} has no failed, lost or cancelled runs to retry"
        )
    for run in runs:
        run.transition(RunState.PENDING)
        run.error = None
        run.cancel_requested = False
        run.attempt = 0
    refresh_experiment_status(session, experiment)
    return len(runs)


def delete_experiment(session: Session, experiment: Experiment) -> None:
    """Delete a finished experiment with its runs and results; refused while runs are queued
    or running, or while other experiments' runs answer from its results."""
    active = session.scalar(
        select(func.count()).where(Run.experiment_id == experiment.id, Run.state.in_(IN_FLIGHT))
    )
    if active:
        raise LifecycleConflict(
            f"experiment {experiment.id} still has {active} queued or running runs; cancel it first"
        )
    referenced = session.scalar(
        select(func.count())
        .select_from(Run)
        .where(
            Run.cached_from_id.in_(select(Run.id).where(Run.experiment_id == experiment.id)),
            Run.experiment_id != experiment.id,
        )
    )
    if referenced:
        raise LifecycleConflict(
            f"{referenced} runs of other experiments reuse this experiment's results; "
            "it cannot be deleted"
        )
    session.delete(experiment)


# -- the scheduler: dispatch, requeue, lost ----------------------------------------------------


def open_pack(session: Session, pack_key: str, runs: Sequence[Run], queue: str) -> Pack:
    """A new pack of pending `runs`, queued for the broker."""
    pack = Pack(pack_key=pack_key, queue=queue, state=RunState.QUEUED.value, dispatched_at=utcnow())
    session.add(pack)
    session.flush()
    for run in runs:
        run.pack_id = pack.id
        run.transition(RunState.QUEUED)
    return pack


def send_pack_again(session: Session, pack: Pack, queue: str) -> Pack:
    """A retried run's earlier pack goes out again with its pending runs, so that a pack
    retried whole resumes from its checkpoint."""
    pack.state, pack.worker, pack.attempt, pack.queue = RunState.QUEUED.value, None, 0, queue
    pack.dispatched_at = utcnow()
    for run in session.scalars(
        select(Run).where(Run.pack_id == pack.id, Run.state == RunState.PENDING.value)
    ):
        run.transition(RunState.QUEUED)
    return pack


def close_pack(pack: Pack) -> None:
    """A pack none of whose runs has anything left to do."""
    pack.state = RunState.SUCCEEDED.value


def requeue_or_lose(pack: Pack, live: Sequence[Run], max_attempts: int, now: datetime) -> bool:
    """A pack whose worker stopped heartbeating: queued again with the same runs (so that it
    resumes from its checkpoint), or lost with them after `max_attempts`. True: requeued."""
    pack.attempt += 1
    if pack.attempt >= max_attempts:
        pack.state = RunState.LOST.value
        for run in live:
            run.transition(RunState.LOST)
            run.error = (
                f"lost {pack.attempt} times (worker stopped heartbeating; last: {pack.worker}); "
                "retry the experiment to try again"
            )
        return False
    pack.state = RunState.QUEUED.value
    pack.worker = None
    pack.dispatched_at = now
    for run in live:
        run.transition(RunState.QUEUED)
        run.attempt = pack.attempt
        run.worker = None
    return True


# -- the worker: claim, heartbeat, progress, fail, cancel, finish ------------------------------


def in_pack(pack_id: int, run_ids: list[int]) -> tuple[Any, Any]:
    """Filter: the runs of `run_ids` still in the pack. A run cancelled out of a pack it shared
    with other experiments is released (pack_id cleared): nothing of the pack is written for it."""
    return Run.id.in_(run_ids), Run.pack_id == pack_id


def _updated(session: Session, statement: Update) -> int:
    """Rows matched by an UPDATE. `Session.execute` is typed as returning a plain `Result`;
    for an UPDATE without RETURNING it is a `CursorResult`, which has the row count."""
    result = session.execute(statement)
    if not isinstance(result, CursorResult):
        raise TypeError(f"an UPDATE returned {type(result).__name__}, not a CursorResult")
    return result.rowcount


def claim_pack(session: Session, pack_id: int, worker: str) -> list[Run] | None:
    """Atomically take a queued pack for `worker` and start its queued runs; None if another
    worker has it or it is gone. A pack with no run left to start is cancelled. Commits.

    The conditional UPDATE is the guarantee that no pack is trained twice at once."""
    claimed = _updated(
        session,
        update(Pack)
        .where(Pack.id == pack_id, Pack.state == RunState.QUEUED.value)
        .values(state=RUNNING, worker=worker, heartbeat_at=utcnow()),
    )
    if not claimed:
        session.rollback()
        return None
    runs = list(session.scalars(select(Run).where(Run.pack_id == pack_id).order_by(Run.id)))
    now = utcnow()
    for run in runs:
        if run.state == RunState.QUEUED.value:
            run.transition(RunState.RUNNING, now)
            run.worker = worker
            run.heartbeat_at = now
    started = [r for r in runs if r.state == RUNNING]
    if not started:
        # The UPDATE above just matched this row in this transaction.
        session.get_one(Pack, pack_id).state = RunState.CANCELLED.value
    session.commit()
    return started


def heartbeat_pack(session: Session, pack_id: int, worker: str, now: datetime) -> bool:
    """Heartbeat the pack if `worker` still holds it; False: it was requeued to another."""
    return bool(
        _updated(
            session,
            update(Pack)
            .where(Pack.id == pack_id, Pack.worker == worker, Pack.state == RUNNING)
            .values(heartbeat_at=now),
        )
    )


def heartbeat_runs(
    session: Session, pack_id: int, run_ids: list[int], worker: str, now: datetime
) -> None:
    session.execute(
        update(Run).where(*in_pack(pack_id, run_ids), Run.worker == worker).values(heartbeat_at=now)
    )


def cancel_requested(session: Session, pack_id: int, run_ids: list[int]) -> bool:
    """The pack stops at its next step when every run still in it was asked to cancel."""
    flags = list(session.scalars(select(Run.cancel_requested).where(*in_pack(pack_id, run_ids))))
    return bool(flags) and all(flags)


def record_progress(
    session: Session, pack_id: int, run_id: int, step: int, total: int, now: datetime
) -> bool:
    """A running run's step, progress and heartbeat; False where it no longer runs in the pack."""
    return bool(
        _updated(
            session,
            update(Run)
            .where(Run.id == run_id, Run.pack_id == pack_id, Run.state == RUNNING)
            .values(
                heartbeat_at=now,
                step=step,
                total_steps=total,
                progress=min(step / max(total, 1), 0.999),
            ),
        )
    )


def members(session: Session, pack_id: int, run_ids: list[int]) -> set[int]:
    return set(session.scalars(select(Run.id).where(*in_pack(pack_id, run_ids))))


def hold_pack(session: Session, pack_id: int, worker: str) -> bool:
    """Lock the pack row for writing its results; False if it went to another worker."""
    pack = session.get(Pack, pack_id, with_for_update=True)
    return pack is not None and pack.worker == worker and pack.state == RUNNING


def _pack(session: Session, pack_id: int) -> Pack:
    """A pack the worker claimed; packs are never deleted (a run's pack_id is only cleared)."""
    return session.get_one(Pack, pack_id)


def fail_pack(session: Session, pack_id: int, run_ids: list[int], message: str) -> None:
    """The whole pack failed (its inputs could not be prepared, or training raised)."""
    for run in session.scalars(select(Run).where(*in_pack(pack_id, run_ids))):
        if run.state == RUNNING:
            run.transition(RunState.FAILED)
            run.error = message
    _pack(session, pack_id).state = RunState.FAILED.value
    _refresh_runs_experiments(session, run_ids)


def cancel_pack(
    session: Session, pack_id: int, run_ids: list[int], step: int, total: int, checkpoint: str
) -> None:
    """Training stopped because every run asked to cancel; a retry resumes from `checkpoint`."""
    for run in session.scalars(select(Run).where(*in_pack(pack_id, run_ids))):
        if run.state == RUNNING:
            run.transition(RunState.CANCELLED)
            run.error = f"cancelled at step {step} of {total}; retry resumes it"
            run.checkpoint_path = checkpoint  # a retry sends the same pack again
    _pack(session, pack_id).state = RunState.CANCELLED.value
    _refresh_runs_experiments(session, run_ids)


def finish_pack(
    session: Session,
    pack_id: int,
    run_ids: list[int],
    outcomes: Sequence[RunOutcome],
    step: int,
    total: int,
    checkpoint: str,
) -> None:
    """Training ended: each run still running in the pack succeeds, or fails with its reason
    (prior not built, diverged). Runs cancelled or requeued meanwhile keep their state."""
    for rid, outcome in zip(run_ids, outcomes, strict=True):
        run = session.get(Run, rid)
        if run is None or run.pack_id != pack_id or run.state != RUNNING:
            continue  # released (its experiment may be gone), cancelled or requeued meanwhile
        if outcome.error is not None:
            run.transition(RunState.FAILED)
            run.error = outcome.error
            continue
        run.progress, run.step, run.total_steps = 1.0, step, total
        run.checkpoint_path = checkpoint
        if outcome.status == "diverged":
            run.transition(RunState.FAILED)
            run.error = (
                "diverged: the loss became NaN or infinite at step "
                f"{outcome.row['diverged_step']}; "
                "lower training.lr or the regulariser strength"
            )
        else:
            run.transition(RunState.SUCCEEDED)
    _pack(session, pack_id).state = RunState.SUCCEEDED.value
    _refresh_runs_experiments(session, run_ids)
