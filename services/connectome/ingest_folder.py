"""The paper's per-field folders (`<session>_<scan>_<field>/`), read into a Connectome.

Layout of one folder (checked against the four MICrONS examples):
- `connectome_<f>.csv`: directed synapse counts, rows pre, columns post. Its first column is
  a positional index 0..N-1 and its header is 0..N-1 too (no root ids): node i is row i of
  `root_ids_<f>.npy`. Headers that are root ids are also accepted and reordered to root_ids.
- `positions_<f>.npy`: (N,) object array of int [x, y, z] voxels (4 x 4 x 40 nm).
- `corr_matrix.npy`, `precision_matrix.npy`: symmetric N x N float64.
- `sttc_matrix.npy`: N x N with only the lower triangle filled (upper triangle all 0, diagonal
  1) in every example; it is symmetrised from its lower triangle, as the paper's code does,
  and the meta says so. A two-sided STTC matrix must be symmetric.
- `root_ids_<f>.npy` (EM segment ids), `unit_ids_<f>.npy` (functional unit ids),
  `target_ids_<f>.npy` (the coregistration target_id, i.e. the nucleus id).
- optional `spikes_<f>.npy`: (N,) object array of spike-time arrays in seconds.

Pickled object arrays are read only by `local.ingest_field_folders` on the user's machine.
`load_safe_bundle` here reads the numeric bundle `convert` writes, with allow_pickle=False.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp

from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.functional import functional_from_spikes, spike_trains_from_list
from cortexrnn.services.connectome.neurons import make_neuron_table
from cortexrnn.services.connectome.types import VOXEL_NM, Connectome, SpikeTrains
from cortexrnn.services.connectome.validation import (
    check_counts,
    check_functional,
    check_positions,
    check_square,
    check_unique_ids,
    symmetrise_one_sided,
)

FOLDER_MATRIX_FILES = {
    "correlation": "corr_matrix.npy",
    "sttc": "sttc_matrix.npy",
    "precision": "precision_matrix.npy",
}
MICRONS_LICENSE = "CC-BY 4.0 (MICrONS Consortium)"
MICRONS_CITATION = (
    "MICrONS Consortium et al., Functional connectomics spanning multiple areas of mouse visual "
    "cortex, Nature 2025; preprocessing: Shakiba, Rokni, Mohammadi, Dehghani, Harnessing cortical "
    "geometry, wiring, and function as inductive biases for recurrent neural networks, "
    "arXiv:2606.14975 (software doi:10.5281/zenodo.20834365)"
)
DEFAULT_BIN_S = 0.5
DEFAULT_STTC_DT_S = 0.5

NpyLoader = Callable[[Path], np.ndarray]


@dataclass
class FieldData:
    field: str
    folder: Path
    neurons: pd.DataFrame
    counts: sp.csr_matrix
    functional: dict[str, np.ndarray]
    spikes: SpikeTrains | None
    notes: dict


def load_numeric_npy(path: Path) -> np.ndarray:
    """Server-safe .npy read: allow_pickle=False, with a message saying how to convert."""
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise DatasetError(
                f"{path}: a pickled object array; the server never unpickles. Convert it on your "
                "own machine with `cortexrnn datasets convert` (or ingest it locally with "
                "`cortexrnn datasets ingest`)"
            ) from None
        raise DatasetError(f"{path}: not a readable .npy file ({exc})") from None
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable .npy file ({exc})") from None


def field_name_of(folder: Path) -> str:
    """The `<f>` of `connectome_<f>.csv`: the folder name, or the single csv present."""
    folder = Path(folder)
    if (folder / f"connectome_{folder.name}.csv").exists():
        return folder.name
    found = sorted(folder.glob("connectome_*.csv"))
    if len(found) == 1:
        return found[0].stem[len("connectome_") :]
    if not folder.is_dir():
        raise DatasetError(f"{folder}: folder not found")
    if not found:
        raise DatasetError(
            f"{folder}: missing file connectome_<field>.csv (e.g. connectome_{folder.name}.csv)"
        )
    raise DatasetError(
        f"{folder}: several connectome_*.csv files ({[p.name for p in found]}); keep one per folder"
    )


def is_field_folder(folder: Path) -> bool:
    return folder.is_dir() and any(folder.glob("connectome_*.csv"))


def field_folders(path: Path) -> list[Path]:
    """`path` itself when it is a field folder, else its field sub-folders (sorted)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: folder not found")
    if is_field_folder(path):
        return [path]
    subs = sorted(p for p in path.iterdir() if is_field_folder(p)) if path.is_dir() else []
    if not subs:
        raise DatasetError(f"{path}: no connectome_<field>.csv here or in its sub-folders")
    return subs


