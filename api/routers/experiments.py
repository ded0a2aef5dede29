"""/v1/experiments: submit, list, inspect, cancel, retry, delete, results, events."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sse_starlette.sse import EventSourceResponse

from cortexrnn.api.deps import ExperimentId, SessionDep, UserDep, require_owner
from cortexrnn.api.errors import ApiError, Responses, error_responses, invalid_field, not_found
from cortexrnn.services.spec import ExperimentSpec
from cortexrnn.shared import lifecycle
from cortexrnn.shared.admission import AdmissionRefused, check_admission
from cortexrnn.shared.experiment_labels import LabelError, edit_labels
from cortexrnn.shared.experiments import (
    IdempotencyConflict,
    SpecDatasetError,
    create_experiment,
    experiment_progress,
    resolve_selection,
)
from cortexrnn.shared.models import Experiment, Run, User
from cortexrnn.shared.results import run_key, sweep_columns
from cortexrnn.wire.schemas import (
    ExperimentDetail,
    ExperimentEdit,
    ExperimentOut,
    ExperimentPage,
    RunOut,
    SubmitResponse,
)

router = APIRouter(prefix="/v1/experiments", tags=["experiments"])

ERRORS: Responses = error_responses(400, 401, 403, 404, 409, 422)


def _get(session: Session, experiment_id: int) -> Experiment:
    experiment = session.get(Experiment, experiment_id)
    if experiment is None:
        raise not_found("experiment", experiment_id)
    return experiment


def _fields(session: Session, experiment: Experiment) -> dict[str, Any]:
    """What ExperimentOut and ExperimentDetail show of an experiment."""
    progress = experiment_progress(session, experiment)
    owner = session.get(User, experiment.owner_id)
    data: dict[str, Any] = dict(
        id=experiment.id,
        name=experiment.name,
        owner=owner.name if owner else "?",
        status=experiment.status,
        priority=experiment.priority,
        tags=list(experiment.tags or []),
        notes=experiment.notes,
        spec_hash=experiment.spec_hash,
        created_at=experiment.created_at,
        finished_at=experiment.finished_at,
        n_runs=progress.total,
        counts=progress.counts,
        progress=round(100 * progress.fraction, 2),
        eta_seconds=progress.eta_seconds,
        phase=progress.phase,
    )
    return data


def _out(session: Session, experiment: Experiment) -> ExperimentOut:
    return ExperimentOut(**_fields(session, experiment))


def _detail(session: Session, experiment: Experiment) -> ExperimentDetail:
    return ExperimentDetail(**_fields(session, experiment), spec=experiment.spec)


def _link(path: str, method: str, description: str) -> dict:
    ref = "#/paths/" + path.replace("/", "~1") + "/" + method
    return {
        "operationRef": ref,
        "parameters": {"experiment_id": "$response.body#/id"},
        "description": description,
    }


# OpenAPI links: what a client (or a stateful fuzzer) can do next with the id it got back.
SUBMIT_LINKS = {
    "GetExperiment": _link(
        "/v1/experiments/{experiment_id}", "get", "The experiment's status and progress."
    ),
    "ListRuns": _link("/v1/experiments/{experiment_id}/runs", "get", "Its runs."),
    "CancelExperiment": _link(
        "/v1/experiments/{experiment_id}/cancel", "post", "Cancel its unfinished runs."
    ),
    "RetryExperiment": _link(
        "/v1/experiments/{experiment_id}/retry", "post", "Retry its failed or cancelled runs."
    ),
    "DeleteExperiment": _link(
        "/v1/experiments/{experiment_id}", "delete", "Delete it once finished."
    ),
}


@router.post(
    "",
    status_code=201,
    response_model=SubmitResponse,
    responses={
        **ERRORS,
        200: {
            "model": SubmitResponse,
            "description": "An idempotent retry: the "
            "experiment first submitted with this Idempotency-Key.",
            "links": SUBMIT_LINKS,
        },
        201: {"links": SUBMIT_LINKS},
    },
)
def submit(
    spec: ExperimentSpec,
    request: Request,
    session: SessionDep,
    user: UserDep,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> SubmitResponse:
    """Validate and store an experiment; 201 with its id and run count. Retrying with the
    same `Idempotency-Key` header returns the first experiment (200) instead of a copy. A
    spec over one of the queue's limits (shared/admission.py) is a 422 naming its field."""
    # An empty header is no key (it would be stored as one).
    idempotency_key = idempotency_key or None
    for attempt in (1, 2):
        try:
            dataset = resolve_selection(session, spec)
            settings = request.app.state.settings
            cost = check_admission(spec, len(dataset.selection), settings)
            sub = create_experiment(
                session,
                user,
                spec,
                idempotency_key=idempotency_key,
                dataset_sha=dataset.row.content_sha256,
                selection=dataset.selection,
                cost=cost,
                default_queue=settings.default_queue,
            )
            session.commit()
            break
        except (SpecDatasetError, AdmissionRefused) as exc:
            raise invalid_field(exc.path, str(exc)) from None
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
    return SubmitResponse(
        id=e.id,
        name=e.name,
        n_runs=sub.n_runs,
        n_cached=sub.n_cached,
        n_waiting=sub.n_waiting,
        created=sub.created,
        status=e.status,
    )


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
        total = (
            session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
        )
        page = list(session.scalars(stmt.offset(offset).limit(limit)))
    return ExperimentPage(
        items=[_out(session, e) for e in page], total=total, offset=offset, limit=limit
    )


