"""Results: results, compare, report, download (tables come from the server: no science needed)."""

from __future__ import annotations

import json
import sys
import webbrowser
from pathlib import Path
from typing import Any

import typer

from cortexrnn.client.commands.common import (
    FORMAT_HELP,
    check_format,
    client_from,
    emit,
    err_console,
)
from cortexrnn.client.compare import experiment_tables, tables_as_rows
from cortexrnn.client.errors import UsageError
from cortexrnn.client.experiment import Experiment
from cortexrnn.client.tables import (
    HEADLINE_MEASURES,
    RUN_COLUMNS,
    comparison_rows,
    measure_of,
    omnibus_rows,
    result_rows,
    solved_rows,
    stats_rows,
    sweep_columns,
)

# On screen the columns that decide come first: a narrow terminal drops from the right.
PAIRWISE_FIRST = ("a", "b", "test", "p", "p_holm", "mean_a", "mean_b", "n_pairs", "solved_a",
                  "solved_b", "p_solved", "p_solved_holm", "solved_test")  # fmt: skip


def results(
    ctx: typer.Context,
    experiment_id: int = typer.Argument(..., metavar="ID"),
    form: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
    output: Path = typer.Option(
        None, "-o", "--output", help="Write to this file instead of the screen."
    ),
    measures: str = typer.Option(
        None,
        "--measures",
        help="Comma-separated measures to show (default in a "
        "table: the headline ones; csv and json: all).",
    ),
) -> None:
    """One row per run: condition, seed, task, state and its final measures."""
    check_format(form)
    rows, columns = result_rows(client_from(ctx), experiment_id)
    swept = sweep_columns(columns)  # a sweep's family and swept fields, beside the run fields
    available = [c for c in columns if c not in RUN_COLUMNS and c not in swept]
    if measures:
        wanted = [m.strip() for m in measures.split(",") if m.strip()]
        unknown = [m for m in wanted if m not in available]
        if unknown and available:
            raise UsageError(
                f"--measures: {', '.join(unknown)} not among the runs' measures: "
                f"{', '.join(available)}"
            )
        columns = RUN_COLUMNS + swept + wanted
    elif (
        form == "table"
    ):  # the screen is narrow: the run fields that matter, then the headline measures
        columns = [c for c in RUN_COLUMNS if c not in ("attempt", "cached_from_id", "error")]
        columns += swept
        columns += [m for m in HEADLINE_MEASURES if m in available]
    hidden = len([m for m in available if m not in columns])
    emit(rows, columns, form, output, f"experiment {experiment_id}: {len(rows)} runs")
    if form == "table" and hidden:
        err_console().print(f"{hidden} more measures: --measures NAME,... or --format csv|json")