def as_positions(raw: np.ndarray, where: str) -> np.ndarray:
    """(N, 3) float positions from an object array of triples, an (N, 3) or a (3, N) array.

    A (3, N) array is transposed; reshaping it would interleave coordinates of different
    neurons (the released code's bug, SCIENCE.md §5.1).
    """
    raw = np.asarray(raw)
    if raw.dtype == object:
        rows = list(raw.ravel())
        bad = [i for i, r in enumerate(rows) if np.asarray(r).shape != (3,)]
        if bad:
            raise DatasetError(
                f"{where}: entry {bad[0]} is not an [x, y, z] triple (shape "
                f"{np.asarray(rows[bad[0]]).shape})"
            )
        raw = np.stack([np.asarray(r) for r in rows]) if rows else np.zeros((0, 3))
    if raw.ndim == 2 and raw.shape[1] != 3 and raw.shape[0] == 3:
        raw = raw.T
    return check_positions(raw, where)


def _as_int(label: object) -> int:
    text = str(label).strip()
    try:
        return int(text)
    except ValueError:
        value = float(text)
        if not value.is_integer():
            raise
        return int(value)


def _read_connectome_csv(path: Path, root_ids: np.ndarray) -> sp.csr_matrix:
    if not path.exists():
        raise DatasetError(f"{path}: missing file")
    n = len(root_ids)
    with open(path, newline="") as fh:  # refuse an oversized table before parsing all of it
        n_header = len(fh.readline().split(","))
    if n_header > n + 1:
        raise DatasetError(
            f"{path}: the header has {n_header - 1} neuron columns but root_ids has {n} neurons "
            "(N mismatch between files)"
        )
    try:
        df = pd.read_csv(path, index_col=0)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DatasetError(f"{path}: not a readable csv ({exc})") from None
    for col in df.columns:
        if not pd.api.types.is_numeric_dtype(df[col]):
            raise DatasetError(f"{path}: column {col!r} is not numeric")
    check_square(df.to_numpy(), None, str(path))
    if len(df) != n:
        raise DatasetError(
            f"{path}: {len(df)} rows but root_ids has {n} neurons (N mismatch between files)"
        )
    index = np.asarray(df.index)
    try:
        # int() first: float() would round 18-digit root ids.
        header = np.array([_as_int(c) for c in df.columns], dtype=np.int64)
    except ValueError:
        raise DatasetError(
            f"{path}: header must be 0..N-1 or root ids, got {list(df.columns[:3])}..."
        ) from None
    positional = np.arange(n)
    a = df.to_numpy()
    if np.array_equal(header, positional):
        if not np.array_equal(index.astype(np.int64), positional):
            raise DatasetError(
                f"{path}: index column must be 0..{n - 1} in order, got {index[:5].tolist()}..."
            )
    elif set(header.tolist()) == set(root_ids.tolist()):
        # Root-id headers: reorder rows and columns to the order of root_ids.
        col_pos = {r: i for i, r in enumerate(header.tolist())}
        cols = np.array([col_pos[r] for r in root_ids.tolist()])
        if set(index.astype(np.int64).tolist()) != set(root_ids.tolist()):
            raise DatasetError(
                f"{path}: index column root ids do not match the header / root_ids file"
            )
        row_pos = {r: i for i, r in enumerate(index.astype(np.int64).tolist())}
        rows = np.array([row_pos[r] for r in root_ids.tolist()])
        a = a[np.ix_(rows, cols)]
    else:
        raise DatasetError(
            f"{path}: header ids do not join the root_ids file (neither 0..{n - 1} nor the root "
            "ids)"
        )
    return check_counts(a, n, str(path))


