"""Submission resolves each run's inputs and the neuron selection once; the worker trains from
those rows without expanding a spec or selecting neurons again. Rows from before migration
0002 (no stored inputs) still train, through the one fallback."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from cortexrnn.services.connectome.selection import select as select_neurons
from cortexrnn.services.spec import ExperimentSpec, parse_spec
from cortexrnn.shared.datasets_registry import get_store
from cortexrnn.shared.db import session_scope
from cortexrnn.shared.experiments import create_experiment, resolve_selection
from cortexrnn.shared.migrate import upgrade
from cortexrnn.shared.models import Artifact, Experiment, Run, User
from cortexrnn.shared.settings import get_settings
from cortexrnn.worker.claim import ClaimedRun, stored_run_inputs
from cortexrnn.worker.execution import execute_pack
from cortexrnn.worker.scheduler import schedule_once
from tests.service.test_scheduler import SETTINGS

SPEC = {
    # Submitted twice on purpose: force, or the second copy would wait for the first.
    "force": True,
    "sampling": {"strategy": "random", "n_neurons": 12, "seed": 0},
    "seeds": 2,
    "training": {"epochs": 2, "train_trials": 64, "batch_size": 32, "test_trials": 32},
    "conditions": {"WD*": {"space": "real"}, "base": {}},
}


def _submit(n: int = 1) -> list[int]:
    spec = parse_spec(SPEC)
    with session_scope() as s:
        resolved = resolve_selection(s, spec)
        alice = User(name="alice")
        s.add(alice)
        s.flush()
        return [
            create_experiment(
                s,
                alice,
                spec,
                dataset_sha=resolved.row.content_sha256,
                selection=resolved.selection,
            ).experiment.id
            for _ in range(n)
        ]


def _train_one_pack() -> str:
    with session_scope() as s:
        (pack_id,) = schedule_once(s, lambda *a: None, slots=1, **SETTINGS).dispatched
    return execute_pack(pack_id, "w1", settings=get_settings())


def _final_weights() -> dict[tuple[int, str, int], np.ndarray]:
    with session_scope() as s:
        out = {}
        for run in s.scalars(select(Run).order_by(Run.id)):
            path = s.scalar(
                select(Artifact.path).where(Artifact.run_id == run.id, Artifact.kind == "weights")
            )
            out[(run.experiment_id, run.condition, run.seed)] = np.load(path)["W"]
        return out


def test_submission_stores_each_runs_inputs_and_the_selection(cortexrnn_home) -> None:
    upgrade()
    (eid,) = _submit()
    spec = parse_spec(SPEC)
    with session_scope() as s:
        experiment = s.get(Experiment, eid)
        connectome = get_store().get(experiment.dataset_sha)
        assert experiment.selection == select_neurons(connectome, spec.sampling).tolist()
        runs = list(s.scalars(select(Run).where(Run.experiment_id == eid).order_by(Run.id)))
        stored = [
            stored_run_inputs(
                ClaimedRun(r.id, r.experiment_id, r.condition, r.seed, r.task, r.run_hash, r.inputs)
            )
            for r in runs
        ]
    assert [p[0] for p in stored] == spec.expand_runs()
    assert {p[1] for p in stored} == {spec.fidelity}


def test_the_worker_neither_expands_the_spec_nor_selects_again(cortexrnn_home, monkeypatch) -> None:
    upgrade()
    _submit()

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("the worker must use the inputs stored at submission")

    monkeypatch.setattr(ExperimentSpec, "expand_runs", refuse)
    monkeypatch.setattr("cortexrnn.services.runner.pack.select", refuse)
    assert _train_one_pack() == "done"
    with session_scope() as s:
        assert {r.state for r in s.scalars(select(Run))} == {"succeeded"}


@pytest.mark.parametrize("legacy_all", [True, False], ids=["legacy-pack", "mixed-pack"])
def test_rows_from_before_the_migration_train_the_same(
    cortexrnn_home, monkeypatch, legacy_all: bool
) -> None:
    """Rows without stored inputs (and experiments without a stored selection) fall back to
    expanding the spec; in a pack shared with new rows, both train to the same weights."""
    from cortexrnn.worker import claim

    expanded: list[int] = []
    fallback = claim.legacy_run_inputs

    def spy(specs, runs):
        expanded.extend(specs)
        return fallback(specs, runs)

    monkeypatch.setattr(claim, "legacy_run_inputs", spy)
    upgrade()
    old, new = _submit(2)
    with session_scope() as s:
        for eid in (old, new) if legacy_all else (old,):
            experiment = s.get(Experiment, eid)
            experiment.selection = experiment.dataset_sha = None
            for run in s.scalars(select(Run).where(Run.experiment_id == eid)):
                run.inputs = None
    assert _train_one_pack() == "done"
    assert expanded == ([old, new] if legacy_all else [old])
    with session_scope() as s:
        assert {r.state for r in s.scalars(select(Run))} == {"succeeded"}
    weights = _final_weights()
    for (eid, condition, seed), w in weights.items():
        if eid == old:
            np.testing.assert_allclose(w, weights[(new, condition, seed)], rtol=1e-5, atol=1e-6)
