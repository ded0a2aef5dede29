"""The API's artifact store: weights, checkpoints and run files that workers on other hosts
upload (shared/artifact_uploads.py). Uploads in progress are staged on local disk; a complete
file moves to the finished files, on local disk (the default) or in an S3-compatible bucket
(CORTEXRNN_ARTIFACT_STORE=s3://bucket/prefix, shared/artifact_s3.py).

Keys, under the API's CORTEXRNN_ARTIFACTS_DIR (the folder local workers already write to, so
that an artifact's recorded path is a plain file path either way and the existing download
routes serve both) or under the bucket's prefix:
  uploads/<id>.part                        an upload in progress (always on local disk)
  runs/<run id>/weights-<sha16>.npz        uploaded weights (content in the name: a late
                                           upload can never overwrite the file a row points at)
  runs/<run id>/files/<name>               other run files
  packs/<pack id>/checkpoint-<runs key>-<sha16>.pt   the latest uploaded checkpoint

What the database records of a finished file (its location) is a file path, or an s3:// URI.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, BinaryIO, Protocol

if TYPE_CHECKING:
    from cortexrnn.shared.remote_settings import RemoteSettings
    from cortexrnn.shared.settings import Settings

CHUNK_READ = 1 << 20
S3_SCHEME = "s3://"
SPOOL_BYTES = 64 << 20  # a file read whole from a bucket stays in memory up to this size


class ArtifactStoreError(RuntimeError):
    """The finished files cannot be reached (a bucket missing, unreachable, or refusing our
    credentials): refused at API startup, and answered 503 with this message later."""


class FinishedFiles(Protocol):
    """Where complete artifacts live, addressed by the location the database records."""

    def put(self, key: str, source: Path) -> str:
        """Move the complete file `source` to `key` (readers see the whole file or none);
        returns its location."""
        ...

    def exists(self, location: str) -> bool: ...

    def local_path(self, location: str) -> Path | None:
        """The file on this host's disk, or None where the location is elsewhere (a bucket)."""
        ...

    def stream(self, location: str) -> tuple[Iterator[bytes], int]:
        """The file's bytes in blocks, and its size; FileNotFoundError where it is gone."""
        ...

    def remove(self, location: str) -> None:
        """Delete a file of this store (a replaced checkpoint); others are left alone."""
        ...

    def check(self) -> None:
        """Raise ArtifactStoreError unless files can be stored (checked at API startup)."""
        ...


class LocalFiles:
    """Finished files under the API's artifacts folder: the locations are file paths."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        """The file of a store key; refuses keys that would leave the store."""
        rel = PurePosixPath(key)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"artifact key {key!r} must be a relative path inside the store")
        return self.root / rel

    def put(self, key: str, source: Path) -> str:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        _fsync_dir(target.parent)
        return str(target)

    def local_path(self, location: str) -> Path:
        if location.startswith(S3_SCHEME):
            raise ArtifactStoreError(
                f"{location} is in an S3 bucket, but this API keeps artifacts on local disk: "
                "set CORTEXRNN_ARTIFACT_STORE to that bucket (docs/operations.md)"
            )
        return Path(location)

    def exists(self, location: str) -> bool:
        return self.local_path(location).is_file()

    def stream(self, location: str) -> tuple[Iterator[bytes], int]:
        return stream_file(self.local_path(location))

    def remove(self, location: str) -> None:
        p = Path(location)
        if p.resolve().is_relative_to(self.root.resolve()):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    def check(self) -> None:
        return None  # the folder is made when the first file arrives


def finished_files(settings: Settings, remote: RemoteSettings) -> FinishedFiles:
    """The finished files the settings name: the artifacts folder, or a bucket."""
    assert settings.artifacts_dir is not None  # Settings validation fills it in
    local = LocalFiles(settings.artifacts_dir)
    if remote.artifact_store.startswith(S3_SCHEME):
        # boto3 is an optional extra ('cortexrnn[s3]'), imported only where a bucket is named.
        try:
            from cortexrnn.shared.artifact_s3 import S3Files  # noqa: PLC0415
        except ImportError as exc:
            raise ArtifactStoreError(
                f"CORTEXRNN_ARTIFACT_STORE names a bucket, but {exc.name} is not installed: "
                "pip install 'cortexrnn[s3]' on the API host"
            ) from None
        return S3Files.from_settings(remote, local)
    return local


class ArtifactStore:
    """Uploads in progress, staged on local disk, and the finished files they move to."""

    def __init__(self, root: Path, files: FinishedFiles | None = None) -> None:
        self.root = Path(root)
        self.files: FinishedFiles = files or LocalFiles(self.root)

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

    def finalize(self, upload_id: int, key: str) -> str:
        """Move a complete upload to `key` (atomic: readers see the old file or the new one);
        returns its location."""
        return self.files.put(key, self.partial(upload_id))

    def discard(self, upload_id: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.partial(upload_id).unlink()

    def remove(self, location: str) -> None:
        """Delete a finished file of this store (a replaced checkpoint); others are left alone."""
        self.files.remove(location)


def stream_file(path: Path) -> tuple[Iterator[bytes], int]:
    size = path.stat().st_size  # FileNotFoundError before the first block, as promised

    def blocks() -> Iterator[bytes]:
        with open(path, "rb") as fh:
            while block := fh.read(CHUNK_READ):
                yield block

    return blocks(), size


@contextlib.contextmanager
def open_seekable(files: FinishedFiles, location: str) -> Iterator[IO[bytes]]:
    """A finished file opened for random access (np.load reads a .npz's directory first):
    the file itself on local disk, else a copy in a spooled temporary file."""
    path = files.local_path(location)
    if path is not None:
        with open(path, "rb") as fh:
            yield fh
        return
    blocks, _ = files.stream(location)
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as copy:
        for block in blocks:
            copy.write(block)
        copy.seek(0)
        yield copy


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
