"""`cortexrnn run` of a sweep: each training/sampling point trains with its own settings and
neurons, runs.csv carries one column per swept field, and the report draws the sweep."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from cortexrnn.services.runner import local as local_runner
from cortexrnn.services.runner import run_experiment
from cortexrnn.services.spec import parse_spec
from tests.runner.test_runner import tiny_spec

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def small_cortex():
    from cortexrnn.services.connectome.synthetic import synthesize_cortex

    return synthesize_cortex(150, seed=1)


def test_a_local_sweep_trains_each_point_with_its_settings(
    small_cortex,
    tmp_path,
    monkeypatch,
) -> None:
    lrs: list[float] = []
    real = local_runner.train_pack

    def spy(spec, inputs, runs, *a, **k):
        lrs.append(spec.training.lr)
        assert inputs.n_units == spec.sampling.n_neurons
        return real(spec, inputs, runs, *a, **k)

    monkeypatch.setattr(local_runner, "train_pack", spy)
    spec = parse_spec(
        tiny_spec(
            conditions={"W": {}},
            sweep={"fields": {"training.lr": [0.001, 0.01], "sampling.n_neurons": [12, 16]}},
        )
    )
    result = run_experiment(spec, small_cortex, tmp_path / "out", n_nulls=5)
    assert sorted(lrs) == [0.001, 0.001, 0.01, 0.01]  # four packs, one per point
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert len(runs) == 8 and set(runs["status"]) == {"completed"}
    assert {"family", "training.lr", "sampling.n_neurons"} <= set(runs.columns)
    for row in runs.to_dict("records"):
        with np.load(tmp_path / "out" / "weights" / f"{row['run_id']}.npz") as z:
            assert z["W"].shape == (row["sampling.n_neurons"],) * 2
    assert result.report is not None
    assert "Metrics against the swept fields" in result.report.read_text()
