"""The precision-equivalence table (issue 19) from two result folders with synthetic runs:
benchmarks/precision_equivalence.py's reading of the folders, the TOST table and its markdown,
and the refusal of two sides that differ in more than the precision. No training."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cortexrnn.services.report.equivalence import equivalence_markdown
from cortexrnn.services.stats import tost_table

_SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "precision_equivalence.py"
_spec = importlib.util.spec_from_file_location("precision_equivalence", _SCRIPT)
assert _spec is not None and _spec.loader is not None
script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(script)

ACC = [0.5, 0.75, 1.0, 0.625, 0.875]
Q = [0.31, 0.28, 0.35, 0.30, 0.33]


def _folder(path: Path, precision: str, runs: list[dict[str, object]]) -> Path:
    path.mkdir()
    pd.DataFrame(runs).to_csv(path / "runs.csv", index=False)
    spec = {"dataset": "microns-6_6_2", "seeds": 5, "training": {"epochs": 10,
            "precision": precision}}  # fmt: skip
    (path / "spec.yaml").write_text(yaml.safe_dump(spec))
    return path


def _runs(cond: str, acc: list[float], q: list[float], status: list[str] | None = None) -> list:
    status = status or ["completed"] * len(acc)
    return [
        {"condition": cond, "task": "go_no_go", "seed": s, "status": st, "test_acc": a,
         "modularity_cnm": m, "modularity_louvain": m + 0.01, "train_acc": 0.0}
        for s, (a, m, st) in enumerate(zip(acc, q, status, strict=True))
    ]  # fmt: skip


def test_table_from_two_folders_says_which_cells_keep_fp32(tmp_path: Path) -> None:
    fp32 = _folder(tmp_path / "fp32", "fp32", _runs("W", ACC, Q) + _runs("WD*C", ACC, Q))
    jitter = [0.002, -0.001, 0.0, 0.003, -0.002]
    bf16_runs = _runs("W", ACC, [v + e for v, e in zip(Q, jitter, strict=True)])
    # WD*C: seed 2 learns the task in fp32 only; seed 4 diverged in bf16-mixed (not a pair)
    status = ["completed", "stopped", "completed", "completed", "diverged"]
    bf16_runs += _runs("WD*C", [0.5, 0.75, 0.5, 0.625, float("nan")], Q, status)
    bf16 = _folder(tmp_path / "bf16", "bf16-mixed", bf16_runs)

    metrics = list(script.MARGINS)
    a, a_spec = script.folder_results(bf16, metrics)
    b, b_spec = script.folder_results(fp32, metrics)
    script.check_same_grid(b_spec, a_spec)
    assert set(a["metric"]) == set(metrics)  # train_acc is not asked for
    assert len(a[a["condition"] == "WD*C"]) == 4 * len(metrics)  # the diverged run is dropped

    table = tost_table(a, b, script.MARGINS)
    text = equivalence_markdown(table)
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| task"))
    assert "Δ held-out acc. (±0.03)" in header and "Δ modularity Q (CNM) (±0.02)" in header
    # The paper's order: WD*C before W.
    rows = [line for line in lines if line.startswith("| go_no_go")]
    assert [r.split(" | ")[1] for r in rows] == ["WD*C", "W"]
    wd, w = rows
    assert wd.startswith("| go_no_go | WD*C | 4 (1 fp32 only) | 0.719 | −0.125 [")
    assert "✗" in wd.split(" | ")[4] and "✓" in wd.split(" | ")[5]
    assert w.count("✓") == 3 and "+0.000 [+0.000, +0.000] p 0 ✓" in w
    assert "Equivalence shown in 5 of 6 cells." in lines
    assert "Not shown (keep fp32 there): WD*C / go_no_go / held-out acc." in lines


def test_two_sides_differing_beyond_precision_are_refused(tmp_path: Path) -> None:
    fp32 = {"dataset": "microns-6_6_2", "training": {"epochs": 10, "precision": "fp32"}}
    bf16 = {"dataset": "microns-6_6_2", "training": {"epochs": 5, "precision": "bf16-mixed"}}
    with pytest.raises(SystemExit):
        script.check_same_grid(fp32, bf16)
    with pytest.raises(SystemExit):  # swapped sides
        script.check_same_grid(bf16 | {"training": fp32["training"]}, fp32)
    other = {"dataset": "microns-4_7_2", "training": bf16["training"] | {"epochs": 10}}
    with pytest.raises(SystemExit):
        script.check_same_grid(fp32, other)
    script.check_same_grid(fp32, {**fp32, "training": {"epochs": 10, "precision": "bf16-mixed"}})


def test_submit_and_run_override_only_precision_name_seeds_and_dataset(tmp_path: Path) -> None:
    spec = tmp_path / "grid.yaml"
    spec.write_text(yaml.safe_dump({"name": "g", "seeds": 20, "training": {"epochs": 10}}))
    both = script.variants(spec, seeds=5)
    assert both["fp32"] == {"name": "g-fp32", "seeds": 5,
                            "training": {"epochs": 10, "precision": "fp32"}}  # fmt: skip
    assert both["bf16-mixed"]["training"] == {"epochs": 10, "precision": "bf16-mixed"}
    on_a_folder = script.variants(spec, seeds=None, dataset="/data/microns/6_6_2")
    assert {s["dataset"] for s in on_a_folder.values()} == {"/data/microns/6_6_2"}
    assert {s["seeds"] for s in on_a_folder.values()} == {20}


def _table(folder: Path, label: str, training: dict[str, object], seeds: range) -> Path:
    """A saved table as `cortexrnn-client replication --append` writes it."""
    folder.mkdir(exist_ok=True)
    rows = [
        {"condition": "W", "task": "go_no_go", "seed": s, "metric": m, "value": v}
        for s in seeds
        for m, v in (("test_acc", ACC[s]), ("modularity_cnm", Q[s]),
                     ("modularity_louvain", Q[s]), ("accuracy", 1.0))
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(folder / f"{label}.csv", index=False)
    meta = {"dataset": "microns-6_6_2", "sampling": {"strategy": "all"}, "training": training,
            "fidelity_switches": {"released_nulls": True}}  # fmt: skip
    (folder / f"{label}.json").write_text(json.dumps(meta))
    return folder / f"{label}.csv"


def test_saved_tables_pair_only_the_seeds_both_sides_ran(tmp_path: Path) -> None:
    # The fp32 side: a replication table of 5 seeds, fetched before training.precision
    # existed; the bf16-mixed side: 2 seeds, fetched later.
    fp32 = _table(tmp_path / "replication", "paper", {"epochs": 10}, range(5))
    bf16 = _table(tmp_path / "new", "bf16", {"epochs": 10, "precision": "bf16-mixed"}, range(2))
    metrics = list(script.MARGINS)
    a, a_spec = script.results(str(bf16), None, metrics)
    b, b_spec = script.results(str(fp32), None, metrics)
    script.check_same_grid(b_spec, a_spec)
    a, b = script.common_seeds(a, b)
    assert sorted(set(b["seed"])) == [0, 1]
    table = tost_table(a, b, script.MARGINS)
    assert list(table["n_pairs"]) == [2, 2, 2] and list(table["only_b"]) == [0, 0, 0]

    other = _table(tmp_path / "lr", "bf16", {"epochs": 20, "precision": "bf16-mixed"}, range(2))
    with pytest.raises(SystemExit):
        script.check_same_grid(b_spec, script.results(str(other), None, metrics)[1])
    with pytest.raises(SystemExit):
        script.common_seeds(a[a["seed"] == 0], b[b["seed"] == 1])
    with pytest.raises(SystemExit):
        script.results(str(tmp_path / "missing.csv"), None, metrics)
