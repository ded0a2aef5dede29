"""Client tables never cut a number: on a narrow terminal text wraps and whole columns are
left out (and named); in a pipe or a file the table is as wide as it needs. `compare` shows
the server's paired tests, each row naming its test, and the solved fractions."""

from __future__ import annotations

import io
import json

import httpx
import pandas as pd
import pytest
from rich.console import Console
from scipy.stats import wilcoxon
from typer.testing import CliRunner

from cortexrnn.client import cli as client_cli
from cortexrnn.client.commands import common
from cortexrnn.client.commands.common import emit, screen_table

NUMBERS = [0.000123456, 12345.6789, 0.98765, 3.2e-07]


def _rows(n_columns: int) -> list[dict]:
    return [
        {
            "name": f"condition-{i}",
            **{f"measure_{k}": NUMBERS[(i + k) % 4] for k in range(n_columns)},
        }
        for i in range(3)
    ]


def _render(table, width: int) -> str:
    out = io.StringIO()
    Console(file=out, width=width, highlight=False).print(table)
    return out.getvalue()


def test_numbers_are_never_cut_at_80_columns() -> None:
    rows = _rows(12)
    columns = list(rows[0])
    table, dropped = screen_table(rows, columns, "t", 80)
    text = _render(table, 80)
    assert "…" not in text and max(map(len, text.splitlines())) <= 80
    assert dropped and columns[0] not in dropped
    shown = [c for c in columns if c not in dropped]
    for r in rows:
        for c in shown[1:]:
            assert common.fmt(r[c]) in text  # each shown number whole
    # Without a limit nothing is dropped.
    assert screen_table(rows, columns, "t", None)[1] == []


def test_text_wraps_before_columns_are_dropped() -> None:
    rows = [{"note": "a long free-text note " * 4, "p": 0.0001234}]
    table, dropped = screen_table(rows, ["note", "p"], "t", 40)
    text = _render(table, 40)
    assert dropped == [] and "0.0001234" in text and "…" not in text


def test_a_pipe_gets_the_whole_table(capsys) -> None:
    rows = _rows(12)
    emit(rows, list(rows[0]), "table", None, "wide")
    out = capsys.readouterr().out
    assert "…" not in out and all(common.fmt(v) in out for v in NUMBERS)
    assert "measure_11" in out


def test_a_file_gets_the_whole_table(tmp_path) -> None:
    rows = _rows(30)
    path = tmp_path / "t.txt"
    emit(rows, list(rows[0]), "table", path, "wide")
    text = path.read_text()
    assert "…" not in text and "measure_29" in text


VALUES = {("baseline", s): v for s, v in enumerate([0.5, 0.51, 0.49, 0.5, 0.52, 0.48])} | {
    ("bio", s): v for s, v in enumerate([1.0, 0.99, 1.0, 0.98, 1.0, 0.97])
}


@pytest.fixture()
def compare_cli(monkeypatch):
    from cortexrnn.services.stats import summarise

    tidy = pd.DataFrame(
        [
            {"condition": c, "task": "go_no_go", "seed": s, "metric": "test_acc", "value": v}
            for (c, s), v in VALUES.items()
        ]
    )
    body = {
        k: json.loads(df.to_json(orient="records")) for k, df in summarise(tidy, n_boot=200).items()
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=body)

    monkeypatch.setitem(
        client_cli.CLIENT_OPTIONS,
        "http_client",
        httpx.Client(transport=httpx.MockTransport(handler)),
    )
    runner = CliRunner()

    def run(*args: str):
        env = {"CORTEXRNN_URL": "http://testserver", "CORTEXRNN_TOKEN": "t"}
        return runner.invoke(client_cli.app, list(args), env=env)

    return run


def test_compare_names_each_rows_test_and_shows_solved_fractions(compare_cli) -> None:
    result = compare_cli("compare", "7", "--metric", "test_acc", "-f", "json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    (pair,) = got["comparisons"]
    base = [VALUES["baseline", s] for s in range(6)]
    bio = [VALUES["bio", s] for s in range(6)]
    assert pair["test"] == "Wilcoxon signed-rank, paired" and pair["n_pairs"] == 6
    assert pair["p"] == pytest.approx(wilcoxon(base, bio, method="exact").pvalue)
    assert (pair["solved_a"], pair["solved_b"], pair["solved_test"]) == (
        "0/6",
        "6/6",
        "McNemar exact, paired",
    )
    solved = {r["condition"]: r for r in got["solved"]}
    assert solved["bio"]["solved"] == 6 and solved["bio"]["high"] == 1.0
    assert 0 < solved["bio"]["low"] < 1
    stats = {r["condition"]: r for r in got["stats"]}
    assert stats["bio"]["boot_high"] <= 1.0 and "t_high" not in stats["bio"]


def test_compare_on_an_80_column_terminal_drops_columns_not_digits(
    compare_cli, monkeypatch
) -> None:
    monkeypatch.setattr(
        common,
        "console",
        lambda: Console(
            highlight=False, soft_wrap=False, width=80, force_terminal=True, color_system=None
        ),
    )
    result = compare_cli("compare", "7", "--metric", "test_acc")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "…" not in out and max(map(len, out.splitlines())) <= 80
    assert "Wilcoxon signed-rank, paired" in out.replace("\n", " ") or "Wilcoxon" in out
    assert "left out to fit the terminal" in result.stderr
