"""The local runner and `cortexrnn run`: a tiny experiment completes and its output folder
holds what OUTPUT_LAYOUT (and docs/running-locally.md) say."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from cortexrnn.services.priors import Condition, Fidelity, build_network_prior
from cortexrnn.services.runner import OUTPUT_LAYOUT, OutputFolderInUse, run_experiment
from cortexrnn.services.spec import parse_spec

torch.set_num_threads(1)

TINY_TRAINING = {
    "epochs": 2,
    "train_trials": 256,
    "batch_size": 64,
    "test_trials": 128,
    "checkpoint_every_steps": 4,
}
TOP_FILES = [
    "spec.yaml",
    "experiment.json",
    "runs.csv",
    "curves.csv",
    "evals.csv",
    "steps.parquet",
    "metrics.csv",
    "summary.csv",
    "README.txt",
]


@pytest.fixture(scope="module")
def small_cortex():
    from cortexrnn.services.connectome.synthetic import synthesize_cortex

    return synthesize_cortex(150, seed=1)


def tiny_spec(**over) -> dict:
    spec = {
        "name": "tiny",
        "sampling": {"strategy": "spatial", "n_neurons": 16},
        "tasks": ["go_no_go"],
        "seeds": 2,
        "training": TINY_TRAINING,
        "conditions": {
            "W": {},
            "W*D*C": {"init": "functional", "space": "real", "communicability": "direct"},
        },
    }
    spec.update(over)
    return spec


def test_layout_lists_every_file() -> None:
    for name in [
        *TOP_FILES,
        "weights/<run_id>.npz",
        "checkpoints/",
        "runs/<run_id>/",
        "report.html",
        "epoch_metrics.csv",
    ]:
        assert name in OUTPUT_LAYOUT
    docs = Path(__file__).resolve().parents[2] / "docs" / "running-locally.md"
    assert OUTPUT_LAYOUT in docs.read_text(), (
        "docs/running-locally.md must show the current output layout"
    )


def test_tiny_experiment_writes_the_documented_folder(tmp_path: Path, small_cortex) -> None:
    spec = parse_spec(tiny_spec())
    events = []
    res = run_experiment(
        spec, small_cortex, tmp_path / "out", n_nulls=10, epoch_metrics=True, on_event=events.append
    )
    out = res.out_dir
    for name in [*TOP_FILES, "epoch_metrics.csv", "report.html"]:
        assert (out / name).is_file(), name
    assert res.report == out / "report.html"
    html = (out / "report.html").read_text()
    assert "W*D*C" in html and html.count("data:image/png;base64,") >= 4
    runs = pd.read_csv(out / "runs.csv")
    assert (
        len(runs) == 4 and set(runs["condition"]) == {"W", "W*D*C"} and set(runs["seed"]) == {0, 1}
    )
    assert set(runs["run_id"]) == {
        "W__s0__go_no_go",
        "W__s1__go_no_go",
        "WsDsC__s0__go_no_go",
        "WsDsC__s1__go_no_go",
    }
    for col in (
        "run_hash",
        "status",
        "train_acc",
        "test_acc",
        "accuracy",
        "steps_to_criterion",
        "entropy_kde",
        "modularity_cnm",
    ):
        assert col in runs.columns, col
    assert (runs["status"] == "completed").all()
    assert runs["run_hash"].tolist() == [spec.run_hash(r) for r in spec.expand_runs()]
    np.testing.assert_allclose(
        runs["accuracy"], runs["test_acc"]
    )  # corrected: held-out accuracy is reported
    assert ((runs["test_acc"] >= 0) & (runs["test_acc"] <= 1)).all()

    curves = pd.read_csv(out / "curves.csv")
    assert len(curves) == 4 * 2 and sorted(set(curves["epoch"])) == [1, 2]
    steps = pd.read_parquet(out / "steps.parquet")
    assert len(steps) == 4 * spec.training.total_steps
    metrics = pd.read_csv(out / "metrics.csv")
    assert {"run_id", "metric", "value", "reason"} <= set(metrics.columns)
    undefined = metrics[metrics["value"].isna()]
    assert undefined["reason"].notna().all(), "every undefined metric carries its reason"
    epoch_metrics = pd.read_csv(out / "epoch_metrics.csv")
    assert sorted(set(epoch_metrics["epoch"])) == [0, 1, 2]

    # Weights: the initial matrix is the prior's, snapshots are before training + each epoch.
    z = np.load(out / "weights" / "WsDsC__s1__go_no_go.npz")
    assert z["snapshots"].shape == (3, 16, 16) and z["W"].shape == (16, 16)
    indices = np.array(json.loads((out / "experiment.json").read_text())["indices"])
    prior = build_network_prior(
        small_cortex,
        indices,
        Condition(init="functional", space="real", communicability="direct"),
        Fidelity(),
        1,
    )
    np.testing.assert_allclose(z["w_init"], prior.w_init, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(z["snapshots"][0], prior.w_init, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(z["snapshots"][-1], z["W"], rtol=1e-6, atol=1e-7)

    summary = pd.read_csv(out / "summary.csv")
    acc = summary[(summary["measure"] == "accuracy") & (summary["condition"] == "W")].iloc[0]
    w_acc = runs.loc[runs["condition"] == "W", "accuracy"].to_numpy()
    assert acc["n"] == 2 and acc["mean"] == pytest.approx(w_acc.mean())
    assert yaml.safe_load((out / "spec.yaml").read_text())["name"] == "tiny"
    info = json.loads((out / "experiment.json").read_text())
    assert (
        info["status"] == "done"
        and info["spec_hash"] == spec.canonical_hash()
        and info["n_units"] == 16
    )
    assert (
        events[0].kind == "start"
        and events[-1].kind == "done"
        and events[-1].done == events[-1].total
    )
    assert any(e.kind == "step" for e in events)

    # A rerun of the same spec skips finished packs and gives the same table.
    again = run_experiment(spec, small_cortex, out, n_nulls=10, epoch_metrics=True)
    pd.testing.assert_frame_equal(
        again.runs.drop(columns=["wall_s"]), res.runs.drop(columns=["wall_s"])
    )
    other = parse_spec(tiny_spec(seeds=1))
    with pytest.raises(OutputFolderInUse, match="another spec"):
        run_experiment(other, small_cortex, out)


def test_paper_fidelity_reports_training_accuracy(tmp_path: Path, small_cortex) -> None:
    spec = parse_spec(tiny_spec(seeds=1, conditions={"W": {}}, fidelity="paper"))
    res = run_experiment(spec, small_cortex, tmp_path / "paper", n_nulls=0)
    row = res.runs.iloc[0]
    assert row["accuracy"] == pytest.approx(row["train_acc"]) and row["accuracy_source"].startswith(
        "train"
    )
    assert row["lam_effective"] == 1.0  # §5.2 baseline L1 without lambda


def test_packs_split_by_task_and_size(tmp_path: Path, small_cortex) -> None:
    spec = parse_spec(
        tiny_spec(
            tasks=[
                "go_no_go",
                {"name": "perceptual_decision_making", "params": {"stimulus": 5, "delay": 2}},
            ],
            seeds=3,
            conditions={"W": {"lam": 0.0}},
        )
    )
    events = []
    res = run_experiment(
        spec, small_cortex, tmp_path / "packs", n_nulls=0, max_pack=2, on_event=events.append
    )
    assert len(res.runs) == 6
    info = json.loads((tmp_path / "packs" / "experiment.json").read_text())
    assert info["n_packs"] == 4  # two tasks, three seeds each, at most two networks per pack
    assert len(list((tmp_path / "packs" / "packs").glob("*.parquet"))) == 4


def test_cortexrnn_run_cli_on_the_embedded_dataset(tmp_path: Path, cortexrnn_home: Path) -> None:
    from typer.testing import CliRunner

    from cortexrnn.cli.main import app

    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(tiny_spec(seeds=1)))
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(spec_file),
            "--out",
            str(tmp_path / "cli-out"),
            "--nulls",
            "5",
            "--threads",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    out = tmp_path / "cli-out"
    for name in TOP_FILES:
        assert (out / name).is_file(), name
    assert len(pd.read_csv(out / "runs.csv")) == 2
    assert json.loads((out / "experiment.json").read_text())["dataset"] == "synthetic-cortex"


def test_cortexrnn_run_cli_reports_spec_errors(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cortexrnn.cli.main import app

    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: [go_no_go]\nconditions:\n  full: {init: functional, lam: -1}\n")
    result = CliRunner().invoke(app, ["run", str(bad)])
    assert result.exit_code == 2
    assert "conditions.full.lam" in result.output


@pytest.mark.microns
def test_cortexrnn_run_cli_on_a_field_folder(tmp_path: Path, microns_dir: Path) -> None:
    from typer.testing import CliRunner

    from cortexrnn.cli.main import app

    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(
        yaml.safe_dump(
            tiny_spec(
                dataset=str(microns_dir / "4_7_2"),
                sampling={"strategy": "all"},
                seeds=1,
                conditions={
                    "W*D*C*": {"init": "functional", "space": "real", "communicability": "emd"}
                },
            )
        )
    )
    result = CliRunner().invoke(
        app, ["run", str(spec_file), "--out", str(tmp_path / "f"), "--nulls", "0"]
    )
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(tmp_path / "f" / "runs.csv")
    assert (
        len(runs) == 1
        and json.loads((tmp_path / "f" / "experiment.json").read_text())["n_units"] == 88
    )


def test_a_run_whose_prior_cannot_be_built_fails_alone(tmp_path: Path, small_cortex) -> None:
    """C* needs synapses among the selected neurons; without them only the C* runs fail."""
    import scipy.sparse as sp

    from cortexrnn.services.connectome.types import Connectome

    bare = Connectome(
        "no-synapses",
        small_cortex.neurons,
        sp.csr_matrix(small_cortex.synapse_counts.shape, dtype=np.int64),
        None,
        small_cortex.functional,
        None,
        {},
    )
    spec = parse_spec(
        tiny_spec(
            conditions={
                "W": {},
                "W*D*C*": {"init": "functional", "space": "real", "communicability": "emd"},
            }
        )
    )
    res = run_experiment(spec, bare, tmp_path / "out", n_nulls=5, write_report=False)
    runs = res.runs.set_index("condition")
    assert set(runs.loc["W", "status"]) == {"completed"}
    failed = runs.loc["W*D*C*"]
    assert set(failed["status"]) == {"failed"}
    assert all(
        "cannot build the prior of condition 'W*D*C*'" in e and "synapses" in e
        for e in failed["error"]
    )
