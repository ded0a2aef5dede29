"""Unpacking an uploaded dataset archive without trusting it: zip only, regular files of
numeric and table types only, no paths outside the target, one member per normalised path,
bounded member count and uncompressed size (a zip bomb is refused before it is inflated)."""

from __future__ import annotations

import codecs
import json
import math
import posixpath
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO

from numpy.lib import format as npy_format

from cortexrnn.api.errors import ApiError

ALLOWED_SUFFIXES = {".npy", ".npz", ".csv", ".parquet", ".json"}
MAX_MEMBERS = 4096
MAX_RATIO = 200  # a numeric matrix compresses far less than this; a bomb far more
NUMERIC_KINDS = set("biuf")  # numpy dtype kinds: bool, int, unsigned, float


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


# What reading a member can raise on a damaged or unusual archive (bad CRC, truncated data,
# an unsupported compression method, an encrypted member).
MEMBER_READ_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
)


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath:
    """The member's path inside the target, normalised (`dir/./file` and `dir//file` are
    `dir/file`), so that two spellings of one path cannot both pass the duplicate check."""
    raw = info.filename
    name = PurePosixPath(raw)
    if name.is_absolute() or ".." in name.parts or "\\" in raw or ":" in raw:
        raise upload_error(400, f"archive member {raw!r} points outside the archive")
    norm = posixpath.normpath(raw)
    if norm in ("", "."):
        raise upload_error(400, f"archive member {raw!r} has no file name")
    return PurePosixPath(norm)


def _check_member_type(info: zipfile.ZipInfo) -> None:
    """Regular, unencrypted files only: a symbolic link (or a device) would be written as a
    file holding its target, which no reader of the dataset expects."""
    mode = info.external_attr >> 16
    if info.create_system == 3 and stat.S_IFMT(mode) and not stat.S_ISREG(mode):
        kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
        raise upload_error(
            400, f"archive member {info.filename!r} is {kind}; the archive may hold files only"
        )
    if info.flag_bits & 0x1:
        raise upload_error(
            400, f"archive member {info.filename!r} is encrypted; upload an unencrypted archive"
        )


def _check_layout(paths: list[PurePosixPath]) -> None:
    """Each path once, and no file where another member needs a folder."""
    seen: set[PurePosixPath] = set()
    dup: set[str] = set()
    for p in paths:
        if p in seen:
            dup.add(str(p))
        seen.add(p)
    if dup:
        # Two members with one path: which one a reader sees depends on the tool; refuse.
        raise upload_error(400, f"archive members {sorted(dup)[:5]} appear more than once")
    for p in paths:
        clash = next((parent for parent in p.parents if parent in seen), None)
        if clash is not None:
            raise upload_error(
                400,
                f"archive member {str(clash)!r} is a file, but {str(p)!r} needs it to be a folder",
            )


def safe_extract(archive: Path, dest: Path, *, max_total_bytes: int) -> list[Path]:
    try:
        zf = zipfile.ZipFile(archive)
    except UnicodeDecodeError:
        raise upload_error(
            400,
            "a member name is marked as UTF-8 but is not valid UTF-8; re-create the archive "
            "(`cortexrnn-client datasets upload` builds it for you)",
        ) from None
    except (*MEMBER_READ_ERRORS, OSError):  # a corrupt directory can make zipfile seek badly
        raise upload_error(
            400,
            "not a zip archive; upload a .zip of converted field folders or CAVE tables "
            "(`cortexrnn-client datasets upload` builds it for you)",
        ) from None
    with zf:
        # Not ZipInfo.is_dir(): it fails on a member with an empty name (refused below).
        members = [m for m in zf.infolist() if not m.filename.endswith("/")]
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
        paths = [_member_path(m) for m in members]
        _check_layout(paths)
        written = []
        for m, name in zip(members, paths, strict=True):
            _check_member_type(m)
            suffix = name.suffix.lower()
            if suffix not in ALLOWED_SUFFIXES:
                raise upload_error(
                    400,
                    f"archive member {m.filename!r} has a type that is not accepted; "
                    f"allowed: {sorted(ALLOWED_SUFFIXES)} (no pickles)",
                )
            _refuse_bomb(m, f"archive member {m.filename!r}")
            target = dest.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            _unpack_member(zf, m, target)
            if suffix == ".npy":
                with open(target, "rb") as fh:
                    _check_npy_header(fh, m.file_size, m.filename)
            elif suffix == ".npz":
                _check_npz(target, m.filename, max_total_bytes)
            elif suffix in (".csv", ".json"):
                _check_text(target, m.filename, as_json=suffix == ".json")
            elif suffix == ".parquet":
                _check_parquet(target, m.filename)
            written.append(target)
    return written


def _unpack_member(zf: zipfile.ZipFile, m: zipfile.ZipInfo, target: Path) -> None:
    try:
        with zf.open(m) as src, open(target, "wb") as out:
            remaining = m.file_size
            while chunk := src.read(1 << 20):
                remaining -= len(chunk)
                if remaining < 0:  # the header lied about the size
                    raise upload_error(
                        400, f"archive member {m.filename!r} is larger than it declares"
                    )
                out.write(chunk)
    except MEMBER_READ_ERRORS as exc:
        raise upload_error(
            400, f"archive member {m.filename!r} cannot be unpacked ({exc}); re-create the archive"
        ) from None


def _check_text(path: Path, where: str, *, as_json: bool) -> None:
    """Tables and metadata are read as UTF-8 text: anything else is refused by name here
    rather than failing deep inside a parser."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise upload_error(
            400,
            f"archive member {where!r} is not UTF-8 text (byte {exc.start}); save it as UTF-8",
        ) from None
    if as_json:
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise upload_error(400, f"archive member {where!r} is not valid JSON ({exc})") from None


def _check_parquet(path: Path, where: str) -> None:
    """A Parquet file starts and ends with its magic bytes."""
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(max(size - 4, 0))
        tail = fh.read(4)
    if size < 12 or head != b"PAR1" or tail != b"PAR1":
        raise upload_error(400, f"archive member {where!r} is not a Parquet file")


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
    if dtype.kind not in NUMERIC_KINDS:
        # Strings, complex numbers, dates or records: no dataset array holds them, and the
        # readers would fail on them (or silently drop an imaginary part).
        raise upload_error(
            400,
            f"archive member {where!r} is not numeric (dtype {dtype}); only boolean, integer "
            "and floating-point arrays are accepted",
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
    except MEMBER_READ_ERRORS:  # UnicodeDecodeError (a bad UTF-8 name) is a ValueError
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
            try:
                with inner.open(info) as fh:
                    _check_npy_header(fh, info.file_size, f"{where}:{info.filename}")
            except MEMBER_READ_ERRORS as exc:
                raise upload_error(
                    400, f"archive member {where!r} is not a valid .npz file ({exc})"
                ) from None


def bundle_root(dest: Path) -> Path:
    """Archives often wrap everything in one folder; descend through single-folder levels."""
    root = dest
    while True:
        entries = list(root.iterdir())
        if len(entries) == 1 and entries[0].is_dir():
            root = entries[0]
        else:
            return root
