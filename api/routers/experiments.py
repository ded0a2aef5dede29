"""/v1/experiments: submit, list, inspect, cancel, retry, delete, results, events."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sse_starlette.sse import EventSourceResponse

from cortexrnn.api.deps import ExperimentId, SessionDep, UserDep, require_owner
from cortexrnn.api.errors import ApiError, not_found
from cortexrnn.wire.schemas import ErrorResponse, ExperimentDetail, ExperimentOut, ExperimentPage, RunOut, SubmitResponse
from cortexrnn.shared.experiments import (
    IdempotencyConflict,
    SpecDatasetError,
    create_experiment,
    experiment_progress,
    refresh_experiment_status,
    resolve_dataset,
)
from cortexrnn.shared.models import Experiment, Run, RunState, User
from cortexrnn.services.spec import ExperimentSpec

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])

ERRORS = {
    400: {"model": ErrorResponse}, 401: {"model": ErrorResponse}, 403: {"model": ErrorResponse},
    404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}, 422: {"model": ErrorResponse},
}


def _get(session, experiment_id: int) -> Experiment:  # noqa: ANN001
    experiment = session.get(Experiment, experiment_id)
    if experiment is None:
        raise not_found("experiment", experiment_id)
    return experiment


def _out(session, experiment: Experiment, *, detail: bool = False) -> ExperimentOut:  # noqa: ANN001
    progress = experiment_progress(session, experiment)
    owner = session.get(User, experiment.owner_id)
    data = dict(
        id=experiment.id, name=experiment.name, owner=owner.name if owner else "?", status=experiment.status,
        priority=experiment.priority, tags=list(experiment.tags or []), spec_hash=experiment.spec_hash,
        created_at=experiment.created_at, finished_at=experiment.finished_at, n_runs=progress.total,
        counts=progress.counts, progress=round(100 * progress.fraction, 2), eta_seconds=progress.eta_seconds,
    )
    if detail:
        return ExperimentDetail(**data, spec=experiment.spec)
    return ExperimentOut(**data)


def _link(path: str, method: str, description: str) -> dict:
    ref = "#/paths/" + path.replace("/", "~1") + "/" + method
    return {"operationRef": ref, "parameters": {"experiment_id": "$response.body#/id"}, "description": description}


# OpenAPI links: what a client (or a stateful fuzzer) can do next with the id it got back.
SUBMIT_LINKS = {
    "GetExperiment": _link("/v1/experiments/{experiment_id}", "get", "The experiment's status and progress."),
    "ListRuns": _link("/v1/experiments/{experiment_id}/runs", "get", "Its runs."),
    "CancelExperiment": _link("/v1/experiments/{experiment_id}/cancel", "post", "Cancel its unfinished runs."),
    "RetryExperiment": _link("/v1/experiments/{experiment_id}/retry", "post", "Retry its failed or cancelled runs."),
    "DeleteExperiment": _link("/v1/experiments/{experiment_id}", "delete", "Delete it once finished."),
}


@router.post("", status_code=201, response_model=SubmitResponse,
             responses={**ERRORS, 200: {"model": SubmitResponse, "description": "An idempotent retry: the "
                                        "experiment first submitted with this Idempotency-Key.",
                                        "links": SUBMIT_LINKS},
                        201: {"links": SUBMIT_LINKS}})
def submit(
    spec: ExperimentSpec,
    session: SessionDep,
    user: UserDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> SubmitResponse:
    """Validate and store an experiment; 201 with its id and run count. Retrying with the
    same `Idempotency-Key` header returns the first experiment (200) instead of a copy."""
    idempotency_key = idempotency_key or None  # an empty header is no key (it would be stored as one)
    for attempt in (1, 2):
        try:
            dataset = resolve_dataset(session, spec)
            sub = create_experiment(session, user, spec, idempotency_key=idempotency_key,
                                    dataset_sha=dataset.content_sha256)
            session.commit()
            break
        except SpecDatasetError as exc:
            raise ApiError(422, f"{exc.path}: {exc}", [{"path": exc.path, "message": str(exc)}]) from None
        except IdempotencyConflict as exc:
            raise ApiError(409, str(exc)) from None
        except IntegrityError:
            # A concurrent request with the same key was stored first: the second pass finds it
            # and answers as an idempotent retry.
            session.rollback()
            if idempotency_key is None or attempt == 2:
                raise
    if not sub.created:
        response.status_code = 200
    e = sub.experiment
    return SubmitResponse(id=e.id, name=e.name, n_runs=sub.n_runs, n_cached=sub.n_cached, created=sub.created,
                          status=e.status)


@router.get("", response_model=ExperimentPage, responses=ERRORS)
def list_experiments(
    session: SessionDep,
    _: UserDep,
    owner: str | None = Query(None, max_length=64),
    status: str | None = Query(None, pattern="^(active|succeeded|failed|cancelled)$"),
    tag: str | None = Query(None, max_length=64),
    name: str | None = Query(None, max_length=200),
    offset: int = Query(0, ge=0, le=2**31 - 1),
    limit: int = Query(50, ge=1, le=500),
) -> ExperimentPage:
    stmt = select(Experiment)
    if owner:
        stmt = stmt.join(User, User.id == Experiment.owner_id).where(User.name == owner)
    if status:
        stmt = stmt.where(Experiment.status == status)
    if name:
        stmt = stmt.where(Experiment.name.contains(name, autoescape=True))
    stmt = stmt.order_by(Experiment.id.desc())
    if tag:  # tags are a JSON list; filtering here keeps one query for SQLite and Postgres
        experiments = [e for e in session.scalars(stmt) if tag in (e.tags or [])]
        total, page = len(experiments), experiments[offset : offset + limit]
    else:  # the common case pages in the database
        total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
        page = list(session.scalars(stmt.offset(offset).limit(limit)))
    return ExperimentPage(items=[_out(session, e) for e in page], total=total, offset=offset, limit=limit)


@router.get("/{experiment_id}", response_model=ExperimentDetail, responses=ERRORS)
def get_experiment(experiment_id: ExperimentId, session: SessionDep, _: UserDep) -> ExperimentDetail:
    return _out(session, _get(session, experiment_id), detail=True)


@router.post("/{experiment_id}/cancel", response_model=ExperimentOut, responses=ERRORS)
def cancel(experiment_id: ExperimentId, session: SessionDep, user: UserDep) -> ExperimentOut:
    """Cancel every unfinished run: waiting runs at once, running ones at their next step
    (they keep their checkpoint, so `retry` resumes them)."""
    experiment = _get(session, experiment_id)
    require_owner(user, experiment.owner_id, "experiment")
    for run in session.scalars(select(Run).where(Run.experiment_id == experiment.id)):
        state = RunState(run.state)
        if state in (RunState.PENDING, RunState.QUEUED):
            run.transition(RunState.CANCELLED)
            run.error = f"cancelled by {user.name}"
        elif state is RunState.RUNNING:
            run.cancel_requested = True
    _release_from_shared_packs(session, experiment, user.name)
    refresh_experiment_status(session, experiment)
    session.commit()
    return _out(session, experiment)


def _release_from_shared_packs(session: Session, experiment: Experiment, by: str) -> None:
    """A running pack stops at its next step only when all of its runs are cancelled. Where it
    also trains other experiments' runs, this experiment's runs leave it now: cancelled at
    once, detached from the pack (which trains on without writing their results), so that a
    retry trains them afresh in a new pack."""
    running = list(session.scalars(select(Run).where(
        Run.experiment_id == experiment.id, Run.state == RunState.RUNNING.value, Run.pack_id.is_not(None))))
    for pack_id in {r.pack_id for r in running}:
        others = session.scalar(select(func.count()).where(
            Run.pack_id == pack_id, Run.experiment_id != experiment.id, Run.cancel_requested.is_(False),
            Run.state.in_([RunState.QUEUED.value, RunState.RUNNING.value])))
        if not others:
            continue
        for run in (r for r in running if r.pack_id == pack_id):
            run.transition(RunState.CANCELLED)
            run.error = f"cancelled by {by}; its pack trains on for other experiments, so a retry starts afresh"
            run.pack_id, run.checkpoint_path, run.cancel_requested = None, None, False


@router.post("/{experiment_id}/retry", response_model=ExperimentOut, responses=ERRORS)
def retry(experiment_id: ExperimentId, session: SessionDep, user: UserDep) -> ExperimentOut:
    """Put failed, lost and cancelled runs back in the queue (from their checkpoint where one exists)."""
    experiment = _get(session, experiment_id)
    require_owner(user, experiment.owner_id, "experiment")
    retryable = {RunState.FAILED.value, RunState.LOST.value, RunState.CANCELLED.value}
    runs = list(session.scalars(select(Run).where(Run.experiment_id == experiment.id, Run.state.in_(retryable))))
    if not runs:
        raise ApiError(409, f"experiment {experiment.id} has no failed, lost or cancelled runs to retry")
    for run in runs:
        run.transition(RunState.PENDING)
        run.error = None
        run.cancel_requested = False
        run.attempt = 0
    refresh_experiment_status(session, experiment)
    session.commit()
    return _out(session, experiment)


@router.delete("/{experiment_id}", status_code=204, responses=ERRORS)
def delete(experiment_id: ExperimentId, session: SessionDep, user: UserDep) -> Response:
    """Delete a finished experiment and its results (cancel it first if it is active)."""
    experiment = _get(session, experiment_id)
    require_owner(user, experiment.owner_id, "experiment")
    active = session.scalar(
        select(func.count()).where(Run.experiment_id == experiment.id,
                                   Run.state.in_([RunState.QUEUED.value, RunState.RUNNING.value]))
    )
    if active:
        raise ApiError(409, f"experiment {experiment.id} still has {active} queued or running runs; cancel it first")
    referenced = session.scalar(
        select(func.count()).select_from(Run).where(
            Run.cached_from_id.in_(select(Run.id).where(Run.experiment_id == experiment.id)),
            Run.experiment_id != experiment.id)
    )
    if referenced:
        raise ApiError(409, f"{referenced} runs of other experiments reuse this experiment's results; "
                            "it cannot be deleted")
    session.delete(experiment)
    session.commit()
    return Response(status_code=204)


@router.get("/{experiment_id}/runs", response_model=list[RunOut], responses=ERRORS)
def runs(
    experiment_id: ExperimentId, session: SessionDep, _: UserDep,
    state: str | None = Query(None, pattern="^(pending|queued|running|succeeded|failed|cancelled|lost)$"),
) -> list[RunOut]:
    _get(session, experiment_id)
    stmt = select(Run).where(Run.experiment_id == experiment_id)
    if state:
        stmt = stmt.where(Run.state == state)
    return [RunOut.model_validate(r) for r in session.scalars(stmt.order_by(Run.id))]


@router.get("/{experiment_id}/events", responses=ERRORS)
async def events(experiment_id: ExperimentId, request: Request, _: UserDep) -> EventSourceResponse:
    """Server-sent events: `progress` (percent, counts, ETA), `run` (a run changed state or
    progress) and a final `done` when every run has finished."""
    sessionmaker = request.app.state.sessionmaker
    with sessionmaker() as session:
        _get(session, experiment_id)
    interval = request.app.state.event_interval_s

    async def stream():  # noqa: ANN202
        seen: dict[int, tuple[str, float]] = {}
        last_progress = None
        while True:
            if await request.is_disconnected():
                return
            with sessionmaker() as session:
                experiment = _get(session, experiment_id)
                changed = []
                for run in session.scalars(select(Run).where(Run.experiment_id == experiment_id).order_by(Run.id)):
                    key = (run.state, round(run.progress, 3))
                    if seen.get(run.id) != key:
                        seen[run.id] = key
                        changed.append(dict(id=run.id, condition=run.condition, seed=run.seed, task=run.task,
                                            state=run.state, progress=run.progress, step=run.step,
                                            error=run.error))
                progress = experiment_progress(session, experiment)
                status = experiment.status
            for run in changed:
                yield {"event": "run", "data": json.dumps(run)}
            snapshot = (progress.counts, round(progress.fraction, 4))
            if snapshot != last_progress:
                last_progress = snapshot
                yield {"event": "progress", "data": json.dumps(dict(
                    percent=round(100 * progress.fraction, 2), counts=progress.counts, total=progress.total,
                    eta_seconds=progress.eta_seconds, status=status))}
            if status != "active":
                yield {"event": "done", "data": json.dumps({"status": status})}
                return
            await asyncio.sleep(interval)

    return EventSourceResponse(stream(), ping=15)
