"""What the experiment page loads after its first paint, and its downloads, behind the
session cookie: a browser cannot send the API's Bearer header on a link or an EventSource,
so these answer with the /v1 routes' own functions for the logged-in user."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sse_starlette.sse import EventSourceResponse

from cortexrnn.api.artifact_files import FilesDep
from cortexrnn.api.dashboard.auth import DataViewer, Refused
from cortexrnn.api.dashboard.curves import aggregate_curves, curve_names, default_metric
from cortexrnn.api.dashboard.experiment_page import get_experiment
from cortexrnn.api.dashboard.finals import aggregate_finals, default_final, final_names
from cortexrnn.api.dashboard.sources import run_refs
from cortexrnn.api.dashboard.stats_view import statistics_html
from cortexrnn.api.dashboard.templating import templates
from cortexrnn.api.dashboard.weights_view import weight_images
from cortexrnn.api.deps import ExperimentId, RunId, SessionDep
from cortexrnn.api.errors import ApiError
from cortexrnn.api.routers import experiments, results, runs
from cortexrnn.shared.models import Run

router = APIRouter(prefix="/ui", include_in_schema=False)
MetricName = Query("", max_length=64)


def _refused(exc: ApiError) -> Refused:
    return Refused(exc.status, exc.message)


@router.get("/experiments/{experiment_id}/curves")
def curves(
    experiment_id: ExperimentId, session: SessionDep, _: DataViewer, metric: str = MetricName
) -> dict[str, Any]:
    """One series aggregated over seeds (the default one where `metric` is empty), with the
    names of every series, which grow as the first runs finish."""
    get_experiment(session, experiment_id)
    refs = run_refs(session, experiment_id)
    names = curve_names(session, refs)
    chosen = metric if metric in names else default_metric(names)
    payload = aggregate_curves(session, experiment_id, refs, chosen) if chosen else {"tasks": []}
    return {**payload, "metric": chosen, "names": names}


@router.get("/experiments/{experiment_id}/finals")
def finals(
    experiment_id: ExperimentId, session: SessionDep, _: DataViewer, metric: str = MetricName
) -> dict[str, Any]:
    get_experiment(session, experiment_id)
    refs = run_refs(session, experiment_id)
    names = final_names(session, experiment_id)
    chosen = metric if metric in names else default_final(names)
    payload = aggregate_finals(session, experiment_id, refs, chosen) if chosen else {"tasks": []}
    return {**payload, "metric": chosen, "names": names}


@router.get("/experiments/{experiment_id}/stats", response_class=HTMLResponse)
def stats(
    experiment_id: ExperimentId, request: Request, session: SessionDep, viewer: DataViewer
) -> HTMLResponse:
    experiment = get_experiment(session, experiment_id)
    template = templates.env.get_template("_stats.html")
    html = statistics_html(
        request, session, viewer.user, experiment, lambda tables: template.render(tables=tables)
    )
    return HTMLResponse(html)


@router.get("/experiments/{experiment_id}/events")
async def events(
    experiment_id: ExperimentId, request: Request, viewer: DataViewer
) -> EventSourceResponse:
    """The API's own event stream (`run`, `progress`, `done`)."""
    try:
        return await experiments.events(experiment_id, request, viewer.user)
    except ApiError as exc:
        raise _refused(exc) from None


@router.get("/experiments/{experiment_id}/report", response_class=HTMLResponse)
def report(
    experiment_id: ExperimentId, request: Request, session: SessionDep, viewer: DataViewer
) -> HTMLResponse:
    try:
        return results.report(experiment_id, request, session, viewer.user)
    except ApiError as exc:
        raise _refused(exc) from None


def _results(session: SessionDep, experiment_id: int, viewer: DataViewer) -> dict[str, Any]:
    try:
        return results.results_table(experiment_id, session, viewer.user)
    except ApiError as exc:
        raise _refused(exc) from None


@router.get("/experiments/{experiment_id}/results.json")
def results_json(experiment_id: ExperimentId, session: SessionDep, viewer: DataViewer) -> Response:
    body = json.dumps(_results(session, experiment_id, viewer), default=str, indent=1)
    return _download(body, f"experiment-{experiment_id}-results.json", "application/json")


@router.get("/experiments/{experiment_id}/results.csv")
def results_csv(experiment_id: ExperimentId, session: SessionDep, viewer: DataViewer) -> Response:
    """One row per run, one column per summary value (blank where undefined)."""
    table = _results(session, experiment_id, viewer)["runs"]
    metrics = sorted({m for row in table for m in row["values"]})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["run_id", "condition", "task", "seed", "state", "cached_from_id", *metrics])
    for row in table:
        writer.writerow(
            [row["run_id"], row["condition"], row["task"], row["seed"], row["state"],
             row["cached_from_id"] or "", *(_cell(row["values"].get(m)) for m in metrics)]
        )  # fmt: skip
    return _download(out.getvalue(), f"experiment-{experiment_id}-results.csv", "text/csv")


def _cell(value: Any) -> str:
    return "" if value is None else repr(value) if isinstance(value, float) else str(value)


@router.get("/experiments/{experiment_id}/spec.json")
def spec_json(experiment_id: ExperimentId, session: SessionDep, _: DataViewer) -> Response:
    experiment = get_experiment(session, experiment_id)
    body = json.dumps(experiment.spec, indent=2, sort_keys=True)
    return _download(body, f"experiment-{experiment_id}-spec.json", "application/json")


def _download(body: str, filename: str, media_type: str) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/runs/{run_id}/weights.npz")
def weights_file(
    run_id: RunId, session: SessionDep, files: FilesDep, viewer: DataViewer
) -> Response:
    try:
        return runs.weights(run_id, session, files, viewer.user)
    except ApiError as exc:
        raise _refused(exc) from None


@router.get("/runs/{run_id}/heatmaps")
def heatmaps(run_id: RunId, session: SessionDep, files: FilesDep, _: DataViewer) -> JSONResponse:
    run = session.get(Run, run_id)
    if run is None:
        raise Refused(404, f"run {run_id} does not exist")
    images = weight_images(session, run, files)
    if images is None:
        raise Refused(404, f"run {run_id} has no weights yet (state: {run.state})")
    return JSONResponse(images)
