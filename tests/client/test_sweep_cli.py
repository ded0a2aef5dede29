"""A sweep spec through the client: the dry run counts the swept runs, a bad swept path is
refused naming it (exit 2, and a 422 from the server), and the run table carries one column
per swept field."""

from __future__ import annotations

import csv

from tests.client.conftest import small_spec, write_spec

SWEEP = {"fields": {"condition.lam": {"logspace": [0.001, 1, 4]}}}


def test_dry_run_counts_the_swept_runs(cli, tmp_path) -> None:
    spec = str(write_spec(tmp_path / "s.yaml", sweep=SWEEP))
    result = cli("submit", spec, "--dry-run")
    assert result.exit_code == 0, result.output
    # 2 conditions x 4 strengths = 8 conditions, x 3 seeds.
    assert "valid; 8 conditions x 3 seeds x 1 tasks = 24 runs (dataset checked" in result.stdout
    assert cli("list").stdout.count("client-test") == 0  # nothing was stored


def test_a_bad_swept_path_is_named(cli, server, tmp_path) -> None:
    bad = {"fields": {"training.lrr": [0.001, 0.01]}}
    result = cli("submit", str(write_spec(tmp_path / "s.yaml", sweep=bad)), "--dry-run")
    assert result.exit_code == 2, result.output
    assert "sweep.fields.training.lrr: no such field" in result.stderr
    auth = {"Authorization": f"Bearer {server.tokens['alice']}"}
    response = server.http.post("/v1/experiments", json=small_spec(sweep=bad), headers=auth)
    assert response.status_code == 422, response.text
    assert "sweep.fields.training.lrr" in response.text and "no such field" in response.text
    assert cli("list").stdout.count("client-test") == 0


def test_the_run_table_has_a_column_per_swept_field(cli, tmp_path) -> None:
    sweep = {"fields": {"condition.lam": [0.01, 0.1], "training.lr": [0.001, 0.002]}}
    submitted = cli("submit", str(write_spec(tmp_path / "s.yaml", sweep=sweep)), "-q")
    assert submitted.exit_code == 0, submitted.output
    experiment_id = submitted.stdout.strip()
    out = tmp_path / "table.csv"
    result = cli("results", experiment_id, "--format", "csv", "-o", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 * 4 * 3
    first = rows[0]
    assert list(first)[8:11] == ["family", "condition.lam", "training.lr"]
    assert (first["condition"], first["family"]) == (
        "baseline lam=0.01 training.lr=0.001",
        "baseline",
    )
    assert {(r["family"], r["condition.lam"], r["training.lr"]) for r in rows} == {
        (family, lam, lr)
        for family in ("baseline", "bio")
        for lam in ("0.01", "0.1")
        for lr in ("0.001", "0.002")
    }
