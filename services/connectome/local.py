"""USER-SIDE ONLY: the one place that unpickles.

The paper's `positions_<f>.npy` and `spikes_<f>.npy` are pickled object arrays. Unpickling runs
arbitrary code, so it happens only here, called by `cortexrnn datasets ingest` / `convert`
running on the user's own machine on the user's own files. Server code (API, workers, the
store) must never call these functions; they read the safe bundle `convert` writes
(`ingest_folder.load_safe_bundle`, numeric arrays with allow_pickle=False).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.functional import spike_trains_from_list
from cortexrnn.services.connectome.ingest_folder import (
    FOLDER_MATRIX_FILES,
    as_positions,
    combine_fields,
    field_folders,
    field_name_of,
    read_field_folder,
)
from cortexrnn.services.connectome.types import Connectome


def load_user_npy_local(path: Path) -> np.ndarray:
    """USER-SIDE ONLY: load a .npy that may be a pickled object array (allow_pickle=True)."""
    try:
        return np.load(path, allow_pickle=True)
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable .npy file ({exc})") from None


def convert_field_folder_local(src: Path, out: Path) -> list[Path]:
    """USER-SIDE ONLY: rewrite paper field folder(s) as safe numeric bundles.

    `src` is one field folder or a folder of field folders; each becomes `out/<field>/` (or
    `out` itself for a single field) holding numeric `positions_<f>.npy` (N, 3), spikes as
    `spikes_<f>.npz` (times, offsets, duration_s) and copies of the csv, matrices and id files.
    Returns the written folders.
    """
    src = Path(src)
    folders = field_folders(src)
    written = []
    for folder in folders:
        f = field_name_of(folder)
        dest = out if len(folders) == 1 and folder == src else out / folder.name
        dest.mkdir(parents=True, exist_ok=True)
        pos_file = folder / f"positions_{f}.npy"
        pos = as_positions(load_user_npy_local(pos_file), str(pos_file))
        np.save(dest / f"positions_{f}.npy", np.ascontiguousarray(pos), allow_pickle=False)
        spikes_file = folder / f"spikes_{f}.npy"
        if spikes_file.exists():
            raw = load_user_npy_local(spikes_file)
            trains = spike_trains_from_list([np.asarray(t, dtype=np.float64) for t in raw])
            np.savez(
                dest / f"spikes_{f}.npz",
                times=trains.times,
                offsets=trains.offsets,
                duration_s=np.float64(trains.duration_s),
            )
        names = [f"connectome_{f}.csv", *FOLDER_MATRIX_FILES.values()]
        names += [f"{stem}_{f}.npy" for stem in ("root_ids", "unit_ids", "target_ids")]
        for name in names:
            if (folder / name).exists():
                if name.endswith(".npy"):
                    # Refuse to copy anything that would need unpickling on the server.
                    arr = load_user_npy_local(folder / name)
                    if arr.dtype == object:
                        raise DatasetError(
                            f"{folder / name}: object array where numbers are expected"
                        )
                    np.save(dest / name, arr, allow_pickle=False)
                else:
                    shutil.copyfile(folder / name, dest / name)
        written.append(dest)
    return written


def ingest_field_folders(paths: list[Path], name: str) -> Connectome:
    """USER-SIDE ONLY: ingest the paper's field folder(s), unpickling positions/spikes locally.

    Each path is a field folder or a folder of field folders; several fields become one
    dataset with a `field` column and block-diagonal matrices.
    """
    folders = [f for p in paths for f in field_folders(Path(p))]
    return combine_fields(
        [read_field_folder(f, load_user_npy_local) for f in folders], name, "microns-folder"
    )
