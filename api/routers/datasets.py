"""/v1/datasets: upload (safe formats only), list, show."""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy import select

from cortexrnn.api.deps import SessionDep, UserDep
from cortexrnn.api.errors import ApiError, Responses, error_responses, not_found
from cortexrnn.api.uploads import bundle_root, safe_extract, upload_error
from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.formats import IngestFormat, detect_format, ingest_safe
from cortexrnn.services.connectome.store import ConnectomeStore
from cortexrnn.shared.datasets_registry import get_dataset_by_name, get_store, register_dataset
from cortexrnn.shared.models import Dataset
from cortexrnn.wire.schemas import DatasetOut

log = logging.getLogger("cortexrnn.api")
router = APIRouter(prefix="/v1/datasets", tags=["datasets"])
ERRORS: Responses = error_responses(400, 401, 404, 409, 413, 422)
# The formats the `format` field names (its pattern admits only these and "auto").
FORMATS: dict[str, IngestFormat] = {"folder": "folder", "cave": "cave"}
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@router.post("", status_code=201, response_model=DatasetOut, responses=ERRORS)
def upload(
    request: Request,
    session: SessionDep,
    user: UserDep,
    file: Annotated[
        UploadFile, File(description="A .zip of converted field folders or CAVE tables.")
    ],
    name: Annotated[str, Form(max_length=128)],
    format: Annotated[str, Form(pattern="^(auto|folder|cave)$")] = "auto",
) -> DatasetOut:
    """Register a dataset from an archive of safe numeric files. Pickled object arrays are
    refused: convert them on your machine with `cortexrnn-client datasets upload`."""
    if not NAME_RE.match(name):
        raise ApiError(
            422,
            "name: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit",
            [{"path": "name", "message": "invalid dataset name"}],
        )
    if get_dataset_by_name(session, name) is not None:
        raise ApiError(
            409,
            f"name: a dataset called {name!r} exists already; choose another name",
            [{"path": "name", "message": "a dataset with this name exists already"}],
        )
    settings = request.app.state.settings
    with tempfile.TemporaryDirectory(prefix="cortexrnn-upload-") as tmp:
        archive = Path(tmp) / "upload.zip"
        with open(archive, "wb") as out:
            shutil.copyfileobj(file.file, out, length=1 << 20)
        unpacked = Path(tmp) / "unpacked"
        unpacked.mkdir()
        safe_extract(archive, unpacked, max_total_bytes=settings.upload_max_bytes * 4)
        root = bundle_root(unpacked)
        try:
            fmt = detect_format([root]) if format == "auto" else FORMATS[format]
            connectome = ingest_safe([root], name=name, fmt=fmt)
            sha = get_store().put(connectome)
            row = register_dataset(session, connectome, sha, owner_id=user.id)
        except DatasetError as exc:
            raise upload_error(400, str(exc).replace(str(root), "<upload>")) from None
        except (ValueError, TypeError, LookupError, ArithmeticError) as exc:
            # The readers check what they expect; an archive can still hold a shape or a value
            # they did not foresee. That is the upload's fault, so it is a 400 that says where,
            # and the administrators keep the traceback to teach the reader about it.
            log.warning("dataset upload %r: unforeseen content", name, exc_info=True)
            detail = str(exc).replace(str(root), "<upload>")
            raise upload_error(
                400,
                f"the archive's files could not be read ({type(exc).__name__}: {detail}); "
                "check them with `cortexrnn datasets ingest` on your machine",
            ) from None
    session.commit()
    return DatasetOut.model_validate(row)


@router.get("", response_model=list[DatasetOut], responses=ERRORS)
def list_datasets(session: SessionDep, _: UserDep) -> list[DatasetOut]:
    return [
        DatasetOut.model_validate(d)
        for d in session.scalars(select(Dataset).order_by(Dataset.name))
    ]


@router.get("/{name}", response_model=DatasetOut, responses=ERRORS)
def get_dataset(name: str, session: SessionDep, _: UserDep) -> DatasetOut:
    row = get_dataset_by_name(session, name)
    if row is None:
        raise not_found("dataset", repr(name))
    return DatasetOut.model_validate(row)


@router.get(
    "/by-sha/{sha}/{filename}",
    responses={**ERRORS, 200: {"content": {"application/octet-stream": {}}}},
)
def stored_file(sha: str, filename: str, session: SessionDep, _: UserDep) -> FileResponse:
    """One file of a stored dataset, by content hash: how workers on other hosts fill their
    local store (`manifest.json`, `arrays.npz`, `neurons.parquet`)."""
    if filename not in ConnectomeStore.STORED_FILES:
        raise ApiError(
            404, f"filename: not a stored dataset file; one of {list(ConnectomeStore.STORED_FILES)}"
        )
    if session.scalar(select(Dataset).where(Dataset.content_sha256 == sha)) is None:
        raise not_found("dataset with sha256", sha)
    path = get_store().dataset_dir(sha) / filename
    if not path.is_file():
        raise ApiError(404, f"dataset {sha} is registered but missing from the server's store")
    return FileResponse(path, media_type="application/octet-stream", filename=filename)
