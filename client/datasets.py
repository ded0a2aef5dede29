"""Preparing a dataset upload on the user's machine.

The paper's field folders hold pickled object arrays (positions, spikes). Unpickling runs
code, so it happens here, on the user's own files, never on the server: each field folder
is rewritten as numeric .npy/.npz plus its csv files (`convert_field_folder_local`), and only
that safe bundle is zipped and sent. CAVE tables (csv/parquet) are zipped as they are.
Converting (and recognising a folder's format) needs the science (`cortexrnn[science]`); a
ready .zip, or CAVE tables with `--format cave`, do not.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cortexrnn.client import science
from cortexrnn.client.errors import UsageError

SAFE_SUFFIXES = {".npy", ".npz", ".csv", ".parquet", ".json"}


def _zip_folder(folder: Path, archive: Path) -> int:
    n = 0
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix.lower() in SAFE_SUFFIXES:
                zf.write(path, path.relative_to(folder).as_posix())
                n += 1
    return n


@contextmanager
def packed_upload(
    path: Path, format: str = "auto", on_step: Callable[[str], None] | None = None
) -> Iterator[tuple[Path, str]]:
    """Yield (zip archive, format) ready to POST; temporary files are removed afterwards."""
    say = on_step or (lambda _msg: None)
    if format not in ("auto", "folder", "cave"):
        raise UsageError(f"--format: {format!r} is not one of auto, folder, cave")
    if not path.exists():
        raise UsageError(
            f"{path}: not found; give a field folder, a folder of field folders, "
            "a folder of CAVE tables or a .zip"
        )
    if path.is_file():
        if path.suffix.lower() != ".zip":
            raise UsageError(
                f"{path}: upload a folder (converted here) or a .zip of converted folders"
            )
        yield path, format
        return
    if format == "auto":
        dataset_error = science.dataset_error_type()
        try:
            fmt = science.detect_format([path])
        except dataset_error as exc:
            raise UsageError(str(exc)) from None
    else:
        fmt = format
    with tempfile.TemporaryDirectory(prefix="cortexrnn-client-upload-") as tmp:
        tmp_dir = Path(tmp)
        if fmt == "folder":
            say(
                f"converting {path} to safe numeric files "
                "(pickles are read here, not on the server)"
            )
            bundle = tmp_dir / "bundle"
            dataset_error = science.dataset_error_type()
            try:
                written = science.convert_field_folder(path, bundle / path.name)
            except dataset_error as exc:
                raise UsageError(str(exc)) from None
            say(f"converted {len(written)} field folder(s)")
        else:
            bundle = path
        archive = tmp_dir / f"{path.name}.zip"
        n = _zip_folder(bundle, archive)
        if n == 0:
            raise UsageError(f"{path}: no .npy/.npz/.csv/.parquet/.json files to upload")
        say(f"packed {n} files into {archive.stat().st_size / 1e6:.1f} MB")
        yield archive, fmt
