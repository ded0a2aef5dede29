"""MICrONS CAVE tables exported to CSV or Parquet, read into a Connectome.

Tables (columns used):
- nucleus_detection_v0: id, pt_root_id, pt_position (volume is carried into nothing here);
- synapses_pni_2: pre_pt_root_id, post_pt_root_id, size (ctr_pt_position unused);
- coregistration (e.g. coregistration_manual_v4): target_id (nucleus id), pt_root_id,
  session, scan_idx, unit_id, field (residual and score used to pick one unit per root);
- optional aibs_metamodel_celltypes_v661: pt_root_id, cell_type.
Positions are voxels (4 x 4 x 40 nm): one `pt_position` column holding "[x, y, z]" strings or
lists, or split `pt_position_x/_y/_z` columns. Neurons are the coregistered rows in table order
(after the optional session/scan/field filter) that have a nucleus; each root keeps its
best-scoring unit when coregistered more than once.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.functional import functional_from_spikes, spike_trains_from_list
from cortexrnn.services.connectome.ingest_folder import (
    MICRONS_CITATION,
    MICRONS_LICENSE,
    load_numeric_npy,
)
from cortexrnn.services.connectome.neurons import make_neuron_table
from cortexrnn.services.connectome.types import VOXEL_NM, Connectome, SpikeTrains
from cortexrnn.services.connectome.validation import (
    check_counts,
    check_functional,
    check_positions,
    symmetrise_one_sided,
)

TABLES = {
    "nucleus": ("nucleus_detection_v0", ["id", "pt_root_id"]),
    "synapses": ("synapses_pni_2", ["pre_pt_root_id", "post_pt_root_id"]),
    "coregistration": (
        "coregistration",
        ["target_id", "pt_root_id", "session", "scan_idx", "unit_id", "field"],
    ),
    "cell_types": ("aibs_metamodel_celltypes", ["pt_root_id", "cell_type"]),
}
REQUIRED = ("nucleus", "synapses", "coregistration")


def _find_tables(source: Path | dict[str, Path]) -> dict[str, Path]:
    if isinstance(source, dict):
        unknown = set(source) - set(TABLES)
        if unknown:
            raise DatasetError(f"unknown table keys {sorted(unknown)}; use {sorted(TABLES)}")
        found = {k: Path(v) for k, v in source.items()}
    else:
        folder = Path(source)
        if not folder.is_dir():
            raise DatasetError(f"{folder}: folder not found")
        found = {}
        for key, (prefix, _) in TABLES.items():
            hits = sorted(
                p
                for p in folder.iterdir()
                if p.name.startswith(prefix) and p.suffix in (".csv", ".parquet")
            )
            if len(hits) > 1:
                raise DatasetError(
                    f"{folder}: several {prefix}* tables ({[p.name for p in hits]}); keep one"
                )
            if hits:
                found[key] = hits[0]
    for key in REQUIRED:
        if key not in found:
            raise DatasetError(f"{source}: missing table {TABLES[key][0]} (.csv or .parquet)")
    return found


def _read_table(path: Path, required: list[str]) -> pd.DataFrame:
    if not path.exists():
        raise DatasetError(f"{path}: missing file")
    try:
        df = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad file to the user
        raise DatasetError(f"{path}: not a readable {path.suffix[1:]} table ({exc})") from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing}; found {list(df.columns)}")
    return df


def _int_column(df: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(df[col], errors="coerce")
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise DatasetError(
            f"{path}: column {col!r} row {row}: missing or non-numeric id {df[col].iloc[row]!r}"
        )
    return values.to_numpy().astype(np.int64)


def _parse_triple(value: object) -> list[float]:
    if isinstance(value, str):
        parsed = json.loads(value.replace("(", "[").replace(")", "]"))
    else:
        parsed = list(np.asarray(value, dtype=np.float64))
    if len(parsed) != 3:
        raise ValueError(f"{len(parsed)} values")
    return [float(v) for v in parsed]


def positions_voxels(df: pd.DataFrame, prefix: str, path: Path) -> np.ndarray:
    """(N, 3) voxel positions from `prefix` ("[x, y, z]") or `prefix_x/_y/_z` columns."""
    split = [f"{prefix}_{a}" for a in "xyz"]
    if all(c in df.columns for c in split):
        cols = []
        for c in split:
            v = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=np.float64)
            cols.append(v)
        pos = np.stack(cols, axis=1)
        where = f"{path}: columns {split}"
    elif prefix in df.columns:
        rows = []
        for i, v in enumerate(df[prefix].tolist()):
            try:
                rows.append(_parse_triple(v))
            except (ValueError, TypeError, json.JSONDecodeError) as exc:
                raise DatasetError(
                    f"{path}: column {prefix!r} row {i}: not an [x, y, z] triple ({v!r}: {exc})"
                ) from None
        pos = np.array(rows, dtype=np.float64).reshape(-1, 3)
        where = f"{path}: column {prefix!r}"
    else:
        raise DatasetError(f"{path}: missing column {prefix!r} (or {split})")
    return check_positions(pos, where)


def _load_spikes(spikes: SpikeTrains | Path | None, root_ids: np.ndarray) -> SpikeTrains | None:
    """Spikes as SpikeTrains in neuron order, or an npz (times, offsets, duration_s, root_ids)."""
    if spikes is None or isinstance(spikes, SpikeTrains):
        if spikes is not None and spikes.n_neurons != len(root_ids):
            raise DatasetError(
                f"spikes: {spikes.n_neurons} trains but {len(root_ids)} coregistered neurons"
            )
        return spikes
    path = Path(spikes)
    if not path.exists():
        raise DatasetError(f"{path}: missing file")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as exc:
        raise DatasetError(f"{path}: not a safe numeric npz ({exc})") from None
    for k in ("times", "offsets", "root_ids"):
        if k not in arrays:
            raise DatasetError(
                f"{path}: missing array {k!r} (need times, offsets, root_ids[, duration_s])"
            )
    times, offsets, ids = (
        arrays["times"],
        arrays["offsets"].astype(np.int64),
        arrays["root_ids"].astype(np.int64),
    )
    if len(offsets) != len(ids) + 1:
        raise DatasetError(
            f"{path}: {len(offsets) - 1} trains but {len(ids)} root_ids (N mismatch)"
        )
    where = {r: i for i, r in enumerate(ids.tolist())}
    missing = [r for r in root_ids.tolist() if r not in where]
    if missing:
        raise DatasetError(
            f"{path}: root_ids {missing[:5]} of the coregistered neurons have no spike train (ids "
            "do not join)"
        )
    trains = [times[offsets[where[r]] : offsets[where[r] + 1]] for r in root_ids.tolist()]
    duration = float(arrays["duration_s"]) if "duration_s" in arrays else None
    return spike_trains_from_list(trains, duration)


def ingest_cave_tables(
    source: Path | dict[str, Path],
    name: str,
    *,
    session: int | None = None,
    scan_idx: int | None = None,
    field: int | None = None,
    spikes: SpikeTrains | Path | None = None,
    functional: dict[str, np.ndarray | Path] | None = None,
    bin_s: float = 0.5,
    sttc_dt_s: float = 0.5,
) -> Connectome:
    """CAVE tables (a folder, or {'nucleus'|'synapses'|'coregistration'|'cell_types': path}).

    Functional matrices: `functional` supplies them in neuron order (arrays or .npy paths,
    read with allow_pickle=False); otherwise they are derived from `spikes` with `bin_s` and
    `sttc_dt_s`; with neither, the dataset has no functional matrices.
    """
    paths = _find_tables(source)
    coreg_path = paths["coregistration"]
    coreg = _read_table(coreg_path, TABLES["coregistration"][1])
    for col, want in (("session", session), ("scan_idx", scan_idx), ("field", field)):
        if want is not None:
            coreg = coreg[pd.to_numeric(coreg[col], errors="coerce") == want]
    if coreg.empty:
        raise DatasetError(
            f"{coreg_path}: no coregistered neurons for session={session}, scan_idx={scan_idx}, "
            f"field={field}"
        )
    coreg = coreg.reset_index(drop=True)
    c_root = _int_column(coreg, "pt_root_id", coreg_path)
    c_target = _int_column(coreg, "target_id", coreg_path)
    c_unit = _int_column(coreg, "unit_id", coreg_path)
    fields = [
        f"{s}_{sc}_{f}"
        for s, sc, f in zip(
            _int_column(coreg, "session", coreg_path),
            _int_column(coreg, "scan_idx", coreg_path),
            _int_column(coreg, "field", coreg_path),
            strict=True,
        )
    ]
    keep = np.ones(len(coreg), dtype=bool)
    dropped = 0
    if len(np.unique(c_root)) < len(c_root):
        score = (
            pd.to_numeric(coreg["score"], errors="coerce").fillna(-np.inf)
            if "score" in coreg
            else pd.Series(0.0, index=coreg.index)
        )
        best = pd.DataFrame({"root": c_root, "score": score.to_numpy()}).sort_values(
            ["root", "score"], ascending=[True, False], kind="stable"
        )
        first = best.drop_duplicates("root").index.to_numpy()
        keep[:] = False
        keep[first] = True
        dropped = int((~keep).sum())
    c_root, c_target, c_unit = c_root[keep], c_target[keep], c_unit[keep]
    fields = [f for f, k in zip(fields, keep, strict=True) if k]

    nuc_path = paths["nucleus"]
    nuc = _read_table(nuc_path, TABLES["nucleus"][1])
    n_root = _int_column(nuc, "pt_root_id", nuc_path)
    n_id = _int_column(nuc, "id", nuc_path)
    n_pos = positions_voxels(nuc, "pt_position", nuc_path)
    by_nucleus = {int(i): k for k, i in enumerate(n_id)}
    by_root = {int(r): k for k, r in enumerate(n_root) if r != 0}
    rows = []
    unjoined = []
    for root, target in zip(c_root.tolist(), c_target.tolist(), strict=True):
        k = by_nucleus.get(target)
        if k is None or n_root[k] != root:
            k = by_root.get(root)
        if k is None:
            unjoined.append(root)
        rows.append(k)
    if unjoined:
        raise DatasetError(
            f"{coreg_path}: column 'pt_root_id': {len(unjoined)} coregistered root ids do not join "
            f"{nuc_path.name} (pt_root_id or id = target_id), e.g. {unjoined[:3]}"
        )
    rows_arr = np.array(rows, dtype=np.int64)
    pos_nm = n_pos[rows_arr] * VOXEL_NM
    n = len(c_root)

    cell_type: list = [None] * n
    if "cell_types" in paths:
        ct_path = paths["cell_types"]
        ct = _read_table(ct_path, TABLES["cell_types"][1])
        ct_map = dict(
            zip(
                _int_column(ct, "pt_root_id", ct_path).tolist(),
                ct["cell_type"].tolist(),
                strict=True,
            )
        )
        cell_type = [ct_map.get(r) for r in c_root.tolist()]

    syn_path = paths["synapses"]
    syn = _read_table(syn_path, TABLES["synapses"][1])
    pre = _int_column(syn, "pre_pt_root_id", syn_path)
    post = _int_column(syn, "post_pt_root_id", syn_path)
    index = pd.Index(c_root)
    i = index.get_indexer(pre)
    j = index.get_indexer(post)
    inside = (i >= 0) & (j >= 0)
    counts = check_counts(
        sp.coo_matrix(
            (np.ones(int(inside.sum()), dtype=np.int64), (i[inside], j[inside])), shape=(n, n)
        ),
        n,
        f"{syn_path}: pre_pt_root_id/post_pt_root_id",
    )
    sizes = None
    if "size" in syn.columns:
        size = pd.to_numeric(syn["size"], errors="coerce").to_numpy(dtype=np.float64)
        if not np.isfinite(size[inside]).all():
            raise DatasetError(f"{syn_path}: column 'size' has missing or non-numeric values")
        if (size[inside] < 0).any():
            raise DatasetError(f"{syn_path}: column 'size' has negative synapse sizes")
        sizes = sp.coo_matrix((size[inside], (i[inside], j[inside])), shape=(n, n)).tocsr()
        sizes.sum_duplicates()
        sizes.sort_indices()

    trains = _load_spikes(spikes, c_root)
    meta: dict = {
        "source": "cave-tables",
        "tables": {k: v.name for k, v in sorted(paths.items())},
        "fields": list(dict.fromkeys(fields)),
        "voxel_nm": VOXEL_NM.tolist(),
        "positions": "nanometres, nucleus pt_position voxels x (4, 4, 40)",
        "license": MICRONS_LICENSE,
        "citation": MICRONS_CITATION,
        "synapses_between_coregistered": int(inside.sum()),
        "duplicate_coregistrations_dropped": dropped,
        "filter": {"session": session, "scan_idx": scan_idx, "field": field},
    }
    matrices: dict[str, np.ndarray] = {}
    if functional:
        for kind, m in functional.items():
            where = str(m) if isinstance(m, (str, Path)) else f"functional[{kind!r}]"
            arr = load_numeric_npy(Path(m)) if isinstance(m, (str, Path)) else np.asarray(m)
            if kind == "sttc" and arr.ndim == 2 and arr.shape[0] == arr.shape[1]:
                arr, side = symmetrise_one_sided(arr.astype(np.float64))
                if side:
                    meta["sttc_symmetrised_from"] = side
            matrices[kind] = check_functional(arr, kind, n, where)
        meta["functional_source"] = "supplied"
    elif trains is not None:
        matrices, info = functional_from_spikes(trains, bin_s, sttc_dt_s)
        meta["functional_source"] = "spikes"
        meta["functional_from_spikes"] = info
    neurons = make_neuron_table(c_root, c_unit, c_target, fields, pos_nm, cell_type)
    return Connectome(name, neurons, counts, sizes, matrices, trains, meta)
