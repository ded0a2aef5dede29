"""`compare A B` sets experiments side by side on the same conditions and measure, and
--format csv/json carry every table (not only the pairwise one)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import select

from cortexrnn.shared.db import session_scope
from cortexrnn.shared.models import Run, RunSummary
from tests.client.conftest import ACCURACY, finish_runs, small_spec


def _two_experiments(server, tmp_path) -> tuple[int, int]:
    client = server.client()
    a = client.submit(small_spec(name="paper")).id
    b = client.submit(small_spec(name="corrected", force=True, priority=1)).id
    for exp in (a, b):
        finish_runs(exp, artifacts_dir=tmp_path / f"art{exp}")
    with session_scope() as s:  # the corrected fidelity: every bio seed 0.05 better
        for run in s.scalars(select(Run).where(Run.experiment_id == b, Run.condition == "bio")):
            row = s.scalar(
                select(RunSummary).where(RunSummary.run_id == run.id, RunSummary.name == "test_acc")
            )
            assert row is not None
            row.value = ACCURACY[("bio", run.seed)] + 0.05
    return a, b


def test_compare_two_experiments(cli, server, tmp_path, cortexrnn_home) -> None:
    a, b = _two_experiments(server, tmp_path)
    result = cli("compare", str(a), str(b), "--metric", "test_acc", "-f", "json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert {(r["experiment"], r["condition"]) for r in got["stats"]} == {
        (e, c) for e in (a, b) for c in ("baseline", "bio")
    }
    change = {r["condition"]: r[f"change_{b}"] for r in got["difference"]}
    assert change["bio"] == pytest.approx(0.05) and change["baseline"] == pytest.approx(0.0)

    rows = list(csv.DictReader(io.StringIO(cli("compare", str(a), str(b), "-m", "test_acc",
                                               "-f", "csv").stdout)))  # fmt: skip
    assert {r["table"] for r in rows} == {"stats", "difference"} and len(rows) == 4 + 2

    table = cli("compare", str(a), str(b), "--metric", "test_acc")
    assert table.exit_code == 0 and f"change from experiment {a}" in table.stdout
    assert f"change_{b}" in table.stdout


def test_one_experiment_csv_carries_every_table(cli, server, tmp_path, cortexrnn_home) -> None:
    exp = server.client().submit(small_spec()).id
    finish_runs(exp, artifacts_dir=tmp_path / "art")
    as_json = json.loads(cli("compare", str(exp), "-m", "test_acc", "-f", "json").stdout)
    rows = list(csv.DictReader(io.StringIO(cli("compare", str(exp), "-m", "test_acc",
                                               "-f", "csv").stdout)))  # fmt: skip
    for name, table in as_json.items():
        assert sum(r["table"] == name for r in rows) == len(table), name
    assert {"stats", "comparisons"} <= {r["table"] for r in rows}
