"""Experiments side by side (`compare A B`): the same conditions and measure in each, e.g. the
paper's fidelity against a corrected one. Built from each experiment's /summary, so no
science is needed; the tests between conditions stay per experiment (`compare ID`).

Tables (all carried by --format csv/json, a `table` column naming each row's table in CSV):
  stats       one row per experiment x task x condition: n, mean, sd, 95 % bootstrap CI
  difference  one row per task x condition found in every experiment: each experiment's mean
              (`mean_<id>`) and the change from the first (`change_<id>`)
"""

from __future__ import annotations

from typing import Any

from cortexrnn.client.tables import measure_of, stats_rows


def experiment_tables(
    summaries: dict[int, Any], metric: str, task: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    stats: list[dict[str, Any]] = []
    means: dict[tuple[str, str], dict[int, float | None]] = {}
    for experiment_id, summary in summaries.items():
        for stat in stats_rows(summary):
            if measure_of(stat) != metric or (task is not None and str(stat.get("task")) != task):
                continue
            stats.append({"experiment": experiment_id, **stat})
            key = (str(stat.get("task")), str(stat.get("condition")))
            means.setdefault(key, {})[experiment_id] = stat.get("mean")
    ids = list(summaries)
    first = ids[0]
    difference = []
    for (task_name, condition), by_id in means.items():
        if set(by_id) != set(ids):
            continue  # a condition not run in every experiment has nothing to set beside
        row: dict[str, Any] = {"task": task_name, "condition": condition}
        row.update({f"mean_{i}": by_id[i] for i in ids})
        for i in ids[1:]:
            a, b = by_id[first], by_id[i]
            row[f"change_{i}"] = None if a is None or b is None else b - a
        difference.append(row)
    return {"stats": stats, "difference": difference}


def tables_as_rows(
    tables: dict[str, list[dict[str, Any]]],
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every table in one CSV: a leading `table` column, then the union of the columns."""
    rows = [{"table": name, **row} for name, table in tables.items() for row in table]
    columns = list(dict.fromkeys(k for r in rows for k in r)) or ["table"]
    return rows, columns
