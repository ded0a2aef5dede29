"""Datasets: the list, and one dataset's neurons in space and derived matrices."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from cortexrnn.api.dashboard import dataset_view
from cortexrnn.api.dashboard.auth import DataViewer, PageViewer, Refused
from cortexrnn.api.dashboard.templating import render
from cortexrnn.api.deps import SessionDep
from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.types import Connectome
from cortexrnn.shared.datasets_registry import get_dataset_by_name, get_store
from cortexrnn.shared.models import Dataset, Experiment, User

router = APIRouter(include_in_schema=False)
DatasetName = Path(..., max_length=128)


@router.get("/datasets", response_class=HTMLResponse)
def datasets_page(request: Request, session: SessionDep, viewer: PageViewer) -> HTMLResponse:
    rows = session.execute(
        select(Dataset, User.name)
        .outerjoin(User, User.id == Dataset.owner_id)
        .order_by(Dataset.name)
    ).all()
    used = {
        sha: n
        for sha, n in session.execute(
            select(Experiment.dataset_sha, func.count()).group_by(Experiment.dataset_sha)
        )
    }
    return render(request, "datasets.html", viewer, page="datasets", rows=rows, used=used)


def _load(session: SessionDep, name: str) -> tuple[Dataset, Connectome]:
    row = get_dataset_by_name(session, name)
    if row is None:
        raise Refused(404, f"dataset {name!r} does not exist")
    try:
        return row, get_store().get(row.content_sha256)
    except DatasetError:
        raise Refused(
            404, f"dataset {name!r} is registered but its files are missing from the store"
        ) from None


@router.get("/datasets/{name}", response_class=HTMLResponse)
def dataset_page(
    request: Request, session: SessionDep, viewer: PageViewer, name: str = DatasetName
) -> HTMLResponse:
    row, connectome = _load(session, name)
    return render(
        request,
        "dataset.html",
        viewer,
        page="datasets",
        row=row,
        kinds=dataset_view.matrix_kinds(connectome),
        cell_types=connectome.neurons["cell_type"].astype(str).value_counts().to_dict(),
        data={"name": row.name, "neurons": dataset_view.neurons(connectome)},
    )


@router.get("/ui/datasets/{name}/matrix/{kind}")
def dataset_matrix(
    session: SessionDep, _: DataViewer, kind: str, name: str = DatasetName
) -> dict[str, Any]:
    row, connectome = _load(session, name)
    if kind not in dict(dataset_view.matrix_kinds(connectome)):
        raise Refused(404, f"dataset {name!r} has no matrix {kind!r}")
    return dataset_view.matrix(get_store(), row.content_sha256, connectome, kind)
