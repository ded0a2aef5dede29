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
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Update, func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, object_session

from cortexrnn.services.training.results import diverged_error
from cortexrnn.shared import notify
from cortexrnn.shared.fair_share import charge
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
QUEUED = RunState.QUEUED.value
# Runs that will train unless cancelled: what a new identical run may wait for.
UNFINISHED = (RunState.PENDING.value, QUEUED, RUNNING)


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
    ended = experiment.status == ExperimentStatus.ACTIVE.value and status != ExperimentStatus.ACTIVE
    experiment.status = status.value
    if ended:
        notify.note_finished(session, experiment, dict(counts))
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


# -- submission and dedupe ---------------------------------------------------------------------
#
# A run identical to one that succeeded is answered from its results at once; one identical to
# a run still to be trained (pending, queued or running: the "original") waits for it. A
# waiting run is queued without a pack (so the scheduler never packs it and no worker claims
# it) and points at the original with `cached_from_id`, through which results are read. When
# the original ends, `_settle_waiting` gives its waiting runs its outcome: they succeed with
# it, or, when it failed, was cancelled or lost, one of them becomes the run that trains and
# the others wait for that one, so that no waiting run is ever left behind.


def answer_from_cache(run: Run, source_id: int, now: datetime) -> None:
    """A pending run whose inputs already succeeded: done at once, with that run's results."""
    run.transition(RunState.SUCCEEDED, now)
    run.cached_from_id = source_id
    run.progress = 1.0


def wait_for(run: Run, original_id: int, now: datetime) -> None:
    """A pending run identical to a run in flight: it waits for that run's results."""
    run.transition(RunState.QUEUED, now)
    run.cached_from_id = original_id
    run.pack_id = None  # never packed, so never trained (a retried run leaves its old pack)


def dedupe_runs(session: Session, runs: Sequence[Run], *, force: bool) -> tuple[int, int]:
    """Pending, flushed `runs` (new or retried) whose inputs already succeeded are answered
    from that result; those identical to a run still to be trained wait for it (the lowest id
    among identical runs trains, so identical runs of one submission train once). `force`:
    every run trains. Returns (answered from results, waiting)."""
    if force or not runs:
        return 0, 0
    hashes = {r.run_hash for r in runs}
    done: dict[str, int] = dict(  # .all(): a Result has keys(), which dict() would call
        session.execute(
            select(Run.run_hash, func.min(Run.id))
            .where(
                Run.run_hash.in_(hashes),
                Run.state == RunState.SUCCEEDED.value,
                Run.cached_from_id.is_(None),
            )
            .group_by(Run.run_hash)
        ).all()
    )
    training: dict[str, int] = dict(
        session.execute(
            select(Run.run_hash, func.min(Run.id))
            .where(
                Run.run_hash.in_(hashes - set(done)),
                Run.state.in_(UNFINISHED),
                Run.cached_from_id.is_(None),
                Run.cancel_requested.is_(False),
            )
            .group_by(Run.run_hash)
        ).all()
    )
    now = utcnow()
    n_cached = n_waiting = 0
    for run in runs:
        if run.run_hash in done:
            answer_from_cache(run, done[run.run_hash], now)
            n_cached += 1
        elif training.get(run.run_hash, run.id) != run.id:
            wait_for(run, training[run.run_hash], now)
            n_waiting += 1
    return n_cached, n_waiting


def _settle_waiting(session: Session, ended: Iterable[Run]) -> None:
    """Runs that were waiting for one of the `ended` runs take its outcome (see above)."""
    # Only a run that trains itself (no cached_from_id) is ever waited for.
    originals = {
        r.id: r for r in ended if RunState(r.state).is_terminal and r.cached_from_id is None
    }
    if not originals:
        return
    waiting = list(
        session.scalars(
            select(Run)
            .where(
                Run.cached_from_id.in_(originals),
                Run.state == QUEUED,
                Run.pack_id.is_(None),
            )
            .order_by(Run.id)
        )
    )
    now = utcnow()
    promoted: dict[int, Run] = {}
    touched: set[int] = set()
    for run in waiting:
        original = originals[run.cached_from_id or 0]
        touched.add(run.experiment_id)
        if original.state == RunState.SUCCEEDED.value:
            run.transition(RunState.PENDING, now)
            answer_from_cache(run, original.id, now)
            run.step, run.total_steps = original.step, original.total_steps
        elif original.id not in promoted:
            # The original will not produce results: this run trains in its place.
            run.transition(RunState.PENDING, now)
            run.cached_from_id = None
            promoted[original.id] = run
        else:
            run.cached_from_id = promoted[original.id].id  # the new original
    refresh_experiments(session, touched)


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
    # Other experiments' runs waiting for the ones cancelled here train instead.
    _settle_waiting(session, session.scalars(select(Run).where(Run.experiment_id == experiment.id)))
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
        run.cached_from_id = None  # a run that waited for another and was cancelled
    session.flush()
    # As at submission: answered from an identical run's results, or waiting for one in flight.
    dedupe_runs(session, runs, force=bool((experiment.spec or {}).get("force")))
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


