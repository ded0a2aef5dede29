"""Telling ingest formats apart, and the server-safe ingest of each (no unpickling)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.ingest_cave import ingest_cave_tables
from cortexrnn.services.connectome.ingest_folder import is_field_folder, load_safe_bundle
from cortexrnn.services.connectome.types import Connectome

IngestFormat = Literal["folder", "cave"]


def detect_format(paths: list[Path]) -> IngestFormat:
    for p in paths:
        if not p.exists():
            raise DatasetError(f"{p}: not found")
    if all(
        is_field_folder(p) or (p.is_dir() and any(is_field_folder(s) for s in p.iterdir()))
        for p in paths
    ):
        return "folder"
    if len(paths) == 1 and paths[0].is_dir() and any(paths[0].glob("nucleus_detection_v0.*")):
        return "cave"
    raise DatasetError(
        f"cannot tell the format of {[str(p) for p in paths]}: expected field folders "
        "(connectome_<f>.csv) or one folder of CAVE tables (nucleus_detection_v0.csv/.parquet); "
        "pass --format"
    )


def ingest_safe(paths: list[Path], name: str, fmt: IngestFormat) -> Connectome:
    """Ingest files that hold numeric arrays and tables only (what a server may read)."""
    if fmt == "folder":
        return load_safe_bundle(paths, name)
    if len(paths) != 1:
        raise DatasetError("CAVE ingest takes one folder of tables")
    spikes = paths[0] / "spikes.npz"
    return ingest_cave_tables(paths[0], name, spikes=spikes if spikes.is_file() else None)
