"""Creating experiments and reading their state: the database side of a submission.

A submission resolves everything a worker needs once: the dataset's content hash and the
neurons its sampling selects (stored on the experiment), and each run's own inputs (stored on
its row), so that no worker re-validates or re-expands the spec. Run and experiment states
change only in shared/lifecycle.py.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.selection import NeuronSelection
from cortexrnn.services.connectome.selection import select as select_neurons
from cortexrnn.services.spec import ExperimentSpec, RunSpec
from cortexrnn.services.spec.cost import ExperimentCost
from cortexrnn.shared.datasets_registry import (
    DEFAULT_DATASET_NAME,
    ensure_default_dataset,
    get_dataset_by_name,
    get_store,
)
from cortexrnn.shared.lifecycle import dedupe_runs, refresh_experiment_status, state_counts
from cortexrnn.shared.models import Dataset, Experiment, Run, RunState, User
from cortexrnn.shared.progress import Progress, experiment_progress
from cortexrnn.shared.routing import run_needs

__all__ = [  # refresh_experiment_status and state_counts live in lifecycle; importable here too
    "IdempotencyConflict",
    "Progress",
    "ResolvedDataset",
    "SpecDatasetError",
    "Submission",
    "create_experiment",
    "experiment_progress",
    "refresh_experiment_status",
    "resolve_dataset",
    "resolve_selection",
    "result_run_id",
    "run_inputs",
    "state_counts",
]


class IdempotencyConflict(ValueError):
    """The idempotency key was used before for a different spec."""


@dataclass
class Submission:
    experiment: Experiment
    created: bool  # False: an idempotent retry returned the earlier experiment
    n_runs: int
    n_cached: int  # answered from an identical run's results
    n_waiting: int = 0  # waiting for an identical run in flight, whose results they take


class SpecDatasetError(ValueError):
    """The spec names a dataset or a selection the store cannot satisfy."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class ResolvedDataset:
    row: Dataset
    selection: list[int]  # the sorted neuron indices the spec's sampling selects


def resolve_selection(session: Session, spec: ExperimentSpec) -> ResolvedDataset:
    """The dataset row the spec names and the neurons its sampling selects there (checked
    here, stored with the experiment); the embedded default is created on first use."""
    row = get_dataset_by_name(session, spec.dataset)
    if row is None and spec.dataset == DEFAULT_DATASET_NAME:
        ensure_default_dataset()
        row = get_dataset_by_name(session, spec.dataset)
    if row is None:
        raise SpecDatasetError(
            "dataset",
            f"unknown dataset {spec.dataset!r}{_nearest_dataset(session, spec.dataset)}; "
            "list them with GET /v1/datasets (`cortexrnn-client datasets list`)",
        )
    if not get_store().has(row.content_sha256):
        raise SpecDatasetError(
            "dataset",
            f"dataset {spec.dataset!r} is registered but its files are missing "
            "from the store; ask an admin to re-ingest it",
        )
    for sampling in _swept_samplings(spec):  # each is selected again by the worker
        try:
            _select_stored(row.content_sha256, sampling)
        except SpecDatasetError as exc:
            raise SpecDatasetError("sweep.fields.sampling", str(exc)) from None
    return ResolvedDataset(row, _select_stored(row.content_sha256, spec.sampling))


def _swept_samplings(spec: ExperimentSpec) -> list[NeuronSelection]:
    """The distinct samplings a sweep's points set (none without a sampling sweep)."""
    if spec.sweep is None or not any(p.startswith("sampling.") for p in spec.sweep.fields):
        return []
    found = {
        c.point.sampling.model_dump_json(): c.point.sampling
        for c in spec.swept_conditions()
        if c.point is not None and c.point.sampling is not None
    }
    return list(found.values())


def _nearest_dataset(session: Session, name: str) -> str:
    """ ", did you mean 'x'?" for the registered name closest to a mistyped one, else ""."""
    names = list(session.scalars(select(Dataset.name)))
    by_case = {n.lower(): n for n in names}
    close = difflib.get_close_matches(name.lower(), list(by_case), n=1, cutoff=0.6)
    return f", did you mean {by_case[close[0]]!r}?" if close else ""


def resolve_dataset(session: Session, spec: ExperimentSpec) -> Dataset:
    """The dataset row the spec names, checked against its neuron selection."""
    return resolve_selection(session, spec).row