def _read_spikes(folder: Path, f: str, load_npy: NpyLoader) -> SpikeTrains | None:
    npz = folder / f"spikes_{f}.npz"
    npy = folder / f"spikes_{f}.npy"
    if npz.exists():
        try:
            with np.load(npz, allow_pickle=False) as z:
                times, offsets = z["times"].astype(np.float64), z["offsets"].astype(np.int64)
                duration = float(z["duration_s"])
        except KeyError as exc:
            raise DatasetError(
                f"{npz}: missing array {exc} (need times, offsets, duration_s)"
            ) from None
        except ValueError as exc:
            raise DatasetError(f"{npz}: not a safe numeric npz ({exc})") from None
        if (
            offsets.ndim != 1
            or offsets[0] != 0
            or offsets[-1] != len(times)
            or (np.diff(offsets) < 0).any()
        ):
            raise DatasetError(
                f"{npz}: offsets must start at 0, be non-decreasing and end at len(times)"
            )
        trains = [times[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
        return spike_trains_from_list(trains, duration)
    if npy.exists():
        raw = load_npy(npy)
        if raw.dtype != object and raw.ndim != 2:
            raise DatasetError(f"{npy}: expected one spike-time array per neuron")
        return spike_trains_from_list([np.asarray(t, dtype=np.float64) for t in raw])
    return None


def read_field_folder(folder: Path, load_npy: NpyLoader = load_numeric_npy) -> FieldData:
    """One field folder. `load_npy` reads positions/spikes; the default refuses pickles."""
    folder = Path(folder)
    f = field_name_of(folder)
    root_file = folder / f"root_ids_{f}.npy"
    if not root_file.exists():
        raise DatasetError(f"{root_file}: missing file (root ids are the join key)")
    root_ids = load_numeric_npy(root_file).astype(np.int64).ravel()
    check_unique_ids(root_ids, str(root_file))
    n = len(root_ids)

    ids = {}
    for stem in ("unit_ids", "target_ids"):
        p = folder / f"{stem}_{f}.npy"
        if p.exists():
            arr = load_numeric_npy(p).astype(np.int64).ravel()
            if len(arr) != n:
                raise DatasetError(
                    f"{p}: {len(arr)} ids but {root_file.name} has {n} (N mismatch between files)"
                )
            ids[stem] = arr
        else:
            ids[stem] = np.full(n, -1, dtype=np.int64)

    pos_file = folder / f"positions_{f}.npy"
    if not pos_file.exists():
        raise DatasetError(f"{pos_file}: missing file")
    pos_vox = as_positions(load_npy(pos_file), str(pos_file))
    if len(pos_vox) != n:
        raise DatasetError(
            f"{pos_file}: {len(pos_vox)} positions but {root_file.name} has {n} (N mismatch "
            "between files)"
        )

    counts = _read_connectome_csv(folder / f"connectome_{f}.csv", root_ids)
    spikes = _read_spikes(folder, f, load_npy)
    if spikes is not None and spikes.n_neurons != n:
        raise DatasetError(
            f"{folder}/spikes_{f}: {spikes.n_neurons} trains but {n} neurons (N mismatch between "
            "files)"
        )

    notes: dict = {"functional_source": {}}
    functional: dict[str, np.ndarray] = {}
    derived = None
    for kind, name in FOLDER_MATRIX_FILES.items():
        p = folder / name
        if p.exists():
            m = check_square(load_numeric_npy(p), n, str(p))
            if kind == "sttc":
                m, side = symmetrise_one_sided(m.astype(np.float64))
                if side:
                    notes["sttc_symmetrised_from"] = side
            functional[kind] = check_functional(m, kind, n, str(p))
            notes["functional_source"][kind] = name
        elif spikes is not None:
            if derived is None:
                derived = functional_from_spikes(spikes, DEFAULT_BIN_S, DEFAULT_STTC_DT_S)
                notes["functional_from_spikes"] = derived[1]
            functional[kind] = derived[0][kind]
            notes["functional_source"][kind] = (
                f"spikes_{f} (bin {DEFAULT_BIN_S} s, STTC dt {DEFAULT_STTC_DT_S} s)"
            )
        else:
            raise DatasetError(f"{p}: missing file (and no spikes_{f} to derive {kind} from)")

    neurons = make_neuron_table(
        root_id=root_ids,
        unit_id=ids["unit_ids"],
        nucleus_id=ids["target_ids"],
        field=[f] * n,
        positions_nm=pos_vox * VOXEL_NM,
        cell_type=[None] * n,
    )
    return FieldData(f, folder, neurons, counts, functional, spikes, notes)


def combine_fields(parts: list[FieldData], name: str, source: str) -> Connectome:
    """Fields side by side: block-diagonal matrices (nothing known between fields)."""
    if not parts:
        raise DatasetError("no field folders given")
    names = [p.field for p in parts]
    if len(set(names)) != len(names):
        raise DatasetError(
            f"field {sorted({x for x in names if names.count(x) > 1})} given more than once"
        )
    neurons = pd.concat([p.neurons for p in parts], ignore_index=True)
    counts = sp.block_diag([p.counts for p in parts], format="csr").astype(np.int64)
    kinds = set.intersection(*(set(p.functional) for p in parts))
    functional = {
        k: scipy.linalg.block_diag(*(p.functional[k] for p in parts)) for k in sorted(kinds)
    }
    part_spikes = [p.spikes for p in parts if p.spikes is not None]
    have_spikes = len(part_spikes) == len(parts)
    spikes = None
    if have_spikes:
        trains = [s.neuron(i) for s in part_spikes for i in range(s.n_neurons)]
        spikes = spike_trains_from_list(trains, max(s.duration_s for s in part_spikes))
    meta = {
        "source": source,
        "fields": names,
        # Names only: absolute paths would make the content hash depend on where files lay.
        "folders": [p.folder.name for p in parts],
        "voxel_nm": VOXEL_NM.tolist(),
        "positions": "nanometres, voxels x (4, 4, 40)",
        "license": MICRONS_LICENSE,
        "citation": MICRONS_CITATION,
        "per_field": {p.field: p.notes for p in parts},
    }
    if len(parts) > 1:
        meta["between_fields"] = (
            "synapse counts and functional matrices between different fields are unknown in "
            "per-field folders; stored as 0 (block-diagonal)"
        )
        if not have_spikes and any(p.spikes is not None for p in parts):
            meta["spikes_dropped"] = "not every field has spikes, so the dataset carries none"
    return Connectome(
        name=name,
        neurons=neurons,
        synapse_counts=counts,
        functional=functional,
        spikes=spikes,
        meta=meta,
    )


def load_safe_bundle(paths: list[Path], name: str) -> Connectome:
    """Server-safe ingest of converted field folders: numeric arrays only (allow_pickle=False)."""
    folders = [f for p in paths for f in field_folders(Path(p))]
    return combine_fields(
        [read_field_folder(f, load_numeric_npy) for f in folders], name, "microns-folder"
    )
