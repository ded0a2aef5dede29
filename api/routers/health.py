"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from sqlalchemy import func, select, text

from cortexrnn.api.deps import SessionDep
from cortexrnn.shared.models import Experiment, Run

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The API process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request, session: SessionDep) -> JSONResponse:
    """Ready when the database and the broker answer."""
    checks: dict[str, str] = {}
    try:
        session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"unreachable: {type(exc).__name__}"
    checks["broker"] = request.app.state.broker_check()
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
        headers=None if ready else {"Retry-After": "5"},
    )


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(session: SessionDep) -> PlainTextResponse:
    """Prometheus exposition: runs by state, experiments by status."""
    registry = CollectorRegistry()
    runs = Gauge("cortexrnn_runs", "Runs by state", ["state"], registry=registry)
    for state, n in session.execute(select(Run.state, func.count()).group_by(Run.state)):
        runs.labels(state=state).set(n)
    experiments = Gauge(
        "cortexrnn_experiments", "Experiments by status", ["status"], registry=registry
    )
    for status, n in session.execute(
        select(Experiment.status, func.count()).group_by(Experiment.status)
    ):
        experiments.labels(status=status).set(n)
    return PlainTextResponse(generate_latest(registry).decode(), media_type=CONTENT_TYPE_LATEST)
