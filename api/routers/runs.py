"""/v1/runs: one run, its metric time series and its weights."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cortexrnn.api.artifact_files import FilesDep, download
from cortexrnn.api.deps import RunId, SessionDep, UserDep
from cortexrnn.api.errors import ApiError, Responses, error_responses, not_found
from cortexrnn.shared.experiments import result_run_id
from cortexrnn.shared.models import Artifact, MetricPoint, Run, RunSummary
from cortexrnn.shared.results import sweep_columns
from cortexrnn.wire.schemas import MetricSeries, RunDetail, RunMetrics

router = APIRouter(prefix="/v1/runs", tags=["runs"])
ERRORS: Responses = error_responses(401, 404, 422)


def _get(session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise not_found("run", run_id)
    return run


@router.get("/{run_id}", response_model=RunDetail, responses=ERRORS)
def get_run(run_id: RunId, session: SessionDep, _: UserDep) -> RunDetail:
    run = _get(session, run_id)
    rows = list(session.scalars(select(RunSummary).where(RunSummary.run_id == result_run_id(run))))
    data = {
        c: getattr(run, c)
        for c in RunDetail.model_fields
        if c not in ("summary", "summary_reasons", "sweep")
    }
    return RunDetail(
        **data,
        sweep=sweep_columns(run),
        summary={r.name: r.value for r in rows},
        summary_reasons={r.name: r.reason for r in rows if r.reason},
    )


@router.get("/{run_id}/metrics", response_model=RunMetrics, responses=ERRORS)
def metrics(
    run_id: RunId,
    session: SessionDep,
    _: UserDep,
    name: list[str] | None = Query(None, description="Only these series (repeat the parameter)."),
) -> RunMetrics:
    run = _get(session, run_id)
    stmt = select(MetricPoint).where(MetricPoint.run_id == result_run_id(run))
    if name:
        stmt = stmt.where(MetricPoint.name.in_(name))
    series: dict[str, MetricSeries] = {}
    for p in session.scalars(stmt.order_by(MetricPoint.name, MetricPoint.step, MetricPoint.id)):
        s = series.setdefault(p.name, MetricSeries(name=p.name, steps=[], epochs=[], values=[]))
        s.steps.append(p.step)
        s.epochs.append(p.epoch)
        s.values.append(p.value)
    return RunMetrics(run_id=run.id, series=list(series.values()))


@router.get(
    "/{run_id}/weights", responses={**ERRORS, 200: {"content": {"application/octet-stream": {}}}}
)
def weights(run_id: RunId, session: SessionDep, files: FilesDep, _: UserDep) -> Response:
    """The run's weights as .npz: initial, after every epoch, final (numeric arrays only)."""
    run = _get(session, run_id)
    artifact = session.scalar(
        select(Artifact)
        .where(Artifact.run_id == result_run_id(run), Artifact.kind == "weights")
        .order_by(Artifact.id.desc())
    )
    missing = ApiError(404, f"run {run_id} has no weights yet (state: {run.state})")
    if artifact is None or not files.exists(artifact.path):
        raise missing
    try:
        return download(files, artifact.path, f"run-{run.id}-weights.npz")
    except FileNotFoundError:  # removed between the two looks
        raise missing from None
