"""`cortexrnn-client findings` end to end against the in-process server: a tiny control
experiment and a tiny sweep are submitted, their runs finished with known accuracies, fetched
into a data folder and rendered; without -e the same folder renders the same document, and an
empty folder gives the document that lists what has not been run."""

from __future__ import annotations

import json

import pandas as pd

from tests.client import conftest
from tests.client.conftest import finish_runs, write_spec

SEEDS = 5  # 5 paired seeds all one way: one-sided p = 1/32 < 0.05
# A functional-init control experiment: W*D*C learns, the baseline init WD*C and the
# anatomical control stay near chance.
LEVEL = {"W*D*C": 0.95, "WD*C": 0.5, "W(anatomical)D*C": 0.52}


def test_fetch_and_render_controls_and_a_sweep(cli, monkeypatch, tmp_path) -> None:
    for cond, level in LEVEL.items():
        for seed in range(SEEDS):
            monkeypatch.setitem(conftest.ACCURACY, (cond, seed), level + 0.001 * seed)
    for lam in (0.01, 0.1):
        for seed in range(SEEDS):
            monkeypatch.setitem(conftest.ACCURACY, (f"sweep lam={lam:g}", seed), 0.6 + lam)
    controls = write_spec(
        tmp_path / "controls.yaml",
        seeds=SEEDS,
        conditions={
            "W*D*C": {"init": "functional"},
            "WD*C": {"init": "orthogonal"},
            "W(anatomical)D*C": {"init": "orthogonal", "lam": 0.02},
        },
    )
    sweep = write_spec(
        tmp_path / "sweep.yaml",
        seeds=SEEDS,
        conditions={"sweep": {"init": "orthogonal"}},
        sweep={"fields": {"condition.lam": [0.01, 0.1]}},
    )
    ids = []
    for spec in (controls, sweep):
        result = cli("submit", str(spec), "-q")
        assert result.exit_code == 0, result.output
        ids.append(int(result.stdout.strip()))
        finish_runs(ids[-1], artifacts_dir=tmp_path / f"art{ids[-1]}")

    data, out = tmp_path / "findings-data", tmp_path / "docs" / "findings.md"
    result = cli(
        "findings", "-e", f"functional-6_6_2={ids[0]}", "-e", f"lambda-4_7_2={ids[1]}",
        "--data", str(data), "--out", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"functional-6_6_2: experiment {ids[0]}, {SEEDS} seeds" in result.stdout

    table = pd.read_csv(data / "lambda-4_7_2.csv")
    assert {"family", "condition.lam"} <= set(table.columns)
    assert json.loads((data / "functional-6_6_2.json").read_text())["experiment_id"] == ids[0]

    text = out.read_text()
    assert "- **W(anatomical)D*C**: the gain is specific." in text
    assert "| go_no_go | sweep | sweep lam=0.1 | 5 | 0.700 [0.700, 0.700] |" in text
    assert (tmp_path / "docs" / "findings-figures" / "functional-6_6_2-accuracy.png").exists()
    assert "](findings-figures/lambda-4_7_2-go_no_go.png)" in text
    assert "| `geometry-6_6_2` |" in text  # not fetched: listed as not run yet

    again = cli("findings", "--data", str(data), "--out", str(tmp_path / "again.md"))
    assert again.exit_code == 0, again.output
    assert (tmp_path / "again.md").read_text() == text


def test_an_empty_folder_renders_the_not_run_document(cli, tmp_path) -> None:
    out = tmp_path / "findings.md"
    result = cli("findings", "--data", str(tmp_path / "none"), "--out", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "No experiment has results here yet" in text
    assert "| `lambda-6_6_2` | `examples/sweeps/lambda-6_6_2.yaml` |" in text
