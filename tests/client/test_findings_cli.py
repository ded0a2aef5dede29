"""`cortexrnn-client findings` end to end against the in-process server: a tiny control
experiment and a tiny sweep are submitted, their runs finished with known accuracies, fetched
into a data folder and rendered; without -e the same folder renders the same document, and an
empty folder gives the document that lists what has not been run."""

from __future__ import annotations

import json

import pandas as pd
import pytest

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


def test_diverged_runs_count_as_not_solved(cli, server, monkeypatch, tmp_path) -> None:
    """A sign control that diverges on three of five seeds: the fetched table records the
    divergences, and the document, like the server's own statistics, counts those seeds as
    unsolved at the task's floor instead of leaving them out (which would show the control
    solving 2 of 2)."""
    from cortexrnn.services.training.results import diverged_error

    levels = {"W*D*C(dale)": 0.95, "W*D*C": 0.95, "W": 0.5}
    for cond, level in levels.items():
        for seed in range(SEEDS):
            monkeypatch.setitem(conftest.ACCURACY, (cond, seed), level + 0.001 * seed)
    spec = write_spec(
        tmp_path / "dale.yaml",
        seeds=SEEDS,
        conditions={
            "W*D*C(dale)": {"init": "functional", "sign": "dale"},
            "W*D*C": {"init": "functional"},
            "W": {"init": "orthogonal", "lam": 0.0},
        },
    )
    result = cli("submit", str(spec), "-q")
    assert result.exit_code == 0, result.output
    eid = int(result.stdout.strip())
    diverging = {("W*D*C(dale)", s) for s in (0, 2, 4)}
    finish_runs(eid, fail=diverging, artifacts_dir=tmp_path / "art", error=diverged_error(2))

    data, out = tmp_path / "data", tmp_path / "docs" / "findings.md"
    result = cli("findings", "-e", f"dale-4_7_2={eid}", "--data", str(data), "--out", str(out))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(data / "dale-4_7_2.csv")
    marked = table[table["metric"] == "diverged"]
    assert sorted(zip(marked["condition"], marked["seed"], strict=True)) == sorted(diverging)
    # The saved table keeps what was measured: no accuracy for a diverged run.
    measured = table[table["metric"] == "test_acc"]
    assert not set(zip(measured["condition"], measured["seed"], strict=True)) & diverging

    text = out.read_text()
    assert "| `dale-4_7_2` |" in text and "| 5 | 12 | 3 |" in text  # 12 succeeded, 3 diverged
    # Two of five solved, the exact interval of 2/5, and the three divergences named.
    row = next(line for line in text.splitlines() if line.startswith("| W*D*C(dale) | control"))
    assert "2/5 [0.05, 0.85]; 3 diverged" in row
    # The three diverged seeds are the discordant pairs: McNemar's exact p = 1/2^3.
    verdict = next(line for line in text.splitlines() if line.startswith("| W*D*C(dale) | W*D*C"))
    assert "| 0.12 (McNemar exact) |" in verdict

    headers = {"Authorization": f"Bearer {server.tokens['alice']}"}
    summary = server.http.get(f"/v1/experiments/{eid}/summary", headers=headers).json()
    solved = {r["condition"]: (r["solved"], r["n"]) for r in summary["solved"]}
    assert solved == {"W*D*C(dale)": (2, 5), "W*D*C": (5, 5), "W": (0, 5)}
    means = {
        r["condition"]: r["mean"]
        for r in summary["summary"]
        if r["metric"] == "test_acc" and r["condition"] == "W*D*C(dale)"
    }
    assert means["W*D*C(dale)"] == pytest.approx((0.951 + 0.953 + 3 * 0.5) / 5)
    assert "diverged" not in {r["metric"] for r in summary["summary"]}
    report = server.http.get(f"/v1/experiments/{eid}/report", headers=headers).text
    assert "Diverged runs" in report and "W*D*C(dale) on go_no_go: seeds 0, 2, 4" in report
