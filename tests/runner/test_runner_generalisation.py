"""`cortexrnn run` with generalisation sets: runs.csv, summary.csv and metrics carry
`test_acc_<set>` beside `test_acc`, for the tasks each set applies to."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from cortexrnn.services.runner import run_experiment
from cortexrnn.services.spec import parse_spec
from tests.runner.test_runner import tiny_spec

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def small_cortex():
    from cortexrnn.services.connectome.synthetic import synthesize_cortex

    return synthesize_cortex(150, seed=1)


def test_local_run_reports_each_set_beside_recall(tmp_path, small_cortex) -> None:
    perceptual = {"name": "perceptual_decision_making", "params": {"stimulus": 5, "delay": 2}}
    spec = parse_spec(
        tiny_spec(
            seeds=1,
            conditions={"W": {}},
            tasks=["go_no_go", perceptual],
            evaluation={"sets": ["recall", "noisy", "jitter", "unseen_coherence"]},
        )
    )
    out = tmp_path / "gen"
    res = run_experiment(spec, small_cortex, out, n_nulls=0)
    runs = pd.read_csv(out / "runs.csv").set_index("task")
    for col in ("test_acc_noisy", "test_acc_jitter"):
        assert runs[col].between(0, 1).all()
    assert runs.loc["perceptual_decision_making", "test_acc_unseen_coherence"] >= 0
    assert pd.isna(runs.loc["go_no_go", "test_acc_unseen_coherence"])  # not its set
    summary = pd.read_csv(out / "summary.csv")
    per_task = summary.groupby("task")["measure"].apply(set)
    assert {"test_acc", "test_acc_noisy", "test_acc_jitter"} <= per_task["go_no_go"]
    assert "test_acc_unseen_coherence" in per_task["perceptual_decision_making"]
    assert len(res.runs) == 2
