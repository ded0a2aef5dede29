"""The queue page (the dashboard's front page) and the experiments table."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from cortexrnn.api.dashboard.auth import PageViewer
from cortexrnn.api.dashboard.experiment_table import SORTS, STATUSES, TableQuery, find_experiments
from cortexrnn.api.dashboard.templating import render
from cortexrnn.api.deps import SessionDep
from cortexrnn.shared.models import Dataset, User
from cortexrnn.shared.queue_status import build_queue

router = APIRouter(include_in_schema=False)
Text = Annotated[str, Query(max_length=200)]


@router.get("/", response_class=HTMLResponse)
def queue_page(request: Request, session: SessionDep, viewer: PageViewer) -> HTMLResponse:
    view = build_queue(session, request.app.state.settings)
    return render(request, "queue.html", viewer, view=view, page="queue")


@router.get("/experiments", response_class=HTMLResponse)
def experiments_page(
    request: Request,
    session: SessionDep,
    viewer: PageViewer,
    name: Text = "",
    tag: Text = "",
    owner: Text = "",
    status: Text = "",
    dataset: Text = "",
    spec: Text = "",
    sort: Annotated[str, Query(pattern="^(" + "|".join(SORTS) + ")$")] = "id",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    query = TableQuery(
        name=name.strip(), tag=tag.strip(), owner=owner.strip(), status=status,
        dataset=dataset.strip(), spec=spec.strip(), sort=sort, desc=order == "desc", page=page,
    )  # fmt: skip
    table = find_experiments(session, query)
    filters = {
        k: v
        for k, v in dict(
            name=name, tag=tag, owner=owner, status=status, dataset=dataset, spec=spec
        ).items()
        if v
    }
    return render(
        request,
        "experiments.html",
        viewer,
        page="experiments",
        table=table,
        query=query,
        filters=filters,
        sorts=SORTS,
        statuses=STATUSES,
        owners=list(session.scalars(select(User.name).order_by(User.name))),
        datasets=list(session.scalars(select(Dataset.name).order_by(Dataset.name))),
    )
