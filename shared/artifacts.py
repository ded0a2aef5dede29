"""The API's artifact store on local disk: weights, checkpoints and run files that workers on
other hosts upload (shared/artifact_uploads.py), and the partial files of uploads in progress.

Layout under the API's CORTEXRNN_ARTIFACTS_DIR (the folder local workers already write to, so
that an artifact's recorded path is a plain file path either way and the existing download
routes serve both):
  uploads/<id>.part                        an upload in progress
  runs/<run id>/weights-<sha16>.npz        uploaded weights (content in the name: a late
                                           upload can never overwrite the file a row points at)
  runs/<run id>/files/<name>               other run files
  packs/<pack id>/checkpoint-<runs key>-<sha16>.pt   the latest uploaded checkpoint
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path, PurePosixPath
from typing import BinaryIO

CHUNK_READ = 1 << 20


class ArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def partial(self, upload_id: int) -> Path:
        return self.root / "uploads" / f"{int(upload_id)}.part"

    def write_chunk(self, upload_id: int, offset: int, data: bytes) -> None:
        """Write `data` at `offset` and make it durable before the caller acknowledges it.
        Truncating first drops whatever a crash left past the acknowledged bytes."""
        path = self.partial(upload_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.ftruncate(fd, offset)
            view = memoryview(data)
            written = 0
            while written < len(view):
                written += os.pwrite(fd, view[written:], offset + written)
            os.fsync(fd)
        finally:
            os.close(fd)

    def partial_sha256(self, upload_id: int) -> str:
        with open(self.partial(upload_id), "rb") as fh:
            return sha256_of(fh)

    def finalize(self, upload_id: int, key: str) -> Path:
        """Move a complete upload to `key` (atomic: readers see the old file or the new one)."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.partial(upload_id), target)
        _fsync_dir(target.parent)
        return target

    def discard(self, upload_id: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.partial(upload_id).unlink()

    def path(self, key: str) -> Path:
        """The file of a store key; refuses keys that would leave the store."""
        rel = PurePosixPath(key)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"artifact key {key!r} must be a relative path inside the store")
        return self.root / rel

    def remove(self, path: str | Path) -> None:
        """Delete a file of this store (a replaced checkpoint); paths outside are left alone."""
        p = Path(path)
        if p.resolve().is_relative_to(self.root.resolve()):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


def sha256_of(fh: BinaryIO) -> str:
    h = hashlib.sha256()
    while block := fh.read(CHUNK_READ):
        h.update(block)
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return sha256_of(fh)


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the folder's entry is (POSIX); not all systems allow it.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
