"""Tables built from the API's answers: per-run results, the stats table and the pairwise
comparisons of /summary. Rows are plain dicts (for csv/json output, no pandas needed); the
*_frame functions wrap them in pandas DataFrames for the Python API (pandas comes with
`cortexrnn[science]`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cortexrnn.client import science
from cortexrnn.client.errors import UsageError

if TYPE_CHECKING:
    from pandas import DataFrame

    from cortexrnn.client.api import Client

# What `results` shows on screen by default (the rest: --measures, or csv/json).
HEADLINE_MEASURES = (
    "test_acc",
    "test_loss",
    "steps_to_criterion",
    "modularity_cnm",
    "small_world_sigma",
)
RUN_COLUMNS = ["run_id", "condition", "seed", "task", "state", "attempt", "cached_from_id", "error"]
# Keys under which /summary may carry its two tables (the first present wins).
STATS_KEYS = ("stats", "summary", "measures", "rows")
COMPARISON_KEYS = ("comparisons", "pairwise", "tests", "contrasts")
OMNIBUS_KEYS = ("kruskal", "omnibus")
SOLVED_KEYS = ("solved",)
MEASURE_KEYS = ("measure", "metric")


def result_rows(client: Client, experiment_id: int) -> tuple[list[dict[str, Any]], list[str]]:
    """One row per run with its final measures; columns: run fields, then measures sorted."""
    rows: list[dict[str, Any]] = []
    measures: set[str] = set()
    swept: dict[str, None] = {}  # swept columns in first-seen order
    for run in client.runs(experiment_id):
        row: dict[str, Any] = {
            "run_id": run.id,
            "condition": run.condition,
            "seed": run.seed,
            "task": run.task,
            "state": run.state,
            "attempt": run.attempt,
            "cached_from_id": run.cached_from_id,
            "error": run.error,
            **run.sweep,  # a swept run: its family and one column per swept field
        }
        swept.update(dict.fromkeys(run.sweep))
        if run.state == "succeeded":
            detail = client.run(run.id)
            row.update(detail.summary)
            measures.update(detail.summary)
        rows.append(row)
    return rows, RUN_COLUMNS + list(swept) + sorted(measures)


CURVE_COLUMNS = ["run_id", "condition", "seed", "task", "metric", "step", "epoch", "value"]
# Runs with no points yet: nothing to ask the server for.
NOT_STARTED = ("pending", "queued")


def curve_rows(
    client: Client, experiment_id: int, metrics: list[str] | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every metric point of every run that has started (running ones too: curves grow while
    they train), one row per point (tidy, long format); a swept run's point columns follow
    its task. `metrics` narrows to those names (e.g. ["test_acc"])."""
    rows: list[dict[str, Any]] = []
    swept: dict[str, None] = {}
    for run in client.runs(experiment_id):
        if run.state in NOT_STARTED:
            continue
        swept.update(dict.fromkeys(run.sweep))
        keys = {
            "run_id": run.id,
            "condition": run.condition,
            "seed": run.seed,
            "task": run.task,
            **run.sweep,
        }
        for series in client.metrics(run.cached_from_id or run.id, metrics).series:
            for step, epoch, value in zip(series.steps, series.epochs, series.values, strict=True):
                rows.append(
                    {**keys, "metric": series.name, "step": step, "epoch": epoch, "value": value}
                )
    columns = CURVE_COLUMNS[:4] + list(swept) + CURVE_COLUMNS[4:]
    return rows, columns


def curves_frame(client: Client, experiment_id: int, metrics: list[str] | None = None) -> DataFrame:
    pd = science.pandas("the learning curves DataFrame")
    rows, columns = curve_rows(client, experiment_id, metrics)
    return pd.DataFrame(rows, columns=columns)


def sweep_columns(columns: list[str]) -> list[str]:
    """The columns a sweep adds to `result_rows`: `family` and the swept fields, which are
    named by dotted paths (`condition.lam`; measures never hold a dot)."""
    return [c for c in columns if c == "family" or "." in c]


def results_frame(client: Client, experiment_id: int) -> DataFrame:
    pd = science.pandas("the results DataFrame")
    rows, columns = result_rows(client, experiment_id)
    return pd.DataFrame(rows, columns=columns)


def _table(summary: Any, keys: tuple[str, ...]) -> list[dict[str, Any]] | None:
    if isinstance(summary, list):
        return summary if keys is STATS_KEYS else None
    if not isinstance(summary, dict):
        return None
    for key in keys:
        value = summary.get(key)
        if isinstance(value, list) and all(isinstance(r, dict) for r in value):
            return value
        if isinstance(value, dict) and isinstance(value.get("rows"), list):
            return value["rows"]
    tables = summary.get("tables")
    return _table(tables, keys) if isinstance(tables, dict) else None


def measure_of(row: dict[str, Any]) -> str | None:
    for key in MEASURE_KEYS:
        if key in row:
            return str(row[key])
    return None


def stats_rows(summary: Any) -> list[dict[str, Any]]:
    rows = _table(summary, STATS_KEYS)
    if rows is None:
        raise UsageError("the server's summary has no stats table (is the experiment finished?)")
    return rows


def comparison_rows(summary: Any, metric: str, task: str | None = None) -> list[dict[str, Any]]:
    """The pairwise comparisons of one measure (and task), with their corrected p-values."""
    rows = _table(summary, COMPARISON_KEYS)
    if rows is None:
        raise UsageError(
            "the server's summary has no comparisons table (is the experiment finished?)"
        )
    available = sorted({m for r in rows if (m := measure_of(r))})
    chosen = [r for r in rows if measure_of(r) == metric]
    if not chosen:
        raise UsageError(
            f"--metric: no comparisons for {metric!r}; available: {', '.join(available) or 'none'}"
        )
    if task is not None:
        tasks = sorted({str(r.get("task")) for r in chosen})
        chosen = [r for r in chosen if str(r.get("task")) == task]
        if not chosen:
            raise UsageError(
                f"--task: no comparisons of {metric!r} for task {task!r}; tasks: {', '.join(tasks)}"
            )
    return chosen


def omnibus_rows(summary: Any, metric: str, task: str | None = None) -> list[dict[str, Any]]:
    """The omnibus test rows (Kruskal-Wallis) of one measure, when the summary has them."""
    rows = _table(summary, OMNIBUS_KEYS) or []
    return [
        r for r in rows if measure_of(r) == metric and (task is None or str(r.get("task")) == task)
    ]


def solved_rows(summary: Any, metric: str, task: str | None = None) -> list[dict[str, Any]]:
    """The fraction of seeds that solved each task, with its exact interval, when `metric` is
    the one that defines solving (held-out accuracy) and the summary has them."""
    rows = _table(summary, SOLVED_KEYS) or []
    return [
        r for r in rows if measure_of(r) == metric and (task is None or str(r.get("task")) == task)
    ]


def stats_frame(summary: Any) -> DataFrame:
    pd = science.pandas("the stats DataFrame")

    return pd.DataFrame(stats_rows(summary))


def comparison_frame(summary: Any, metric: str, task: str | None = None) -> DataFrame:
    pd = science.pandas("the comparisons DataFrame")

    return pd.DataFrame(comparison_rows(summary, metric, task))
