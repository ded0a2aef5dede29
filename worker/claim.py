"""Claiming a pack and gathering what it trains: each run's own inputs (stored on its row at
submission), the settings the runs share (their first run's experiment), the dataset by
content hash and the neurons selected at submission. Nothing here expands a spec, except
`legacy_run_inputs`, the fallback for rows from before migration 0002."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.priors.conditions import Condition, Fidelity
from cortexrnn.services.runner.pack import ExperimentInputs, prepare_inputs
from cortexrnn.services.spec import ExperimentSpec, RunSpec, TaskEntry
from cortexrnn.services.spec.sweep import SweepPoint
from cortexrnn.services.training.evaluation import RECALL, EvaluationConfig
from cortexrnn.shared import lifecycle
from cortexrnn.shared.datasets_registry import get_dataset_by_name
from cortexrnn.shared.models import Experiment
from cortexrnn.worker.datasets import load_connectome


@dataclass(frozen=True)
class ClaimedRun:
    id: int
    experiment_id: int
    condition: str
    seed: int
    task: str
    run_hash: str
    inputs: dict[str, Any] | None  # None: stored before migration 0002


@dataclass(frozen=True)
class ClaimedPack:
    """What the claim transaction read; plain data, usable after the session closed."""

    runs: list[ClaimedRun]
    # The first run's experiment's spec, for what all runs share: dataset, sampling, model,
    # training.
    settings: dict[str, Any]
    dataset_sha: str | None  # None: no longer registered (only where not stored at submission)
    selection: list[int] | None  # None: not stored at submission; prepare_inputs selects
    legacy_specs: dict[int, dict[str, Any]]  # specs of the experiments whose runs have no inputs

    @property
    def run_ids(self) -> list[int]:
        return [r.id for r in self.runs]

    @property
    def n_experiments(self) -> int:
        return len({r.experiment_id for r in self.runs})


@dataclass(frozen=True)
class PackPlan:
    spec: ExperimentSpec  # the settings every run of the pack shares, in the form train_pack takes
    runs: list[RunSpec]
    fidelities: list[Fidelity]  # each run's own (its experiment's)
    run_hashes: list[str]


def claim(session: Session, pack_id: int, worker: str) -> ClaimedPack | None:
    """Take the pack (None: another worker has it, or it is gone) and read its runs' inputs."""
    runs = lifecycle.claim_pack(session, pack_id, worker)
    if runs is None:
        return None
    if not runs:
        return ClaimedPack([], {}, None, None, {})
    # A pack may hold runs of several experiments; they share the pack key (dataset, sampling,
    # task, model, training), so any one of them gives the shared settings.
    first = _experiment(session, runs[0].experiment_id, pack_id)
    sha = first.dataset_sha
    if sha is None:  # submitted before migration 0002: the dataset registered under its name
        row = get_dataset_by_name(session, first.spec.get("dataset", ""))
        sha = row.content_sha256 if row else None
    legacy = {
        eid: _experiment(session, eid, pack_id).spec
        for eid in sorted({r.experiment_id for r in runs if r.inputs is None})
    }
    claimed = [
        ClaimedRun(r.id, r.experiment_id, r.condition, r.seed, r.task, r.run_hash, r.inputs)
        for r in runs
    ]
    return ClaimedPack(claimed, first.spec, sha, first.selection, legacy)


def _experiment(session: Session, experiment_id: int, pack_id: int) -> Experiment:
    """The experiment of a run just claimed. Deleting an experiment deletes its runs, and only
    a finished one may be deleted, so it is missing only after a race with a deletion."""
    experiment = session.get(Experiment, experiment_id)
    if experiment is None:
        raise LookupError(f"pack {pack_id}: experiment {experiment_id} no longer exists")
    return experiment


def plan_pack(claimed: ClaimedPack) -> PackPlan:
    """The run specs and fidelities of the claimed runs; raises ValueError or KeyError where
    the stored inputs cannot be used."""
    legacy = legacy_run_inputs(claimed.legacy_specs, claimed.runs) if claimed.legacy_specs else {}
    pairs = [legacy[r.id] if r.inputs is None else stored_run_inputs(r) for r in claimed.runs]
    runs = [p[0] for p in pairs]
    fidelities = [p[1] for p in pairs]
    return PackPlan(
        shared_spec(claimed.settings, runs[0], fidelities[0]),
        runs,
        fidelities,
        [r.run_hash for r in claimed.runs],
    )


def stored_run_inputs(run: ClaimedRun) -> tuple[RunSpec, Fidelity]:
    """A run's spec and fidelity from the inputs stored on its row at submission."""
    stored = run.inputs or {}
    spec = RunSpec(
        condition_name=run.condition,
        condition=Condition.model_validate(stored["condition"]),
        seed=stored["seed"],
        task=TaskEntry.model_validate(stored["task"]),
        point=SweepPoint.model_validate(stored["point"]) if stored.get("point") else None,
    )
    return spec, Fidelity.model_validate(stored["fidelity"])


def legacy_run_inputs(
    specs: dict[int, dict[str, Any]], runs: list[ClaimedRun]
) -> dict[int, tuple[RunSpec, Fidelity]]:
    """The fallback for rows from before migration 0002, which store no `inputs`: validate
    and expand their experiments' stored specs, and find each run by condition, seed, task."""
    parsed = {eid: ExperimentSpec.model_validate(js) for eid, js in specs.items()}
    by_key = {
        (eid, r.condition_name, r.seed, r.task_name): (r, sp.fidelity)
        for eid, sp in parsed.items()
        for r in sp.expand_runs()
    }
    return {
        r.id: by_key[(r.experiment_id, r.condition, r.seed, r.task)]
        for r in runs
        if r.inputs is None
    }


def shared_spec(settings: dict[str, Any], run: RunSpec, fidelity: Fidelity) -> ExperimentSpec:
    """The pack's shared settings (dataset, sampling, model, training, the task) as a spec of
    one run; conditions, seeds and fidelities are per run and passed to train_pack apart.
    A swept run's point replaces the sections it sets (all runs of a pack share them: they
    are in the pack key)."""
    point = run.point
    evaluation = settings.get("evaluation") or {}
    if evaluation:
        # Only the sets that apply to this pack's task: a spec whose tasks include perceptual
        # decisions may ask for unseen coherences, but a go/no-go pack's spec of one task
        # would be refused for them.
        sets = EvaluationConfig.model_validate(evaluation).sets_for(run.task_name)
        evaluation = {**evaluation, "sets": [RECALL, *sets]}
    return ExperimentSpec.model_validate(
        {
            "dataset": settings["dataset"],
            "sampling": point.sampling if point and point.sampling else settings["sampling"],
            "model": point.model if point and point.model else settings["model"],
            "training": point.training if point and point.training else settings["training"],
            "tasks": [run.task],
            "conditions": {run.condition_name: run.condition},
            "fidelity": fidelity,
            # In the pack key when not the default, so every run of the pack has the same.
            "evaluation": evaluation,
        }
    )


def load_inputs(claimed: ClaimedPack, plan: PackPlan) -> ExperimentInputs:
    """The connectome (local store, or fetched by hash) and the selected neurons' matrices."""
    if claimed.dataset_sha is None:
        raise DatasetError(f"dataset {plan.spec.dataset!r} is no longer registered")
    # The stored selection is the experiment's own sampling's; a pack of a swept sampling
    # selects its neurons here (deterministic from the dataset's content and the sampling).
    point = plan.runs[0].point
    selection = None if point and point.sampling else claimed.selection
    return prepare_inputs(plan.spec, load_connectome(claimed.dataset_sha), selection)
