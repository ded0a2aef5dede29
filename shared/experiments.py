"""Creating experiments and reading their state: the database side of a submission.

Shared by the API (submissions, status) and the worker (status refresh after runs end).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cortexrnn.shared.models import (
    Dataset,
    Experiment,
    ExperimentStatus,
    Run,
    RunState,
    TERMINAL_RUN_STATES,
    User,
    as_utc,
    utcnow,
)
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cortexrnn.services.spec import ExperimentSpec


class IdempotencyConflict(ValueError):
    """The idempotency key was used before for a different spec."""


@dataclass
class Submission:
    experiment: Experiment
    created: bool  # False: an idempotent retry returned the earlier experiment
    n_runs: int
    n_cached: int


class SpecDatasetError(ValueError):
    """The spec names a dataset or a selection the store cannot satisfy."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def resolve_dataset(session: Session, spec: ExperimentSpec) -> Dataset:
    """The dataset row the spec names, checked against its neuron selection; the embedded
    default is created on first use."""
    from cortexrnn.services.connectome.errors import DatasetError
    from cortexrnn.services.connectome.selection import select
    from cortexrnn.shared.datasets_registry import (
        DEFAULT_DATASET_NAME,
        ensure_default_dataset,
        get_dataset_by_name,
        get_store,
    )

    row = get_dataset_by_name(session, spec.dataset)
    if row is None and spec.dataset == DEFAULT_DATASET_NAME:
        ensure_default_dataset()
        row = get_dataset_by_name(session, spec.dataset)
    if row is None:
        raise SpecDatasetError("dataset", f"unknown dataset {spec.dataset!r}; list them with GET /v1/datasets "
                                          "(`cortexrnn-client datasets list`)")
    store = get_store()
    if not store.has(row.content_sha256):
        raise SpecDatasetError("dataset", f"dataset {spec.dataset!r} is registered but its files are missing "
                                          "from the store; ask an admin to re-ingest it")
    try:
        select(store.get(row.content_sha256), spec.sampling)
    except DatasetError as exc:
        raise SpecDatasetError("sampling", str(exc)) from None
    return row


def create_experiment(
    session: Session, owner: User, spec: ExperimentSpec, *, idempotency_key: str | None = None,
    dataset_sha: str | None = None,
) -> Submission:
    """Store an experiment and one row per run; runs whose inputs already succeeded are
    answered from that result (cached) unless the spec says `force: true`."""
    spec_hash = spec.canonical_hash()
    if idempotency_key:
        earlier = session.scalar(
            select(Experiment).where(Experiment.owner_id == owner.id, Experiment.idempotency_key == idempotency_key)
        )
        if earlier is not None:
            if earlier.spec_hash != spec_hash:
                raise IdempotencyConflict(
                    f"Idempotency-Key {idempotency_key!r} was already used for experiment {earlier.id} "
                    "with a different spec; use a new key"
                )
            n_runs = session.scalar(select(func.count()).where(Run.experiment_id == earlier.id)) or 0
            n_cached = session.scalar(
                select(func.count()).where(Run.experiment_id == earlier.id, Run.cached_from_id.is_not(None))
            ) or 0
            return Submission(earlier, False, n_runs, n_cached)

    priority = spec.priority_value
    experiment = Experiment(
        name=spec.name,
        owner_id=owner.id,
        spec=spec.model_dump(mode="json"),
        spec_hash=spec_hash,
        priority=priority,
        tags=list(spec.tags),
        idempotency_key=idempotency_key,
    )
    session.add(experiment)
    session.flush()

    runs = spec.expand_runs()
    hashes = [spec.run_hash(r, dataset_sha) for r in runs]
    done: dict[str, int] = {}
    if not spec.force:
        for run_hash, run_id in session.execute(
            select(Run.run_hash, func.min(Run.id))
            .where(Run.run_hash.in_(set(hashes)), Run.state == RunState.SUCCEEDED.value, Run.cached_from_id.is_(None))
            .group_by(Run.run_hash)
        ):
            done[run_hash] = run_id
    now = utcnow()
    n_cached = 0
    for run, run_hash in zip(runs, hashes, strict=True):
        row = Run(
            experiment_id=experiment.id,
            owner_id=owner.id,
            condition=run.condition_name,
            seed=run.seed,
            task=run.task_name,
            run_hash=run_hash,
            pack_key=spec.pack_key(run),
            priority=priority,
        )
        if run_hash in done:
            row.state = RunState.SUCCEEDED.value
            row.cached_from_id = done[run_hash]
            row.progress = 1.0
            row.finished_at = now
            n_cached += 1
        session.add(row)
    session.flush()
    refresh_experiment_status(session, experiment)
    return Submission(experiment, True, len(runs), n_cached)


def result_run_id(run: Run) -> int:
    """The run whose stored results answer for `run` (itself, or the original it was cached from)."""
    return run.cached_from_id or run.id


def state_counts(session: Session, experiment_id: int) -> Counter[str]:
    rows = session.execute(
        select(Run.state, func.count()).where(Run.experiment_id == experiment_id).group_by(Run.state)
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


@dataclass
class Progress:
    counts: dict[str, int]
    total: int
    fraction: float  # 0..1 over all runs (terminal runs count as done)
    eta_seconds: float | None


def experiment_progress(session: Session, experiment: Experiment) -> Progress:
    rows = list(session.execute(
        select(Run.state, Run.progress, Run.started_at, Run.finished_at).where(Run.experiment_id == experiment.id)
    ))
    counts = Counter(r.state for r in rows)
    total = len(rows)
    done = sum(1.0 if RunState(r.state).is_terminal else float(r.progress or 0.0) for r in rows)
    fraction = done / total if total else 1.0
    eta = None
    started = [as_utc(r.started_at) for r in rows if r.started_at is not None]
    if 0 < fraction < 1 and started:
        # From the first run's start, not the submission: time spent waiting in the queue says
        # nothing about how fast the runs go once they train.
        elapsed = (utcnow() - min(started)).total_seconds()
        eta = elapsed * (1 - fraction) / fraction
    return Progress(dict(counts), total, fraction, eta)
