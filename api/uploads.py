"""Unpacking an uploaded dataset archive without trusting it: zip only, numeric and table
files only, no paths outside the target, bounded member count and uncompressed size (a zip
bomb is refused before it is inflated)."""

from __future__ import annotations

import zipfile
from pathlib import Path, PurePosixPath

from cortexrnn.api.errors import ApiError

ALLOWED_SUFFIXES = {".npy", ".npz", ".csv", ".parquet", ".json"}
MAX_MEMBERS = 4096
MAX_RATIO = 200  # a numeric matrix compresses far less than this; a bomb far more


def safe_extract(archive: Path, dest: Path, *, max_total_bytes: int) -> list[Path]:
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise ApiError(400, "file: not a zip archive; upload a .zip of converted field folders or CAVE tables "
                            "(`cortexrnn-client datasets upload` builds it for you)") from None
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        if not members:
            raise ApiError(400, "file: the archive is empty")
        if len(members) > MAX_MEMBERS:
            raise ApiError(400, f"file: the archive has {len(members)} files; the limit is {MAX_MEMBERS}")
        total = sum(m.file_size for m in members)
        if total > max_total_bytes:
            raise ApiError(413, f"file: the archive unpacks to {total} bytes; the limit is {max_total_bytes}")
        written = []
        for m in members:
            name = PurePosixPath(m.filename)
            if name.is_absolute() or ".." in name.parts or "\\" in m.filename or ":" in m.filename:
                raise ApiError(400, f"file: archive member {m.filename!r} points outside the archive")
            if name.suffix.lower() not in ALLOWED_SUFFIXES:
                raise ApiError(400, f"file: archive member {m.filename!r} has a type that is not accepted; "
                                    f"allowed: {sorted(ALLOWED_SUFFIXES)} (no pickles)")
            if m.compress_size and m.file_size / m.compress_size > MAX_RATIO and m.file_size > 1 << 20:
                raise ApiError(400, f"file: archive member {m.filename!r} compresses {m.file_size // m.compress_size}x; "
                                    "refused as a likely zip bomb")
            target = dest.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(m) as src, open(target, "wb") as out:
                remaining = m.file_size
                while chunk := src.read(1 << 20):
                    remaining -= len(chunk)
                    if remaining < 0:  # the header lied about the size
                        raise ApiError(400, f"file: archive member {m.filename!r} is larger than it declares")
                    out.write(chunk)
            written.append(target)
    return written


def bundle_root(dest: Path) -> Path:
    """Archives often wrap everything in one folder; descend through single-folder levels."""
    root = dest
    while True:
        entries = list(root.iterdir())
        if len(entries) == 1 and entries[0].is_dir():
            root = entries[0]
        else:
            return root
