"""How far an experiment is, said honestly: the phase it is in, the share of its runs that
have produced results, and an ETA from what its finished runs actually cost.

A cancelled or failed run is not progress: it counts as not done, so a cancelled experiment
never reads "100 %". A run whose training has reached its last step still measures and saves
before it succeeds, so a run counts fully only once it has succeeded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from statistics import mean
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from cortexrnn.shared.models import Experiment, Run, RunState, as_utc, utcnow

# A run still training or saving shows at most this much of itself as done.
UNFINISHED_CAP = 0.99

ACTIVE_STATES = {RunState.PENDING.value, RunState.QUEUED.value, RunState.RUNNING.value}


@dataclass
class Progress:
    counts: dict[str, int]
    total: int
    fraction: float  # 0..1: succeeded runs, plus the share of their steps the active ones did
    eta_seconds: float | None
    # queued (nothing started) | running | waiting (active, nothing running now: between
    # packs or behind other users' work) | succeeded | failed | cancelled
    phase: str = "queued"


def run_done(state: str, progress: float | None) -> float:
    """How much of one run counts as done: 1 once it succeeded, an active run's progress (at
    most UNFINISHED_CAP), nothing for a failed, lost or cancelled one."""
    if state == RunState.SUCCEEDED.value:
        return 1.0
    if state in ACTIVE_STATES:
        return min(float(progress or 0.0), UNFINISHED_CAP)
    return 0.0


def run_done_sql() -> ColumnElement[float]:
    """`run_done` as a column expression, for totals summed in the database."""
    return case(
        (Run.state == RunState.SUCCEEDED.value, 1.0),
        (
            Run.state.in_(ACTIVE_STATES),
            case(
                (Run.progress > UNFINISHED_CAP, UNFINISHED_CAP),
                else_=func.coalesce(Run.progress, 0.0),
            ),
        ),
        else_=0.0,
    )


def experiment_phase(status: str, counts: dict[str, int], started: bool) -> str:
    if status != "active":
        return status
    if counts.get(RunState.RUNNING.value):
        return "running"
    return "waiting" if started else "queued"


def run_seconds(started_at: datetime | None, finished_at: datetime | None) -> float | None:
    if started_at is None or finished_at is None:
        return None
    return max(0.0, (as_utc(finished_at) - as_utc(started_at)).total_seconds())


def estimate_eta(rows: Sequence[Any], now: datetime) -> float | None:
    """Seconds left: the work left (in runs) x the measured cost of one run / how many runs
    train at once. The cost is the mean wall time of the succeeded runs (once one has, so
    that the estimate settles instead of jumping with every progress report), else what the
    running runs' progress implies. Runs of one pack train together and share their start
    time, so the runs that train at once are the running ones, or, between packs, the
    typical pack seen so far. None until anything has been measured."""
    durations = [
        d
        for r in rows
        if r.state == RunState.SUCCEEDED.value
        and r.cached_from_id is None
        and (d := run_seconds(r.started_at, r.finished_at)) is not None
    ]
    running = [r for r in rows if r.state == RunState.RUNNING.value and r.started_at is not None]
    if durations:
        per_run = mean(durations)
    else:
        implied = [
            (now - as_utc(r.started_at)).total_seconds() / r.progress
            for r in running
            if r.progress and r.progress > 0.0
        ]
        if not implied:
            return None
        per_run = mean(implied)
    left = sum(
        1.0 - min(float(r.progress or 0.0), UNFINISHED_CAP)
        for r in rows
        if r.state in ACTIVE_STATES
    )
    finished_starts = [
        r.started_at
        for r in rows
        if r.state == RunState.SUCCEEDED.value and r.cached_from_id is None and r.started_at
    ]
    pack_size = len(finished_starts) / len(set(finished_starts)) if finished_starts else 1.0
    at_once = max(float(len(running)), pack_size, 1.0)
    return left * per_run / at_once


def experiment_progress(session: Session, experiment: Experiment) -> Progress:
    rows = list(
        session.execute(
            select(
                Run.state, Run.progress, Run.started_at, Run.finished_at, Run.cached_from_id
            ).where(Run.experiment_id == experiment.id)
        )
    )
    counts = Counter(r.state for r in rows)
    total = len(rows)
    done = sum(run_done(r.state, r.progress) for r in rows)
    fraction = done / total if total else 0.0
    started = any(r.started_at is not None or r.cached_from_id is not None for r in rows)
    phase = experiment_phase(experiment.status, dict(counts), started)
    eta = estimate_eta(rows, utcnow()) if experiment.status == "active" else None
    return Progress(dict(counts), total, fraction, eta, phase)