@router.get("/{experiment_id}", response_model=ExperimentDetail, responses=ERRORS)
def get_experiment(
    experiment_id: ExperimentId, session: SessionDep, _: UserDep
) -> ExperimentDetail:
    return _detail(session, _get(session, experiment_id))


def _owned(session: Session, experiment_id: int, user: User) -> Experiment:
    experiment = _get(session, experiment_id)
    require_owner(user, experiment.owner_id, "experiment")
    return experiment


def _apply(session: Session, change: Callable[..., object], *args: object) -> None:
    """Run one lifecycle change and commit it; a change the state forbids is a 409."""
    try:
        change(session, *args)
    except lifecycle.LifecycleConflict as exc:
        raise ApiError(409, str(exc)) from None
    session.commit()


@router.post("/{experiment_id}/cancel", response_model=ExperimentOut, responses=ERRORS)
def cancel(experiment_id: ExperimentId, session: SessionDep, user: UserDep) -> ExperimentOut:
    """Cancel every unfinished run: waiting runs at once, running ones at their next step
    (they keep their checkpoint, so `retry` resumes them)."""
    experiment = _owned(session, experiment_id, user)
    _apply(session, lifecycle.cancel_experiment, experiment, user.name)
    return _out(session, experiment)


@router.patch("/{experiment_id}", response_model=ExperimentOut, responses=ERRORS)
def edit(
    experiment_id: ExperimentId, edit: ExperimentEdit, session: SessionDep, user: UserDep
) -> ExperimentOut:
    """Change its tags or notes (owner or admin); the submitted spec stays as it was."""
    experiment = _owned(session, experiment_id, user)
    try:
        edit_labels(experiment, edit.tags, edit.notes)
    except LabelError as exc:
        raise invalid_field(exc.path, str(exc)) from None
    session.commit()
    return _out(session, experiment)


@router.post("/{experiment_id}/retry", response_model=ExperimentOut, responses=ERRORS)
def retry(experiment_id: ExperimentId, session: SessionDep, user: UserDep) -> ExperimentOut:
    """Put failed, lost and cancelled runs back in the queue (from their checkpoint where one
    exists)."""
    experiment = _owned(session, experiment_id, user)
    _apply(session, lifecycle.retry_experiment, experiment)
    return _out(session, experiment)


@router.delete("/{experiment_id}", status_code=204, responses=ERRORS)
def delete(experiment_id: ExperimentId, session: SessionDep, user: UserDep) -> Response:
    """Delete a finished experiment and its results (cancel it first if it is active)."""
    _apply(session, lifecycle.delete_experiment, _owned(session, experiment_id, user))
    return Response(status_code=204)


@router.get("/{experiment_id}/runs", response_model=list[RunOut], responses=ERRORS)
def runs(
    experiment_id: ExperimentId,
    session: SessionDep,
    _: UserDep,
    state: str | None = Query(
        None, pattern="^(pending|queued|running|succeeded|failed|cancelled|lost)$"
    ),
) -> list[RunOut]:
    _get(session, experiment_id)
    stmt = select(Run).where(Run.experiment_id == experiment_id)
    if state:
        stmt = stmt.where(Run.state == state)
    return [
        RunOut.model_validate(r).model_copy(update={"sweep": sweep_columns(r)})
        for r in session.scalars(stmt.order_by(Run.id))
    ]


@router.get("/{experiment_id}/events", responses=ERRORS)
async def events(experiment_id: ExperimentId, request: Request, _: UserDep) -> EventSourceResponse:
    """Server-sent events: `progress` (percent, counts, ETA), `run` (a run changed state or
    progress) and a final `done` when every run has finished."""
    sessionmaker = request.app.state.sessionmaker
    with sessionmaker() as session:
        _get(session, experiment_id)
    interval = request.app.state.event_interval_s

    async def stream() -> AsyncIterator[dict[str, str]]:
        seen: dict[int, tuple[str, float]] = {}
        last_progress = None
        while True:
            if await request.is_disconnected():
                return
            with sessionmaker() as session:
                experiment = _get(session, experiment_id)
                changed = []
                for run in session.scalars(
                    select(Run).where(Run.experiment_id == experiment_id).order_by(Run.id)
                ):
                    key = (run.state, round(run.progress, 3))
                    if seen.get(run.id) != key:
                        seen[run.id] = key
                        changed.append(
                            dict(
                                id=run.id,
                                **run_key(run),
                                state=run.state,
                                progress=run.progress,
                                step=run.step,
                                error=run.error,
                            )
                        )
                progress = experiment_progress(session, experiment)
                status = experiment.status
            for run in changed:
                yield {"event": "run", "data": json.dumps(run)}
            # The status is part of the snapshot: it is read apart from the runs, so a poll can
            # see every run ended while the experiment still reads active, and the next poll's
            # counts are the same; without it the page would keep saying "finishing".
            snapshot = (progress.counts, round(progress.fraction, 4), status)
            if snapshot != last_progress:
                last_progress = snapshot
                yield {
                    "event": "progress",
                    "data": json.dumps(
                        dict(
                            percent=round(100 * progress.fraction, 2),
                            counts=progress.counts,
                            total=progress.total,
                            eta_seconds=progress.eta_seconds,
                            phase=progress.phase,
                            status=status,
                        )
                    ),
                }
            if status != "active":
                yield {"event": "done", "data": json.dumps({"status": status})}
                return
            await asyncio.sleep(interval)

    return EventSourceResponse(stream(), ping=15)
