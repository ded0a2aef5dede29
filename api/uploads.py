"""Unpacking an uploaded dataset archive without trusting it: zip only, numeric and table
files only, no paths outside the target, bounded member count and uncompressed size (a zip
bomb is refused before it is inflated)."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

from numpy.lib import format as npy_format

from cortexrnn.api.errors import ApiError

ALLOWED_SUFFIXES = {".npy", ".npz", ".csv", ".parquet", ".json"}
MAX_MEMBERS = 4096
MAX_RATIO = 200  # a numeric matrix compresses far less than this; a bomb far more


def upload_error(status: int, message: str) -> ApiError:
    """A refusal of the uploaded archive, naming the `file` form field."""
    return ApiError(status, f"file: {message}", [{"path": "file", "message": message}])


def _refuse_bomb(info: zipfile.ZipInfo, what: str) -> None:
    """A member over 1 MiB that inflates more than MAX_RATIO times is refused."""
    ratio_high = info.compress_size and info.file_size / info.compress_size > MAX_RATIO
    if ratio_high and info.file_size > 1 << 20:
        raise upload_error(
            400,
            f"{what} compresses {info.file_size // info.compress_size}x; "
            "refused as a likely zip bomb",
        )


def safe_extract(archive: Path, dest: Path, *, max_total_bytes: int) -> list[Path]:
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile:
        raise upload_error(
            400,
            "not a zip archive; upload a .zip of converted field folders or CAVE tables "
            "(`cortexrnn-client datasets upload` builds it for you)",
        ) from None
    with zf:
        members = [m for m in zf.infolist() if not m.is_dir()]
        if not members:
            raise upload_error(400, "the archive is empty")
        if len(members) > MAX_MEMBERS:
            raise upload_error(
                400, f"the archive has {len(members)} files; the limit is {MAX_MEMBERS}"
            )
        total = sum(m.file_size for m in members)
        if total > max_total_bytes:
            raise upload_error(
                413, f"the archive unpacks to {total} bytes; the limit is {max_total_bytes}"
            )
        packed = sum(m.compress_size for m in members)
        if total > 1 << 20 and total > MAX_RATIO * max(packed, 1):
            # Many small members each under the per-member check can still inflate to gigabytes.
            raise upload_error(
                400,
                f"the archive compresses {total // max(packed, 1)}x overall; "
                "refused as a likely zip bomb",
            )
        names = [m.filename for m in members]
        if len(set(names)) != len(names):
            # Two members with one name: which one a reader sees depends on the tool; refuse.
            dup = sorted({n for n in names if names.count(n) > 1})
            raise upload_error(400, f"archive members {dup[:5]} appear more than once")
        written = []
        for m in members:
            name = PurePosixPath(m.filename)
            if name.is_absolute() or ".." in name.parts or "\\" in m.filename or ":" in m.filename:
                raise upload_error(400, f"archive member {m.filename!r} points outside the archive")
            if name.suffix.lower() not in ALLOWED_SUFFIXES:
                raise upload_error(
                    400,
                    f"archive member {m.filename!r} has a type that is not accepted; "
                    f"allowed: {sorted(ALLOWED_SUFFIXES)} (no pickles)",
                )
            _refuse_bomb(m, f"archive member {m.filename!r}")
            target = dest.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(m) as src, open(target, "wb") as out:
                remaining = m.file_size
                while chunk := src.read(1 << 20):
                    remaining -= len(chunk)
                    if remaining < 0:  # the header lied about the size
                        raise upload_error(
                            400, f"archive member {m.filename!r} is larger than it declares"
                        )
                    out.write(chunk)
            if name.suffix.lower() == ".npy":
                with open(target, "rb") as fh:
                    _check_npy_header(fh, m.file_size, m.filename)
            elif name.suffix.lower() == ".npz":
                _check_npz(target, m.filename, max_total_bytes)
            written.append(target)
    return written


def _check_npy_header(fh: IO[bytes], size: int, where: str) -> None:
    """numpy allocates what a .npy header declares before reading the data: a header that
    promises more than the file holds (or an object array, i.e. a pickle) is refused here."""
    try:
        version = npy_format.read_magic(fh)
        reader = {
            (1, 0): npy_format.read_array_header_1_0,
            (2, 0): npy_format.read_array_header_2_0,
        }.get(version)
        if reader is None:
            raise ValueError(
                f".npy format version {version} is not supported; save it with numpy.save"
            )
        shape, _, dtype = reader(fh)
    except ValueError as exc:
        raise upload_error(
            400, f"archive member {where!r} is not a readable .npy file ({exc})"
        ) from None
    if dtype.hasobject:
        raise upload_error(
            400,
            f"archive member {where!r} is a pickled object array; the server never unpickles. "
            "Convert it on your own machine (`cortexrnn-client datasets upload` does)",
        )
    declared = math.prod(shape) * dtype.itemsize
    if declared > size - fh.tell():
        raise upload_error(
            400,
            f"archive member {where!r} declares shape {tuple(shape)} ({declared} bytes) "
            f"but holds only {max(size - fh.tell(), 0)} bytes of data",
        )


def _check_npz(path: Path, where: str, max_total_bytes: int) -> None:
    """An .npz is a zip too: the same size, ratio and header checks apply to its arrays."""
    try:
        inner = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise upload_error(400, f"archive member {where!r} is not a valid .npz file") from None
    with inner:
        infos = inner.infolist()
        if sum(i.file_size for i in infos) > max_total_bytes:
            raise upload_error(
                413, f"archive member {where!r} unpacks beyond the limit of {max_total_bytes} bytes"
            )
        for info in infos:
            _refuse_bomb(info, f"array {info.filename!r} in {where!r}")
            if not info.filename.endswith(".npy"):
                raise upload_error(
                    400,
                    f"archive member {where!r} holds {info.filename!r}, which is not a .npy array",
                )
            with inner.open(info) as fh:
                _check_npy_header(fh, info.file_size, f"{where}:{info.filename}")


def bundle_root(dest: Path) -> Path:
    """Archives often wrap everything in one folder; descend through single-folder levels."""
    root = dest
    while True:
        entries = list(root.iterdir())
        if len(entries) == 1 and entries[0].is_dir():
            root = entries[0]
        else:
            return root
