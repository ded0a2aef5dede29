"""The owner's actions on an experiment: cancel, retry, tags, notes. Each passes the CSRF check, is
refused (403) for anyone but the owner or an admin, and ends in a redirect to the page."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from cortexrnn.api.dashboard.auth import CheckedViewer, Refused, Viewer
from cortexrnn.api.dashboard.experiment_page import get_experiment
from cortexrnn.api.deps import ExperimentId, SessionDep
from cortexrnn.api.errors import ApiError
from cortexrnn.api.routers import experiments
from cortexrnn.shared.experiment_labels import LabelError, edit_labels
from cortexrnn.shared.models import Experiment, User

router = APIRouter(include_in_schema=False)


def _owned(session: SessionDep, experiment_id: int, viewer: Viewer) -> Experiment:
    experiment = get_experiment(session, experiment_id)
    if not viewer.may_change(experiment.owner_id):
        raise Refused(403, "only the owner of this experiment or an admin may do that")
    return experiment


def _back(experiment_id: int, done: str) -> RedirectResponse:
    return RedirectResponse(f"/experiments/{experiment_id}?done={done}", status_code=303)


def _act(
    action: Callable[[int, Session, User], object],
    name: str,
    experiment_id: int,
    session: Session,
    viewer: Viewer,
) -> RedirectResponse:
    """The owner check, then the API's own handler (cancel or retry: one rule for both), its
    refusals shown as the page's, then back to the page saying what was `done`."""
    _owned(session, experiment_id, viewer)
    try:
        action(experiment_id, session, viewer.user)
    except ApiError as exc:
        raise Refused(exc.status, exc.message) from None
    return _back(experiment_id, name)


@router.post("/experiments/{experiment_id}/cancel")
def cancel(
    experiment_id: ExperimentId, session: SessionDep, viewer: CheckedViewer
) -> RedirectResponse:
    return _act(experiments.cancel, "cancel", experiment_id, session, viewer)


@router.post("/experiments/{experiment_id}/retry")
def retry(
    experiment_id: ExperimentId, session: SessionDep, viewer: CheckedViewer
) -> RedirectResponse:
    return _act(experiments.retry, "retry", experiment_id, session, viewer)


def parse_tags(text: str) -> list[str]:
    return list(dict.fromkeys(t for t in re.split(r"[,\s]+", text) if t))


def _edit(
    experiment_id: int,
    session: Session,
    viewer: Viewer,
    done: str,
    tags: list[str] | None = None,
    notes: str | None = None,
) -> RedirectResponse:
    experiment = _owned(session, experiment_id, viewer)
    try:
        edit_labels(experiment, tags, notes)
    except LabelError as exc:
        raise Refused(422, str(exc)) from None
    session.commit()
    return _back(experiment_id, done)


@router.post("/experiments/{experiment_id}/tags")
def set_tags(
    experiment_id: ExperimentId,
    session: SessionDep,
    viewer: CheckedViewer,
    tags: Annotated[str, Form(max_length=4000)] = "",
) -> RedirectResponse:
    """Tags are what listing and search use; the submitted spec is kept as it was (tags are
    not part of its hash)."""
    return _edit(experiment_id, session, viewer, "tags", tags=parse_tags(tags))


@router.post("/experiments/{experiment_id}/notes")
def set_notes(
    experiment_id: ExperimentId,
    session: SessionDep,
    viewer: CheckedViewer,
    notes: Annotated[str, Form(max_length=20_000)] = "",
) -> RedirectResponse:
    return _edit(experiment_id, session, viewer, "notes", notes=notes)
