"""The API's finished artifacts (shared/artifacts.py: local disk or a bucket) as a
dependency, and as downloads."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from cortexrnn.shared.artifacts import ArtifactStore, FinishedFiles

OCTETS = "application/octet-stream"


def artifact_store(request: Request) -> ArtifactStore:
    store: ArtifactStore = request.app.state.artifact_store  # made once by create_app
    return store


def artifact_files(request: Request) -> FinishedFiles:
    return artifact_store(request).files


StoreDep = Annotated[ArtifactStore, Depends(artifact_store)]
FilesDep = Annotated[FinishedFiles, Depends(artifact_files)]


def download(
    files: FinishedFiles, location: str, filename: str, headers: dict[str, str] | None = None
) -> Response:
    """A finished file as a download: from local disk as a FileResponse (ranges, ETag), from a
    bucket streamed through in blocks (the API never holds the whole file).
    FileNotFoundError where it is gone."""
    path = files.local_path(location)
    if path is not None:
        return FileResponse(path, media_type=OCTETS, filename=filename, headers=headers)
    blocks, size = files.stream(location)
    return StreamingResponse(
        blocks,
        media_type=OCTETS,
        headers={
            **(headers or {}),
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="{filename}"',
        },
    )
