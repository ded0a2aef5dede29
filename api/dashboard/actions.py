"""The owner's actions on an experiment: cancel, retry, tags. Each passes the CSRF check, is
refused (403) for anyone but the owner or an admin, and ends in a redirect to the page."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from cortexrnn.api.dashboard.auth import CheckedViewer, Refused, Viewer
from cortexrnn.api.dashboard.experiment_page import get_experiment
from cortexrnn.api.deps import ExperimentId, SessionDep
from cortexrnn.api.errors import ApiError
from cortexrnn.api.routers import experiments
from cortexrnn.services.spec import ExperimentSpec
from cortexrnn.shared.models import Experiment

router = APIRouter(include_in_schema=False)


def _owned(session: SessionDep, experiment_id: int, viewer: Viewer) -> Experiment:
    experiment = get_experiment(session, experiment_id)
    if not viewer.may_change(experiment.owner_id):
        raise Refused(403, "only the owner of this experiment or an admin may do that")
    return experiment


def _back(experiment_id: int, done: str) -> RedirectResponse:
    return RedirectResponse(f"/experiments/{experiment_id}?done={done}", status_code=303)


@router.post("/experiments/{experiment_id}/cancel")
def cancel(
    experiment_id: ExperimentId, session: SessionDep, viewer: CheckedViewer
) -> RedirectResponse:
    _owned(session, experiment_id, viewer)
    try:
        experiments.cancel(experiment_id, session, viewer.user)
    except ApiError as exc:
        raise Refused(exc.status, exc.message) from None
    return _back(experiment_id, "cancel")


@router.post("/experiments/{experiment_id}/retry")
def retry(
    experiment_id: ExperimentId, session: SessionDep, viewer: CheckedViewer
) -> RedirectResponse:
    _owned(session, experiment_id, viewer)
    try:
        experiments.retry(experiment_id, session, viewer.user)
    except ApiError as exc:
        raise Refused(exc.status, exc.message) from None
    return _back(experiment_id, "retry")


def parse_tags(text: str) -> list[str]:
    return list(dict.fromkeys(t for t in re.split(r"[,\s]+", text) if t))


@router.post("/experiments/{experiment_id}/tags")
def set_tags(
    experiment_id: ExperimentId,
    session: SessionDep,
    viewer: CheckedViewer,
    tags: Annotated[str, Form(max_length=4000)] = "",
) -> RedirectResponse:
    """Tags are what listing and search use; the submitted spec is kept as it was (tags are
    not part of its hash)."""
    experiment = _owned(session, experiment_id, viewer)
    wanted = parse_tags(tags)
    # The spec's own rule for tags (count, length, characters), applied to the new ones.
    try:
        ExperimentSpec.model_validate({**experiment.spec, "tags": wanted})
    except ValidationError as exc:
        problems = [e for e in exc.errors() if e["loc"][:1] == ("tags",)]
        if problems:
            raise Refused(
                422, f"tags: {problems[0]['msg'].removeprefix('Value error, ')}"
            ) from None
    experiment.tags = wanted
    session.commit()
    return _back(experiment_id, "tags")