def compare(
    ctx: typer.Context,
    experiment_ids: list[int] = typer.Argument(..., metavar="ID [ID...]"),
    metric: str = typer.Option(
        ..., "--metric", "-m", help="The measure to compare, e.g. test_acc."
    ),
    task: str = typer.Option(None, "--task", help="Only this task."),
    form: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
) -> None:
    """Conditions side by side on one measure: mean and 95 % bootstrap CI per condition, the
    fraction of seeds that solved the task (held-out accuracy), then the pairwise tests with
    Holm-corrected p-values, each row naming its test (paired by seed where the runs share
    seeds), from the server's /summary. With two or more IDs: the experiments side by side
    on the same conditions (each one's mean and CI, and the change from the first). CSV
    carries every table, a `table` column naming each row's."""
    check_format(form)
    if len(experiment_ids) > 1:
        compare_experiments(ctx, experiment_ids, metric, task, form)
        return
    (experiment_id,) = experiment_ids
    summary = client_from(ctx).summary_json(experiment_id, metric=metric, task=task)
    stats = [
        r
        for r in stats_rows(summary)
        if measure_of(r) == metric and (task is None or str(r.get("task")) == task)
    ]
    pairs = comparison_rows(summary, metric, task)
    omnibus = omnibus_rows(summary, metric, task)
    solved = solved_rows(summary, metric, task)
    if form != "table":
        payload = {"stats": stats, "solved": solved, "omnibus": omnibus, "comparisons": pairs}
        if form == "json":
            sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        else:
            emit(*tables_as_rows(payload), "csv", None, "")
        return
    # On screen, columns that are the same in every row go into the title instead.
    tasks = {str(r.get("task")) for r in stats + pairs + omnibus + solved}
    drop = {"metric", "measure"} | ({"task"} if len(tasks) == 1 else set())
    label = f"{metric} ({tasks.pop()})" if len(tasks) == 1 else metric

    def cols(rows: list[dict[str, Any]], first: tuple[str, ...] = ()) -> list[str]:
        """Columns with a value somewhere, `first` (after the task) leading."""
        present = [
            k
            for k in dict.fromkeys(k for r in rows for k in r)
            if k not in drop and any(r.get(k) is not None for r in rows)
        ]
        lead = [k for k in ("task", *first) if k in present]
        return lead + [k for k in present if k not in lead]

    if stats:
        emit(stats, cols(stats), "table", None, f"{label} per condition (95 % bootstrap CI)")
    if solved:
        emit(solved, cols(solved), "table", None, f"{label}: seeds that solved the task "
             "(95 % Clopper–Pearson CI)")  # fmt: skip
    if omnibus:
        emit(omnibus, cols(omnibus), "table", None, f"{label}: omnibus test")
    emit(
        pairs,
        cols(pairs, PAIRWISE_FIRST),
        "table",
        None,
        f"{label}: pairwise comparisons (two-sided; p_holm: Holm-corrected)",
    )


def compare_experiments(
    ctx: typer.Context, experiment_ids: list[int], metric: str, task: str | None, form: str
) -> None:
    client = client_from(ctx)
    summaries = {
        i: client.summary_json(i, metric=metric, task=task) for i in dict.fromkeys(experiment_ids)
    }
    tables = experiment_tables(summaries, metric, task)
    if form == "json":
        sys.stdout.write(json.dumps(tables, indent=2) + "\n")
        return
    if form == "csv":
        emit(*tables_as_rows(tables), "csv", None, "")
        return
    names = ", ".join(str(i) for i in summaries)
    stats = tables["stats"]
    columns = [
        c for c in dict.fromkeys(k for r in stats for k in r) if c not in ("metric", "measure")
    ]
    emit(stats, columns, "table", None, f"{metric} per experiment and condition ({names})")
    diff = tables["difference"]
    if diff:
        emit(
            diff,
            list(diff[0]),
            "table",
            None,
            f"{metric}: change from experiment {names.split(',')[0]}",
        )
    else:
        err_console().print("no condition was run in every experiment: nothing to set side by side")


def report(
    ctx: typer.Context,
    experiment_id: int = typer.Argument(..., metavar="ID"),
    output: Path = typer.Option(
        Path("report.html"), "-o", "--output", help="Where to write the HTML report."
    ),
    open_: bool = typer.Option(False, "--open", help="Open it in the browser afterwards."),
) -> None:
    """Save the experiment's HTML report (curves, topology, stats)."""
    path = Experiment(client_from(ctx), experiment_id).report(output)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    if open_:
        webbrowser.open(path.resolve().as_uri())


def download(
    ctx: typer.Context,
    experiment_id: int = typer.Argument(..., metavar="ID"),
    output: Path = typer.Option(..., "-o", "--output", help="Folder to write into (created)."),
) -> None:
    """Everything the experiment produced: runs.csv, curves.csv, summary.json, report.html,
    weights/."""
    err = err_console()
    manifest = Experiment(client_from(ctx), experiment_id).download(
        output, on_step=lambda m: err.print(f"  {m}")
    )
    typer.echo(f"wrote {len(manifest['files'])} files to {output}")
    for missing in manifest["missing"]:
        typer.echo(f"  not available: {missing['file']} ({missing['reason']})")


def register(app: typer.Typer) -> None:
    for command in (results, compare, report, download):
        app.command()(command)
