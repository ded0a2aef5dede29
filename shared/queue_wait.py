"""When would an experiment submitted now start? A simple, honest estimate for the dry run
(`POST /v1/experiments/validate`): the worker time of the work ahead of it, from the cost
model of each waiting experiment's spec, divided by the live worker slots of the queue.

It assumes everything already waiting goes first (fair share may well serve a new user
sooner) and that each slot works through one network's worker time at the rate of the cost
model (services/spec/cost.py): an upper bound in the common case, not a promise.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cortexrnn.services.spec import ExperimentSpec
from cortexrnn.shared.admission import experiment_cost, flops_per_second
from cortexrnn.shared.models import Experiment, Run, RunState
from cortexrnn.shared.queue_status import build_queue
from cortexrnn.shared.settings import Settings

PENDING, QUEUED, RUNNING = RunState.PENDING.value, RunState.QUEUED.value, RunState.RUNNING.value

# Seconds per run by (spec hash, N, rate, nulls): a spec's estimate never changes.
_PER_RUN: dict[tuple[str, int, float, int], float] = {}
_CACHE_SIZE = 4096


@dataclass(frozen=True)
class QueueWait:
    slots: int  # live worker slots serving the queue
    runs_ahead: int  # runs that will train before a new submission
    work_ahead_s: float  # their worker time still to do
    expected_start_s: float | None  # None: no live worker
    unknown: int  # runs ahead whose experiment's spec could not be estimated (not counted)


def _seconds_per_run(experiment: Experiment, settings: Settings) -> float | None:
    units = len(experiment.selection) if experiment.selection else None
    try:
        spec = ExperimentSpec.model_validate(experiment.spec)
    except ValueError:  # stored under an older spec model: no estimate
        return None
    units = units or spec.sampling.n_neurons
    if not units:
        return None
    key = (experiment.spec_hash, units, flops_per_second(settings), settings.final_nulls)
    if key not in _PER_RUN:
        if len(_PER_RUN) >= _CACHE_SIZE:
            _PER_RUN.clear()
        _PER_RUN[key] = experiment_cost(spec, units, settings).worker_seconds_per_run
    return _PER_RUN[key]


def queue_wait(session: Session, settings: Settings) -> QueueWait:
    # Runs that will train: pending, queued in a pack, running (less their progress); a
    # queued run without a pack waits for an identical one and costs nothing.
    ahead: dict[int, float] = defaultdict(float)
    counts: dict[int, int] = defaultdict(int)
    for experiment_id, state, packed, n, progress in session.execute(
        select(
            Run.experiment_id,
            Run.state,
            Run.pack_id.is_not(None),
            func.count(),
            func.sum(Run.progress),
        )
        .where(Run.state.in_([PENDING, QUEUED, RUNNING]))
        .group_by(Run.experiment_id, Run.state, Run.pack_id.is_not(None))
    ):
        if state == QUEUED and not packed:
            continue
        counts[experiment_id] += n
        ahead[experiment_id] += n - (float(progress or 0.0) if state == RUNNING else 0.0)
    work, unknown = 0.0, 0
    if ahead:
        for experiment in session.scalars(select(Experiment).where(Experiment.id.in_(ahead))):
            per_run = _seconds_per_run(experiment, settings)
            if per_run is None:
                unknown += counts[experiment.id]
            else:
                work += per_run * ahead[experiment.id]
    slots = build_queue(session, settings).slots
    return QueueWait(
        slots=slots,
        runs_ahead=sum(counts.values()),
        work_ahead_s=work,
        expected_start_s=work / slots if slots else None,
        unknown=unknown,
    )
