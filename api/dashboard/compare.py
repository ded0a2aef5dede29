"""Compare: two or more experiments side by side on the conditions, tasks and metrics they
share (e.g. the paper's fidelity against the corrected one)."""

from __future__ import annotations

import math
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from cortexrnn.api.dashboard.auth import PageViewer
from cortexrnn.api.dashboard.curves import aggregate_curves, curve_names, default_metric
from cortexrnn.api.dashboard.finals import aggregate_finals, default_final
from cortexrnn.api.dashboard.sources import RunRef, finished_sources, ordered, run_refs
from cortexrnn.api.dashboard.templating import render
from cortexrnn.api.deps import SessionDep
from cortexrnn.services.stats import describe
from cortexrnn.shared.models import Experiment, RunSummary, User

router = APIRouter(include_in_schema=False)
MAX_COMPARED = 6
N_BOOT = 2000  # as the summary endpoint and the experiment page


def parse_ids(raw: list[str]) -> list[int]:
    """`ids=3&ids=5` or `ids=3,5`; order kept, repeats dropped."""
    ids = []
    for part in ",".join(raw).split(","):
        part = part.strip()
        if part.isdigit() and 0 < int(part) < 2**63:
            ids.append(int(part))
    return list(dict.fromkeys(ids))[:MAX_COMPARED]


def tidy_finals(session: Session, experiment_id: int, refs: list[RunRef]) -> pd.DataFrame:
    by_source = {r.source_id: r for r in refs if r.state == "succeeded"}
    rows = [
        (ref.condition, ref.task, ref.seed, name, value)
        for run_id, name, value in session.execute(
            select(RunSummary.run_id, RunSummary.name, RunSummary.value).where(
                RunSummary.run_id.in_(finished_sources(experiment_id)),
                RunSummary.value.is_not(None),
            )
        )
        if (ref := by_source.get(run_id)) is not None
    ]
    return pd.DataFrame(rows, columns=["condition", "task", "seed", "metric", "value"])


def comparison_rows(
    summaries: list[pd.DataFrame], conditions: list[str], tasks: list[str]
) -> list[dict[str, Any]]:
    """One row per task × metric × condition: each experiment's mean, interval and n."""
    index: list[dict[tuple[str, str, str], dict[str, Any]]] = [
        {(r["task"], r["metric"], r["condition"]): r for r in s.to_dict(orient="records")}
        for s in summaries
    ]
    keys = sorted(
        {k for i in index for k in i if k[0] in tasks and k[2] in conditions},
        key=lambda k: (k[0], k[1], conditions.index(k[2])),
    )
    rows = []
    for task, metric, condition in keys:
        cells = [i.get((task, metric, condition)) for i in index]
        means = [c["mean"] for c in cells if c and math.isfinite(c["mean"])]
        rows.append(
            {
                "task": task,
                "metric": metric,
                "condition": condition,
                "cells": cells,
                "spread": (max(means) - min(means)) if len(means) == len(cells) else None,
            }
        )
    return rows


@router.get("/compare", response_class=HTMLResponse)
def compare_page(
    request: Request,
    session: SessionDep,
    viewer: PageViewer,
    ids: Annotated[list[str] | None, Query()] = None,
    metric: Annotated[str, Query(max_length=64)] = "",
    curve: Annotated[str, Query(max_length=64)] = "",
    all_conditions: bool = False,
) -> HTMLResponse:
    wanted = parse_ids(ids or [])
    experiments = [e for i in wanted if (e := session.get(Experiment, i)) is not None]
    recent = session.execute(
        select(Experiment.id, Experiment.name, User.name, Experiment.status)
        .join(User, User.id == Experiment.owner_id)
        .order_by(Experiment.id.desc())
        .limit(100)
    ).all()
    context: dict[str, Any] = dict(page="compare", experiments=experiments, recent=recent)
    if len(experiments) < 2:
        return render(request, "compare.html", viewer, ready=False, wanted=wanted, **context)
    refs = {e.id: run_refs(session, e.id) for e in experiments}
    condition_sets = [ordered([r.condition for r in refs[e.id]]) for e in experiments]
    task_sets = [ordered([r.task for r in refs[e.id]]) for e in experiments]
    shared = [c for c in condition_sets[0] if all(c in s for s in condition_sets[1:])]
    every = ordered([c for s in condition_sets for c in s])
    tasks = [t for t in task_sets[0] if all(t in s for s in task_sets[1:])]
    summaries = []
    for e in experiments:
        tidy = tidy_finals(session, e.id, refs[e.id])
        summaries.append(describe(tidy, n_boot=N_BOOT) if not tidy.empty else tidy.iloc[0:0])
    conditions = every if all_conditions else shared
    rows = comparison_rows(summaries, conditions, tasks)
    metrics = ordered([r["metric"] for r in rows])
    chosen = metric if metric in metrics else default_final(metrics)
    curve_list = sorted({n for e in experiments for n in curve_names(session, refs[e.id])})
    chosen_curve = curve if curve in curve_list else default_metric(curve_list)
    data = {
        "conditions": conditions,
        "tasks": tasks,
        "experiments": [{"id": e.id, "name": e.name or f"experiment {e.id}"} for e in experiments],
        "finals": [
            aggregate_finals(session, e.id, refs[e.id], chosen) if chosen else None
            for e in experiments
        ],
        "curves": [
            aggregate_curves(session, e.id, refs[e.id], chosen_curve) if chosen_curve else None
            for e in experiments
        ],
    }
    return render(
        request,
        "compare.html",
        viewer,
        ready=True,
        wanted=wanted,
        rows=rows,
        shared=shared,
        every=every,
        tasks=tasks,
        metrics=metrics,
        metric=chosen,
        curve_list=curve_list,
        curve=chosen_curve,
        all_conditions=all_conditions,
        data=data,
        **context,
    )
