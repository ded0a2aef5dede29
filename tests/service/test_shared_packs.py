"""A pack holding runs of two experiments: each run trains with its own experiment's fidelity
and ends with the results it would have had alone."""

from __future__ import annotations

import numpy as np
from sqlalchemy import select

from cortexrnn.shared.migrate import upgrade
from cortexrnn.shared.models import Artifact, Run, RunSummary, User
from cortexrnn.worker.scheduler import schedule_once
from tests.reliability.conftest import reference_weights
from tests.service.test_scheduler import SETTINGS


def _spec(fidelity: dict) -> dict:
    return {
        "sampling": {"strategy": "random", "n_neurons": 12, "seed": 0},
        "seeds": 2,
        "training": {"epochs": 3, "train_trials": 64, "batch_size": 32, "test_trials": 32},
        "conditions": {"WD*": {"space": "real"}},
        "fidelity": fidelity,
    }


def test_runs_of_two_experiments_train_in_one_pack_each_with_its_own_fidelity(
    cortexrnn_home,
) -> None:
    from cortexrnn.services.spec import parse_spec
    from cortexrnn.shared.db import session_scope
    from cortexrnn.shared.experiments import create_experiment, resolve_dataset
    from cortexrnn.shared.settings import get_settings
    from cortexrnn.worker.execution import execute_pack

    upgrade()
    corrected = parse_spec(_spec({"base": "corrected"}))
    # §5.1 changes the prior (scrambled positions), §5.4 what is reported.
    paperish = parse_spec(
        _spec({"base": "corrected", "reshape_positions": True, "report_train_accuracy": True})
    )
    assert corrected.pack_key(corrected.expand_runs()[0]) == paperish.pack_key(
        paperish.expand_runs()[0]
    )
    with session_scope() as s:
        sha = resolve_dataset(s, corrected).content_sha256
        alice = User(name="alice")
        s.add(alice)
        s.flush()
        ids = [
            create_experiment(s, alice, spec, dataset_sha=sha).experiment.id
            for spec in (corrected, paperish)
        ]
    with session_scope() as s:
        (pack_id,) = schedule_once(s, lambda *a: None, slots=1, **SETTINGS).dispatched
    assert execute_pack(pack_id, "w1", settings=get_settings()) == "done"

    with session_scope() as s:
        runs = list(s.scalars(select(Run).order_by(Run.id)))
        assert {r.pack_id for r in runs} == {pack_id} and {r.state for r in runs} == {"succeeded"}
        got = {}
        for run in runs:
            path = s.scalar(
                select(Artifact.path).where(Artifact.run_id == run.id, Artifact.kind == "weights")
            )
            summary = {
                m.name: m.value
                for m in s.scalars(select(RunSummary).where(RunSummary.run_id == run.id))
            }
            got[(run.experiment_id, run.seed)] = (np.load(path)["W"], summary)
    for eid, spec in zip(ids, (corrected, paperish), strict=True):
        alone = reference_weights(spec.model_dump(mode="json"))
        for (_, seed, _), w in alone.items():
            w_pack, summary = got[(eid, seed)]
            np.testing.assert_allclose(w_pack, w, rtol=1e-5, atol=1e-6)
            reported = (
                summary["train_acc"] if spec.fidelity.report_train_accuracy else summary["test_acc"]
            )
            assert summary["accuracy"] == reported
    # The fidelity took effect per run: the same condition and seed trained differently.
    assert not np.allclose(got[(ids[0], 0)][0], got[(ids[1], 0)][0])
