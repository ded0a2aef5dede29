"""/v1/worker: what workers on other hosts need from the API, with a worker token only.

- POST /uploads, GET and PATCH /uploads/{id}: weights, checkpoints and run files in chunks,
  resumable (PATCH at the `Upload-Offset` the server stands at, as the tus protocol does) and
  verified: each chunk against its `Content-Digest` (RFC 9530, sha-256), the file against its
  declared SHA-256 (shared/artifact_uploads.py).
- GET /packs/{id}/checkpoints/{runs key}[/file]: the latest uploaded checkpoint of a pack.
- GET /datasets/{sha}/{file}: a stored dataset's files, by content hash.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response
from fastapi.responses import FileResponse
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from cortexrnn.api.artifact_files import FilesDep, StoreDep, download
from cortexrnn.api.deps import MAX_ID, SessionDep
from cortexrnn.api.errors import ApiError, Responses, error_responses, not_found
from cortexrnn.api.worker_auth import WorkerDep
from cortexrnn.services.connectome.store import ConnectomeStore
from cortexrnn.shared import artifact_uploads as uploads
from cortexrnn.shared.artifact_models import ArtifactUpload, PackCheckpoint
from cortexrnn.shared.datasets_registry import get_store
from cortexrnn.shared.models import Dataset
from cortexrnn.shared.remote_settings import get_remote_settings
from cortexrnn.wire.artifacts import CheckpointInfo, UploadCreate, UploadState

router = APIRouter(prefix="/v1/worker", tags=["worker"])
ERRORS: Responses = error_responses(401, 403, 404, 409, 413, 422)
FILE: Responses = {**ERRORS, 200: {"content": {"application/octet-stream": {}}}}
UploadId = Annotated[int, Path(ge=1, le=MAX_ID, description="The upload's id.")]
PackId = Annotated[int, Path(ge=1, le=MAX_ID, description="The pack's id.")]
RunsKey = Annotated[str, Path(pattern=r"^[0-9a-f]{1,40}$", description="The runs' key.")]


def _state(request: Request, row: ArtifactUpload) -> UploadState:
    chunk = min(
        get_remote_settings().upload_chunk_bytes, request.app.state.settings.request_max_bytes
    )
    return UploadState(
        id=row.id,
        kind=row.kind,
        pack_id=row.pack_id,
        run_id=row.run_id,
        name=row.name,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        received_bytes=row.received_bytes,
        state="complete" if row.state == uploads.COMPLETE else "open",
        path=row.path,
        chunk_bytes=chunk,
    )


def _refused(exc: uploads.UploadRefused) -> ApiError:
    fields = [{"path": exc.field, "message": exc.message}] if exc.field else None
    return ApiError(exc.status, exc.message, fields)


@router.post("/uploads", response_model=UploadState, status_code=201, responses=ERRORS)
def start_upload(
    body: UploadCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    store: StoreDep,
    _: WorkerDep,
) -> UploadState:
    """Start an upload, or resume the open upload of the same file (answer 200, with the
    bytes the server has); a file already stored whole answers `complete` at once."""
    try:
        row = uploads.open_upload(session, body, store, get_remote_settings().artifact_max_bytes)
    except uploads.UploadRefused as exc:
        raise _refused(exc) from None
    if row.received_bytes or row.state == uploads.COMPLETE:
        response.status_code = 200
    return _state(request, row)


@router.get("/uploads/{upload_id}", response_model=UploadState, responses=ERRORS)
def upload_state(
    upload_id: UploadId, request: Request, session: SessionDep, _: WorkerDep
) -> UploadState:
    """Where an upload stands: resume it at `received_bytes`."""
    try:
        return _state(request, uploads.get_upload(session, upload_id))
    except uploads.UploadRefused as exc:
        raise _refused(exc) from None


@router.patch(
    "/uploads/{upload_id}",
    response_model=UploadState,
    responses=ERRORS,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        }
    },
)
async def upload_chunk(
    upload_id: UploadId,
    request: Request,
    session: SessionDep,
    store: StoreDep,
    _: WorkerDep,
    upload_offset: Annotated[int, Header(ge=0, description="Where this chunk starts.")],
    content_digest: Annotated[
        str | None, Header(description="The chunk's digest: sha-256=:<base64>: (RFC 9530).")
    ] = None,
) -> UploadState:
    """Append one chunk (the request body) at `Upload-Offset`, which must be where the upload
    stands; the last chunk completes it."""
    data = await request.body()
    digest = _sha256_of_header(content_digest)

    def accept() -> ArtifactUpload:
        return uploads.accept_chunk(session, upload_id, upload_offset, data, digest, store)

    try:
        row = await run_in_threadpool(accept)
    except uploads.UploadRefused as exc:
        raise _refused(exc) from None
    return _state(request, row)


def _sha256_of_header(value: str | None) -> str | None:
    """The sha-256 member of a Content-Digest header, as hex (None: the header has none)."""
    if not value:
        return None
    for member in value.split(","):
        algorithm, _, encoded = member.strip().partition("=")
        if algorithm.strip().lower() != "sha-256":
            continue
        encoded = encoded.strip()
        if not (encoded.startswith(":") and encoded.endswith(":") and len(encoded) > 2):
            break
        try:
            raw = base64.b64decode(encoded[1:-1], validate=True)
        except (binascii.Error, ValueError):
            break
        if len(raw) == 32:
            return raw.hex()
        break
    raise ApiError(
        422,
        "Content-Digest: expected sha-256=:<base64 of the chunk's 32-byte SHA-256>:",
        [{"path": "Content-Digest", "message": "not a sha-256 digest"}],
    )


def _checkpoint(session: Session, pack_id: int, runs_key: str) -> PackCheckpoint:
    ckpt = uploads.latest_checkpoint(session, pack_id, runs_key)
    if ckpt is None:
        raise not_found(f"checkpoint of pack {pack_id} with runs key", runs_key)
    return ckpt


@router.get(
    "/packs/{pack_id}/checkpoints/{runs_key}", response_model=CheckpointInfo, responses=ERRORS
)
def checkpoint_info(
    pack_id: PackId, runs_key: RunsKey, session: SessionDep, _: WorkerDep
) -> CheckpointInfo:
    """The latest uploaded checkpoint of the pack with these runs (404: none uploaded)."""
    c = _checkpoint(session, pack_id, runs_key)
    return CheckpointInfo(
        pack_id=c.pack_id,
        runs_key=c.runs_key,
        step=c.step,
        sha256=c.sha256,
        size_bytes=c.size_bytes,
        worker=c.worker,
    )


@router.get("/packs/{pack_id}/checkpoints/{runs_key}/file", responses=FILE)
def checkpoint_file(
    pack_id: PackId, runs_key: RunsKey, session: SessionDep, files: FilesDep, _: WorkerDep
) -> Response:
    c = _checkpoint(session, pack_id, runs_key)
    headers = {"X-Checkpoint-Step": str(c.step), "X-Checkpoint-SHA256": c.sha256}
    try:
        return download(files, c.path, f"checkpoint-{runs_key}.pt", headers)
    except FileNotFoundError:
        raise ApiError(
            404, f"the checkpoint of pack {pack_id} is recorded but missing from the store"
        ) from None


@router.get("/datasets/{sha}/{filename}", responses=FILE)
def dataset_file(sha: str, filename: str, session: SessionDep, _: WorkerDep) -> FileResponse:
    """One file of a stored dataset by content hash (`manifest.json`, `arrays.npz`,
    `neurons.parquet`): how a worker fills its dataset cache."""
    if filename not in ConnectomeStore.STORED_FILES:
        raise ApiError(
            404, f"filename: not a stored dataset file; one of {list(ConnectomeStore.STORED_FILES)}"
        )
    if session.scalar(select(Dataset.id).where(Dataset.content_sha256 == sha).limit(1)) is None:
        raise not_found("dataset with sha256", sha)
    path = get_store().dataset_dir(sha) / filename
    if not path.is_file():
        raise ApiError(404, f"dataset {sha} is registered but missing from the server's store")
    return FileResponse(path, media_type="application/octet-stream", filename=filename)