def requeue_or_lose(
    pack: Pack,
    live: Sequence[Run],
    max_attempts: int,
    now: datetime,
    *,
    counts_attempt: bool = True,
) -> bool:
    """A pack whose worker stopped heartbeating: queued again with the same runs (so that it
    resumes from its checkpoint), or lost with them after `max_attempts`. True: requeued.
    `counts_attempt=False`: a pack its worker gave back on purpose (a drain before a Slurm
    time limit) is requeued without using up an attempt, however often that happens.

    Runs whose cancellation was asked for are cancelled now instead: their worker died before
    the pack's next step, where it would have stopped them, and requeueing them would train
    them again. A pack left with no other run is cancelled, not requeued."""
    session = object_session(pack)
    cancelled = [r for r in live if r.cancel_requested]
    for run in cancelled:
        run.transition(RunState.CANCELLED, now)
        run.error = (
            f"cancelled; its worker ({pack.worker}) stopped before the run reached its next "
            "step, so it was not trained again (retry resumes it)"
        )
    live = [r for r in live if not r.cancel_requested]
    requeued = False
    if not live:
        pack.state = RunState.CANCELLED.value
    elif counts_attempt and pack.attempt + 1 >= max_attempts:
        pack.attempt += 1
        pack.state = RunState.LOST.value
        for run in live:
            run.transition(RunState.LOST)
            run.error = (
                f"lost {pack.attempt} times (worker stopped heartbeating; last: {pack.worker}); "
                "retry the experiment to try again"
            )
    else:
        pack.attempt += int(counts_attempt)
        pack.state = RunState.QUEUED.value
        pack.worker = None
        pack.dispatched_at = now
        for run in live:
            run.transition(RunState.QUEUED)
            run.attempt = pack.attempt
            run.worker = None
        requeued = True
    if session is not None:
        ended = cancelled + ([] if requeued else live)
        _settle_waiting(session, ended)
        refresh_experiments(session, (r.experiment_id for r in ended))
    return requeued


# -- the worker: claim, heartbeat, progress, fail, cancel, finish ------------------------------


def in_pack(pack_id: int, run_ids: list[int]) -> tuple[Any, Any]:
    """Filter: the runs of `run_ids` still in the pack. A run cancelled out of a pack it shared
    with other experiments is released (pack_id cleared): nothing of the pack is written for it."""
    return Run.id.in_(run_ids), Run.pack_id == pack_id


def _updated(session: Session, statement: Update) -> int:
    """Rows matched by an UPDATE. `Session.execute` is typed as returning a plain `Result`;
    for an UPDATE without RETURNING it is a `CursorResult`, which has the row count."""
    return cast("CursorResult[Any]", session.execute(statement)).rowcount


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
    failed = []
    for run in session.scalars(select(Run).where(*in_pack(pack_id, run_ids))):
        if run.state == RUNNING:
            run.transition(RunState.FAILED)
            run.error = message
            failed.append(run)
    _pack(session, pack_id).state = RunState.FAILED.value
    charge(session, failed, utcnow())
    _settle_waiting(session, failed)
    _refresh_runs_experiments(session, run_ids)


def cancel_pack(
    session: Session, pack_id: int, run_ids: list[int], step: int, total: int, checkpoint: str
) -> None:
    """Training stopped because every run asked to cancel; a retry resumes from `checkpoint`."""
    cancelled = []
    for run in session.scalars(select(Run).where(*in_pack(pack_id, run_ids))):
        if run.state == RUNNING:
            run.transition(RunState.CANCELLED)
            run.error = f"cancelled at step {step} of {total}; retry resumes it"
            run.checkpoint_path = checkpoint  # a retry sends the same pack again
            cancelled.append(run)
    _pack(session, pack_id).state = RunState.CANCELLED.value
    charge(session, cancelled, utcnow())
    _settle_waiting(session, cancelled)
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
    ended = []
    for rid, outcome in zip(run_ids, outcomes, strict=True):
        run = session.get(Run, rid)
        if run is None or run.pack_id != pack_id or run.state != RUNNING:
            continue  # released (its experiment may be gone), cancelled or requeued meanwhile
        ended.append(run)
        if outcome.error is not None:
            run.transition(RunState.FAILED)
            run.error = outcome.error
            continue
        run.progress, run.step, run.total_steps = 1.0, step, total
        run.checkpoint_path = checkpoint
        if outcome.status == "diverged":
            run.transition(RunState.FAILED)
            run.error = diverged_error(outcome.row["diverged_step"])
        else:
            run.transition(RunState.SUCCEEDED)
    _pack(session, pack_id).state = RunState.SUCCEEDED.value
    charge(session, ended, utcnow())
    _settle_waiting(session, ended)
    _refresh_runs_experiments(session, run_ids)