def _select_stored(sha: str, sampling: NeuronSelection) -> list[int]:
    try:
        return [int(i) for i in select_neurons(get_store().get(sha), sampling)]
    except DatasetError as exc:
        raise SpecDatasetError("sampling", str(exc)) from None


def run_inputs(spec: ExperimentSpec, run: RunSpec) -> dict[str, Any]:
    """What one run's row stores of its inputs: everything that is its own, as JSON (a swept
    run also its sweep point: its values and the settings it changes)."""
    inputs = {
        "condition": run.condition.model_dump(mode="json"),
        "seed": run.seed,
        "task": run.task.model_dump(mode="json"),
        "fidelity": spec.fidelity.model_dump(mode="json"),
    }
    if run.point is not None:
        inputs["point"] = run.point.model_dump(mode="json", exclude_none=True)
    return inputs


def create_experiment(
    session: Session,
    owner: User,
    spec: ExperimentSpec,
    *,
    idempotency_key: str | None = None,
    dataset_sha: str | None = None,
    selection: Sequence[int] | None = None,
    cost: ExperimentCost | None = None,
    default_queue: str = "cpu",
) -> Submission:
    """Store an experiment and one row per run with its inputs; runs whose inputs already
    succeeded are answered from that result (cached) unless the spec says `force: true`.

    `dataset_sha` ties the runs to the dataset's content; `selection` is the neurons that
    `resolve_selection` found (computed here from the store where only the hash is given).
    `cost` (shared/admission.py) gives each run its memory estimate, which the scheduler
    routes and sizes packs by (shared/routing.py); runs naming no queue go to `default_queue`."""
    spec_hash = spec.canonical_hash()
    if idempotency_key:
        earlier = session.scalar(
            select(Experiment).where(
                Experiment.owner_id == owner.id, Experiment.idempotency_key == idempotency_key
            )
        )
        if earlier is not None:
            if earlier.spec_hash != spec_hash:
                raise IdempotencyConflict(
                    f"Idempotency-Key {idempotency_key!r} was already used for experiment "
                    f"{earlier.id} "
                    "with a different spec; use a new key"
                )
            n_runs = (
                session.scalar(select(func.count()).where(Run.experiment_id == earlier.id)) or 0
            )
            reused = Counter(
                session.scalars(
                    select(Run.state).where(
                        Run.experiment_id == earlier.id, Run.cached_from_id.is_not(None)
                    )
                )
            )
            return Submission(
                earlier,
                False,
                n_runs,
                reused[RunState.SUCCEEDED.value],
                reused[RunState.QUEUED.value],
            )

    if selection is None and dataset_sha is not None:
        selection = _select_stored(dataset_sha, spec.sampling)
    priority = spec.priority_value
    experiment = Experiment(
        name=spec.name,
        owner_id=owner.id,
        spec=spec.model_dump(mode="json"),
        spec_hash=spec_hash,
        priority=priority,
        tags=list(spec.tags),
        idempotency_key=idempotency_key,
        dataset_sha=dataset_sha,
        selection=None if selection is None else [int(i) for i in selection],
    )
    session.add(experiment)
    session.flush()

    runs = spec.expand_runs()
    needs = run_needs(spec, runs, cost, default_queue)
    rows = [
        Run(
            experiment_id=experiment.id,
            owner_id=owner.id,
            condition=run.condition_name,
            seed=run.seed,
            task=run.task_name,
            run_hash=spec.run_hash(run, dataset_sha),
            pack_key=spec.pack_key(run),
            inputs=run_inputs(spec, run),
            priority=priority,
            **need.columns(),
        )
        for run, need in zip(runs, needs, strict=True)
    ]
    session.add_all(rows)
    session.flush()
    # Identical runs train once: those that already succeeded answer at once, those in flight
    # (this submission's included) are waited for (shared/lifecycle.py, `dedupe_runs`).
    n_cached, n_waiting = dedupe_runs(session, rows, force=spec.force)
    refresh_experiment_status(session, experiment)
    return Submission(experiment, True, len(runs), n_cached, n_waiting)


def result_run_id(run: Run) -> int:
    """The run whose stored results answer for `run` (itself, or the original it was cached
    from)."""
    return run.cached_from_id or run.id
