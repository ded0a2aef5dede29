"""/v1/experiments/{id}/summary and /report: statistics across conditions and the HTML report."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cortexrnn.api.artifact_files import artifact_files
from cortexrnn.api.deps import ExperimentId, SessionDep, UserDep
from cortexrnn.api.errors import ApiError, Responses, error_responses, not_found
from cortexrnn.services.report import build_report
from cortexrnn.services.stats import summarise
from cortexrnn.services.stats.outcomes import without_markers
from cortexrnn.shared.experiments import result_run_id
from cortexrnn.shared.models import Experiment, Run, RunSummary
from cortexrnn.shared.results import (
    load_results,
    sweep_columns,
    tidy_for_stats,
    weights_for_report,
)

router = APIRouter(prefix="/v1/experiments", tags=["results"])
ERRORS: Responses = error_responses(401, 404, 409, 422)


def _records(df: Any) -> list[dict[str, Any]]:
    out = []
    for row in df.to_dict(orient="records"):
        out.append(
            {
                k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in row.items()
            }
        )
    return out


def _experiment(session: Session, experiment_id: int) -> Experiment:
    e = session.get(Experiment, experiment_id)
    if e is None:
        raise not_found("experiment", experiment_id)
    return e


@router.get("/{experiment_id}/summary", responses=ERRORS)
def summary(
    experiment_id: ExperimentId,
    session: SessionDep,
    _: UserDep,
    metric: list[str] | None = Query(
        None, description="Only these metrics (repeat the parameter)."
    ),
    task: str | None = Query(None, max_length=64),
    n_boot: int = Query(2000, ge=100, le=20000, description="Bootstrap resamples for the CIs."),
) -> dict[str, Any]:
    """Per condition × task × metric: n, mean, sd and the 95 % bootstrap CI; per condition ×
    task the solved fraction with its exact CI; Friedman or Kruskal–Wallis; pairwise tests
    (paired by seed where runs share seeds) with Holm correction; rank-based W/D/C ANOVA. A run
    whose training diverged counts as not solved, at its task's floor accuracy."""
    _experiment(session, experiment_id)
    results = load_results(session, experiment_id, curves=False)
    data = without_markers(tidy_for_stats(results.metrics))
    if metric:
        unknown = sorted(set(metric) - set(data["metric"]))
        if unknown and not data.empty:
            raise ApiError(
                422,
                f"metric: no results named {unknown}; available: {sorted(set(data['metric']))}",
                [{"path": "metric", "message": "unknown metric"}],
            )
        data = data[data["metric"].isin(metric)]
    if task:
        data = data[data["task"] == task]
    n_runs = len(results.runs)
    if data.empty:
        return {
            "experiment_id": experiment_id,
            "n_runs": n_runs,
            "summary": [],
            "solved": [],
            "omnibus": [],
            "pairwise": [],
            "anova": [],
        }
    tables = summarise(data.reset_index(drop=True), n_boot=n_boot)
    return {
        "experiment_id": experiment_id,
        "n_runs": n_runs,
        **{k: _records(v) for k, v in tables.items()},
    }


@router.get("/{experiment_id}/results", responses=ERRORS)
def results_table(experiment_id: ExperimentId, session: SessionDep, _: UserDep) -> dict[str, Any]:
    """One row per run: its state and every summary value (null where undefined, with the
    reason in `reasons`). Cached runs carry their original's values."""
    _experiment(session, experiment_id)
    runs = list(
        session.scalars(select(Run).where(Run.experiment_id == experiment_id).order_by(Run.id))
    )
    values: dict[int, dict[str, Any]] = {}
    reasons: dict[int, dict[str, str]] = {}
    source = {r.id: result_run_id(r) for r in runs}
    for row in session.scalars(
        select(RunSummary).where(RunSummary.run_id.in_(set(source.values())))
    ):
        values.setdefault(row.run_id, {})[row.name] = row.value
        if row.reason:
            reasons.setdefault(row.run_id, {})[row.name] = row.reason
    return {
        "experiment_id": experiment_id,
        "runs": [
            {
                "run_id": r.id,
                "condition": r.condition,
                "seed": r.seed,
                "task": r.task,
                "state": r.state,
                "cached_from_id": r.cached_from_id,
                "error": r.error,
                "sweep": sweep_columns(r),
                "values": values.get(source[r.id], {}),
                "reasons": reasons.get(source[r.id], {}),
            }
            for r in runs
        ],
    }


def _no_report_yet(session: Session, experiment: Experiment) -> str:
    """Why there is nothing to report: runs still to finish, or every run failed (with the
    errors, most common first, so that the user sees what to change)."""
    states = dict(
        session.execute(
            select(Run.state, func.count())
            .where(Run.experiment_id == experiment.id)
            .group_by(Run.state)
        ).all()
    )
    total = sum(states.values())
    unfinished = sum(states.get(s, 0) for s in ("pending", "queued", "running"))
    if unfinished:
        return (
            f"experiment {experiment.id} has no succeeded runs yet ({unfinished} of {total} "
            "still to finish); the report needs at least one"
        )
    errors = session.execute(
        select(Run.state, Run.error, func.count())
        .where(Run.experiment_id == experiment.id)
        .group_by(Run.state, Run.error)
        .order_by(func.count().desc(), Run.error)
    ).all()
    why = "; ".join(f"{n} {state}: {error or 'no message'}" for state, error, n in errors[:3])
    if len(errors) > 3:
        why += f"; and {len(errors) - 3} other errors (`cortexrnn-client status {experiment.id}`)"
    ended = "failed" if set(states) == {"failed"} else "ended without results"
    return (
        f"all {total} runs of experiment {experiment.id} {ended}, so there is nothing to "
        f"report: {why}"
    )


@router.get("/{experiment_id}/report", response_class=HTMLResponse, responses=ERRORS)
def report(
    experiment_id: ExperimentId, request: Request, session: SessionDep, _: UserDep
) -> HTMLResponse:
    """A self-contained HTML report (figures embedded) of the runs finished so far."""
    experiment = _experiment(session, experiment_id)
    finished = session.scalar(
        select(func.max(Run.finished_at)).where(Run.experiment_id == experiment_id)
    )
    n_done = session.scalar(
        select(func.count()).where(Run.experiment_id == experiment_id, Run.state == "succeeded")
    )
    if not n_done:
        raise ApiError(409, _no_report_yet(session, experiment))
    # The report only changes when runs finish: cache it by that state.
    key = hashlib.sha256(
        f"{experiment_id}|{n_done}|{finished}|{experiment.status}".encode()
    ).hexdigest()[:16]
    cache = (
        Path(request.app.state.settings.artifacts_dir)
        / "experiments"
        / str(experiment_id)
        / f"report-{key}.html"
    )
    if cache.is_file():
        return HTMLResponse(cache.read_text(encoding="utf-8"))
    results = load_results(session, experiment_id)
    weights, positions = weights_for_report(session, results.runs, artifact_files(request))
    html = build_report(
        tidy_for_stats(results.metrics),
        results.curves,
        weights,
        positions or None,
        experiment.spec,
        title=f"CortexRNN experiment {experiment_id}: {experiment.name or ''}".strip(),
        n_boot=2000,
        sweep=results.metrics if "family" in results.metrics.columns else None,
    )
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(cache)
    return HTMLResponse(html)
