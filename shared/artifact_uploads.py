"""Resumable uploads of worker artifacts into the API's store (shared/artifacts.py).

A worker declares the file (size, SHA-256), then sends chunks at the offset the server has
reached; each chunk is checked against its own digest and made durable before it counts, and
the whole file against its declared SHA-256 before it is moved into place. Only the worker
holding the pack may upload its files: a worker taken for dead and replaced cannot overwrite
what the new holder wrote."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from cortexrnn.shared.artifact_models import ArtifactUpload, PackCheckpoint
from cortexrnn.shared.artifacts import ArtifactStore
from cortexrnn.shared.models import Artifact, Pack, Run, RunState, utcnow
from cortexrnn.wire.artifacts import CHECKPOINT_NAME, UploadCreate

OPEN, COMPLETE, DROPPED = "open", "complete", "dropped"


@dataclass
class UploadRefused(Exception):
    """A request the API refuses; `status` and `message` become its error response."""

    status: int
    message: str
    field: str | None = None

    def __str__(self) -> str:
        return self.message


def open_upload(
    session: Session, req: UploadCreate, store: ArtifactStore, max_bytes: int
) -> ArtifactUpload:
    """The upload of this file: the open one to resume, or a new one. Commits."""
    if req.size_bytes > max_bytes:
        raise UploadRefused(
            413,
            f"size_bytes: {req.size_bytes} exceeds the artifact limit of {max_bytes} bytes "
            "(CORTEXRNN_ARTIFACT_MAX_BYTES on the API host)",
            "size_bytes",
        )
    _check_target(session, req)
    same = (
        ArtifactUpload.pack_id == req.pack_id,
        ArtifactUpload.kind == req.kind,
        ArtifactUpload.name == req.name,
        ArtifactUpload.run_id.is_(None)
        if req.run_id is None
        else ArtifactUpload.run_id == req.run_id,
    )
    resumable = session.scalar(
        select(ArtifactUpload).where(
            *same,
            ArtifactUpload.state == OPEN,
            ArtifactUpload.sha256 == req.sha256,
            ArtifactUpload.size_bytes == req.size_bytes,
            ArtifactUpload.worker == req.worker,
        )
    )
    if resumable is not None:
        resumable.step = req.step
        session.commit()
        if resumable.received_bytes == resumable.size_bytes:
            return _complete(session, resumable, store)  # the store failed to take it before
        return resumable
    # An open upload of an older version of the same file (a checkpoint since replaced, or
    # one left by a worker that died) will never be finished: drop it with its partial file.
    for stale in session.scalars(select(ArtifactUpload).where(*same, ArtifactUpload.state == OPEN)):
        store.discard(stale.id)
        stale.state = DROPPED
    row = ArtifactUpload(
        pack_id=req.pack_id,
        run_id=req.run_id,
        kind=req.kind,
        name=req.name,
        worker=req.worker,
        size_bytes=req.size_bytes,
        sha256=req.sha256,
        step=req.step,
        received_bytes=0,
        state=OPEN,
    )
    session.add(row)
    session.commit()
    if row.size_bytes == 0:
        return _complete(session, row, store)
    return row


def _check_target(session: Session, req: UploadCreate) -> None:
    if req.kind == "checkpoint":
        if not re.match(CHECKPOINT_NAME, req.name):
            raise UploadRefused(
                422, "name: a checkpoint's name is checkpoint-<runs key>.pt (hex key)", "name"
            )
        if req.step is None:
            raise UploadRefused(422, "step: a checkpoint upload names its training step", "step")
        if req.run_id is not None:
            raise UploadRefused(
                422, "run_id: a checkpoint belongs to its pack, not to a run", "run_id"
            )
    elif req.run_id is None:
        raise UploadRefused(422, f"run_id: a {req.kind} upload names its run", "run_id")
    pack = session.get(Pack, req.pack_id)
    if pack is None:
        raise UploadRefused(404, f"pack {req.pack_id} does not exist", "pack_id")
    _check_holder(pack, req.worker)
    if req.run_id is not None:
        run = session.get(Run, req.run_id)
        if run is None or run.pack_id != req.pack_id:
            raise UploadRefused(
                409, f"run_id: run {req.run_id} is not in pack {req.pack_id}", "run_id"
            )


def _check_holder(pack: Pack, worker: str) -> None:
    if pack.state != RunState.RUNNING.value or pack.worker != worker:
        raise UploadRefused(
            409,
            f"pack {pack.id} is {pack.state} on {pack.worker or 'no worker'}, not running on "
            f"{worker}: only the worker holding a pack may upload its files",
            "worker",
        )


def get_upload(session: Session, upload_id: int, *, lock: bool = False) -> ArtifactUpload:
    row = session.get(ArtifactUpload, upload_id, with_for_update=lock)
    if row is None or row.state == DROPPED:
        raise UploadRefused(
            404, f"upload {upload_id} does not exist (or was replaced); start it again"
        )
    return row


def accept_chunk(
    session: Session,
    upload_id: int,
    offset: int,
    data: bytes,
    digest: str | None,
    store: ArtifactStore,
) -> ArtifactUpload:
    """Append one chunk at `offset` (which must be where the upload stands). `digest` is the
    chunk's SHA-256 as hex; a chunk without one is refused, since only a verified chunk may
    count. Commits; completes the upload with its last chunk."""
    row = get_upload(session, upload_id, lock=True)
    if row.state == COMPLETE:
        if offset + len(data) == row.size_bytes:
            return row  # a retry of the last chunk whose answer was lost
        raise UploadRefused(409, f"upload {upload_id} is complete already")
    if row.received_bytes == row.size_bytes and offset + len(data) == row.size_bytes:
        # A retry of the last chunk after the store failed to take the whole file (a bucket
        # away): the staged file is whole already, so try to complete it again.
        return _complete(session, row, store)
    if offset != row.received_bytes:
        raise UploadRefused(
            409,
            f"Upload-Offset: upload {upload_id} stands at byte {row.received_bytes}, not "
            f"{offset}; send the chunk that starts there",
            "Upload-Offset",
        )
    if offset + len(data) > row.size_bytes:
        raise UploadRefused(
            422,
            f"the chunk ends at byte {offset + len(data)}, past the declared size {row.size_bytes}",
        )
    if digest is None:
        raise UploadRefused(
            422, "Content-Digest: send the chunk's SHA-256 (sha-256=:<base64>:)", "Content-Digest"
        )
    actual = hashlib.sha256(data).hexdigest()
    if actual != digest:
        raise UploadRefused(
            422,
            f"Content-Digest: the chunk at byte {offset} has SHA-256 {actual}, not {digest}: it "
            "was damaged on the way; send it again",
            "Content-Digest",
        )
    store.write_chunk(row.id, offset, data)
    row.received_bytes = offset + len(data)
    session.commit()
    if row.received_bytes == row.size_bytes:
        return _complete(session, row, store)
    return row


def _complete(session: Session, row: ArtifactUpload, store: ArtifactStore) -> ArtifactUpload:
    """Verify the whole file, move it into place and record it."""
    if row.size_bytes == 0:
        store.write_chunk(row.id, 0, b"")
    actual = store.partial_sha256(row.id)
    if actual != row.sha256:
        store.discard(row.id)
        row.received_bytes = 0
        session.commit()
        raise UploadRefused(
            422,
            f"upload {row.id}: the file received has SHA-256 {actual}, not the declared "
            f"{row.sha256}; it was discarded, send it again from byte 0",
        )
    pack = session.get(Pack, row.pack_id, with_for_update=True)
    if pack is None:
        raise UploadRefused(404, f"pack {row.pack_id} no longer exists")
    try:
        _check_holder(pack, row.worker)
    except UploadRefused:
        store.discard(row.id)
        row.state = DROPPED
        session.commit()
        raise
    row.path = store.finalize(row.id, _key(row))
    row.state = COMPLETE
    replaced = _record(session, row)
    session.commit()
    if replaced and replaced != row.path:
        store.remove(replaced)
    return row


def _key(row: ArtifactUpload) -> str:
    short = row.sha256[:16]
    if row.kind == "weights":
        return f"runs/{row.run_id}/weights-{short}.npz"
    if row.kind == "checkpoint":
        return f"packs/{row.pack_id}/{row.name.removesuffix('.pt')}-{short}.pt"
    return f"runs/{row.run_id}/files/{row.name}"


def _record(session: Session, row: ArtifactUpload) -> str | None:
    """Record a complete upload; returns the path of the file it replaces, if any.

    Weights are recorded by the worker with the pack's results, in the transaction that ends
    its runs (shared/lifecycle.py), so that no run shows weights without its results."""
    assert row.path is not None
    if row.kind == "checkpoint":
        match = re.match(CHECKPOINT_NAME, row.name)
        assert match is not None  # checked when the upload was opened
        key = match["runs_key"]
        ckpt = session.scalar(
            select(PackCheckpoint).where(
                PackCheckpoint.pack_id == row.pack_id, PackCheckpoint.runs_key == key
            )
        )
        old = ckpt.path if ckpt is not None else None
        if ckpt is None:
            ckpt = PackCheckpoint(pack_id=row.pack_id, runs_key=key)
            session.add(ckpt)
        ckpt.step, ckpt.path, ckpt.worker = row.step or 0, row.path, row.worker
        ckpt.sha256, ckpt.size_bytes, ckpt.created_at = row.sha256, row.size_bytes, utcnow()
        return old
    if row.kind == "file":
        session.add(
            Artifact(
                run_id=row.run_id,
                kind="file",
                path=row.path,
                sha256=row.sha256,
                size_bytes=row.size_bytes,
            )
        )
    return None


def latest_checkpoint(session: Session, pack_id: int, runs_key: str) -> PackCheckpoint | None:
    return session.scalar(
        select(PackCheckpoint).where(
            PackCheckpoint.pack_id == pack_id, PackCheckpoint.runs_key == runs_key
        )
    )
