"""Checks shared by every ingest path and by the store. Each failure names where and what."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.types import FUNCTIONAL_KINDS, NEURON_COLUMNS, Connectome

SYMMETRY_TOL = 1e-8
SYMMETRIC_KINDS = ("correlation", "sttc", "precision")


def check_positions(pos: np.ndarray, where: str) -> np.ndarray:
    """An (N, 3) finite float array; `where` names the file or column it came from."""
    pos = np.asarray(pos)
    if pos.ndim != 2 or pos.shape[1] != 3:
        raise DatasetError(f"{where}: positions must have shape (N, 3), got {pos.shape}")
    try:
        pos = pos.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{where}: positions are not numeric ({exc})") from None
    bad = ~np.isfinite(pos).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise DatasetError(
            f"{where}: NaN or infinite coordinates in rows {rows} ({int(bad.sum())} rows)"
        )
    return pos


def check_shape(shape: tuple[int, ...], n: int | None, where: str) -> None:
    if len(shape) != 2 or shape[0] != shape[1]:
        raise DatasetError(f"{where}: matrix must be square, got shape {tuple(shape)}")
    if n is not None and shape[0] != n:
        raise DatasetError(
            f"{where}: matrix is {shape[0]} x {shape[1]} but the dataset has {n} neurons"
        )


def check_square(m: np.ndarray, n: int | None, where: str) -> np.ndarray:
    m = np.asarray(m)
    check_shape(m.shape, n, where)
    return m


def check_functional(m: np.ndarray, kind: str, n: int | None, where: str) -> np.ndarray:
    m = check_square(m, n, where)
    if not np.issubdtype(m.dtype, np.number):
        raise DatasetError(f"{where}: {kind} matrix is not numeric (dtype {m.dtype})")
    m = m.astype(np.float64)
    if not np.isfinite(m).all():
        raise DatasetError(
            f"{where}: {kind} matrix has {int((~np.isfinite(m)).sum())} NaN or infinite entries"
        )
    if kind in SYMMETRIC_KINDS:
        asym = float(np.abs(m - m.T).max()) if m.size else 0.0
        scale = max(1.0, float(np.abs(m).max()) if m.size else 1.0)
        if asym > SYMMETRY_TOL * scale:
            raise DatasetError(
                f"{where}: {kind} matrix must be symmetric, but max |M - M.T| = {asym:.3g}"
            )
    return m


def symmetrise_one_sided(m: np.ndarray) -> tuple[np.ndarray, str | None]:
    """Fill a matrix stored in one triangle only (the paper's STTC files hold the lower triangle).

    Returns the matrix and which triangle it was taken from, or None when it was not one-sided.
    """
    upper = np.triu(m, 1)
    lower = np.tril(m, -1)
    if m.shape[0] > 1 and not upper.any() and lower.any():
        return lower + lower.T + np.diag(np.diag(m)), "lower"
    if m.shape[0] > 1 and not lower.any() and upper.any():
        return upper + upper.T + np.diag(np.diag(m)), "upper"
    return m, None


def check_counts(counts: np.ndarray | sp.spmatrix, n: int | None, where: str) -> sp.csr_matrix:
    """Non-negative integer synapse counts, square, as canonical CSR int64."""
    if sp.issparse(counts):
        m = sp.csr_matrix(counts)
        check_shape(m.shape, n, where)
        data = m.data
    else:
        arr = check_square(np.asarray(counts), n, where)
        if not np.issubdtype(arr.dtype, np.number):
            raise DatasetError(f"{where}: synapse counts are not numeric (dtype {arr.dtype})")
        m = sp.csr_matrix(arr)
        data = m.data
    if data.size and not np.isfinite(data).all():
        raise DatasetError(f"{where}: synapse counts contain NaN or infinite values")
    if data.size and (data < 0).any():
        coo = m.tocoo()
        k = int(np.flatnonzero(coo.data < 0)[0])
        raise DatasetError(
            f"{where}: negative synapse count {coo.data[k]} at ({coo.row[k]}, {coo.col[k]}); "
            "counts must be >= 0"
        )
    if data.size and not np.allclose(data, np.round(data)):
        raise DatasetError(f"{where}: synapse counts must be whole numbers")
    m = sp.csr_matrix((np.round(m.data).astype(np.int64), m.indices, m.indptr), shape=m.shape)
    return canonical_csr(m)


def canonical_csr(m: sp.spmatrix) -> sp.csr_matrix:
    """Sorted indices, duplicates summed, explicit zeros dropped: equal matrices, equal bytes."""
    m = sp.csr_matrix(m, copy=True)
    m.sum_duplicates()
    m.eliminate_zeros()
    m.sort_indices()
    return m


def check_unique_ids(ids: np.ndarray, where: str) -> None:
    u, c = np.unique(ids, return_counts=True)
    if (c > 1).any():
        raise DatasetError(f"{where}: ids must be unique; duplicated: {u[c > 1][:5].tolist()}")


def validate_connectome(c: Connectome) -> None:
    """Everything the store relies on; raised before anything is written."""
    missing = [col for col in NEURON_COLUMNS if col not in c.neurons.columns]
    if missing:
        raise DatasetError(f"dataset {c.name!r}: neuron table lacks columns {missing}")
    n = c.n_neurons
    check_positions(c.positions_nm, f"dataset {c.name!r} neurons x_nm/y_nm/z_nm")
    check_counts(c.synapse_counts, n, f"dataset {c.name!r} synapse_counts")
    if c.synapse_sizes is not None:
        check_shape(c.synapse_sizes.shape, n, f"dataset {c.name!r} synapse_sizes")
    for kind, m in c.functional.items():
        if kind not in FUNCTIONAL_KINDS:
            raise DatasetError(
                f"dataset {c.name!r}: unknown functional matrix {kind!r}; use {FUNCTIONAL_KINDS}"
            )
        check_functional(m, kind, n, f"dataset {c.name!r} functional[{kind!r}]")
    if c.spikes is not None and c.spikes.n_neurons != n:
        raise DatasetError(
            f"dataset {c.name!r}: spikes cover {c.spikes.n_neurons} neurons but the dataset has {n}"
        )


def empty_neuron_table() -> pd.DataFrame:
    return pd.DataFrame({col: [] for col in NEURON_COLUMNS})
