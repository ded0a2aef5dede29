"""Final per-run values of one metric: every seed as a point, and per condition the mean with
the same interval the statistics table gives (services.stats.mean_interval, n_boot 2000 as
GET /v1/experiments/{id}/summary), so that the figure and the table agree."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from cortexrnn.api.dashboard.curves import round_sig
from cortexrnn.api.dashboard.sources import RunRef, finished_sources, ordered, succeeded_by_source
from cortexrnn.services.stats import chance, mean_interval
from cortexrnn.shared.models import RunSummary

N_BOOT = 2000  # as the summary endpoint, so that intervals match the table's
DEFAULT_METRICS = ("test_acc", "final_test_acc", "train_acc")


def final_names(session: Session, experiment_id: int) -> list[str]:
    return sorted(
        session.scalars(
            select(RunSummary.name)
            .where(RunSummary.run_id.in_(finished_sources(experiment_id)))
            .distinct()
        )
    )


def default_final(names: list[str]) -> str | None:
    return next((m for m in DEFAULT_METRICS if m in names), names[0] if names else None)


def aggregate_finals(
    session: Session, experiment_id: int, refs: list[RunRef], metric: str
) -> dict[str, Any]:
    by_source = succeeded_by_source(refs)
    values: dict[str, dict[str, list[tuple[int, int, float]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    undefined: dict[str, int] = defaultdict(int)
    for run_id, value in session.execute(
        select(RunSummary.run_id, RunSummary.value)
        .where(RunSummary.run_id.in_(finished_sources(experiment_id)), RunSummary.name == metric)
        .order_by(RunSummary.run_id)
    ):
        ref = by_source.get(run_id)
        if ref is None:
            continue
        if value is None or not np.isfinite(value):
            undefined[ref.task] += 1
            continue
        values[ref.task][ref.condition].append((ref.seed, ref.id, float(value)))
    condition_order = ordered([r.condition for r in refs])
    tasks = []
    for task in ordered([r.task for r in refs]):
        if task not in values:
            continue
        names = [c for c in condition_order if c in values[task]]
        points: list[list[Any]] = []
        summary: list[dict[str, Any]] = []
        for ci, name in enumerate(names):
            seeds = values[task][name]
            points.extend([ci, seed, run, round_sig(np.array([v]))[0]] for seed, run, v in seeds)
            mean, low, high = mean_interval(np.array([v for _, _, v in seeds]), n_boot=N_BOOT)
            summary.append(
                {"condition": name, "n": len(seeds)}
                | dict(
                    zip(
                        ("mean", "low", "high"), round_sig(np.array([mean, low, high])), strict=True
                    )
                )
            )
        tasks.append(
            {
                "task": task,
                "chance": chance(task) if metric.endswith("acc") else None,
                "conditions": names,
                "points": points,
                "summary": summary,
                "undefined": undefined.get(task, 0),
            }
        )
    return {"metric": metric, "tasks": tasks}
