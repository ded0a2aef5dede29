"""Requests and responses of the worker routes (/v1/worker/...): artifact uploads in chunks
and the checkpoints workers resume from. Shared by the API and the worker's HTTP client."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

ArtifactKind = Literal["weights", "checkpoint", "file"]
SHA256_PATTERN = r"^[0-9a-f]{64}$"
# A file name, never a path: it becomes part of a path in the artifact store.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$"
CHECKPOINT_NAME = r"^checkpoint-(?P<runs_key>[0-9a-f]{1,40})\.pt$"


class UploadCreate(BaseModel):
    """Start an upload, or resume the open one of the same file (same pack, kind, name, run,
    worker and SHA-256): the answer says how many bytes the server already has."""

    kind: ArtifactKind
    pack_id: int = Field(ge=1, le=2**63 - 1)
    run_id: int | None = Field(None, ge=1, le=2**63 - 1, description="weights and files: the run")
    worker: str = Field(min_length=1, max_length=200, description="the worker holding the pack")
    name: str = Field(pattern=NAME_PATTERN, description="checkpoints: checkpoint-<runs key>.pt")
    size_bytes: int = Field(ge=0)
    sha256: str = Field(pattern=SHA256_PATTERN, description="of the whole file, lower-case hex")
    step: int | None = Field(None, ge=0, description="checkpoints: the training step it holds")


class UploadState(BaseModel):
    id: int
    kind: str
    pack_id: int
    run_id: int | None
    name: str
    size_bytes: int
    sha256: str
    received_bytes: int
    state: Literal["open", "complete"]
    path: str | None  # where the API stored it, once complete
    chunk_bytes: int  # send chunks of at most this many bytes


class CheckpointInfo(BaseModel):
    pack_id: int
    runs_key: str
    step: int
    sha256: str
    size_bytes: int
    worker: str
