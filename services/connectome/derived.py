"""Matrices derived from a dataset: pure functions, usable with or without the cache.

Orientation follows the dataset: (pre, post). Distances are in micrometres.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.spatial.distance import cdist

from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.functional import functional_from_spikes
from cortexrnn.services.connectome.types import Connectome


def soma_distances_um(positions_nm: np.ndarray) -> np.ndarray:
    """Exact pairwise Euclidean soma distances (µm), float64, zero diagonal.

    scipy's cdist computes each difference directly; the matmul expansion (torch.cdist's
    default) loses ~0.06 µm and leaves a non-zero diagonal (PERFORMANCE.md).
    """
    pos_um = np.asarray(positions_nm, dtype=np.float64) / 1000.0
    if pos_um.ndim != 2 or pos_um.shape[1] != 3:
        raise DatasetError(f"positions must be (N, 3), got {pos_um.shape}")
    return cdist(pos_um, pos_um)


def shuffled(matrix: np.ndarray, seed: int) -> np.ndarray:
    """The same matrix under one random relabelling of the nodes: M[p][:, p]."""
    perm = np.random.default_rng(seed).permutation(matrix.shape[0])
    return matrix[np.ix_(perm, perm)]


def shuffled_distances_um(positions_nm: np.ndarray, seed: int) -> np.ndarray:
    return shuffled(soma_distances_um(positions_nm), seed)


def grid_shape(n: int) -> tuple[int, int, int]:
    """The most cubic a x b x c = n (a >= b >= c): smallest largest/smallest side, then spread.

    100 -> (5, 5, 4); 312 -> (13, 6, 4). A prime n gives (n, 1, 1).
    """
    if n < 1:
        raise DatasetError(f"grid needs at least one unit, got {n}")
    best: tuple[tuple[float, float], tuple[int, int, int]] | None = None
    for c in range(1, round(n ** (1 / 3)) + 2):
        if n % c:
            continue
        m = n // c
        for b in range(c, int(np.sqrt(m)) + 1):
            if m % b:
                continue
            a = m // b
            big, mid, small = sorted((a, b, c), reverse=True)
            score = (big / small, float(np.var([big, mid, small])))
            if best is None or score < best[0]:
                best = (score, (big, mid, small))
    return best[1] if best else (n, 1, 1)


def grid_positions(n: int, shape: Sequence[int] | None = None) -> np.ndarray:
    """Unit-spaced integer coordinates of n units on the grid (seRNN's even grid), row-major."""
    dims = tuple(shape) if shape is not None else grid_shape(n)
    if int(np.prod(dims)) != n:
        raise DatasetError(f"grid shape {dims} holds {int(np.prod(dims))} units, not {n}")
    return np.array(list(itertools.product(*(range(s) for s in dims))), dtype=np.float64)


def grid_distances(n: int, shape: Sequence[int] | None = None) -> np.ndarray:
    pos = grid_positions(n, shape)
    return cdist(pos, pos)


def communicability(weights: np.ndarray, eps: float | None = None) -> np.ndarray:
    """seRNN communicability expm(S^-1/2 |W| S^-1/2) with the diagonal zeroed.

    S = diag(row sums of |W|) (out-strength for (pre, post) matrices), as seRNN's
    `reduce_sum(abs_W, 1)`. A node with zero strength has no S^-1/2: with eps=None its
    factor is 0 (the node drops out); with eps, zero strengths become eps, which with
    eps=1e-10 reproduces the paper's C* (entries up to ~1e5, SCIENCE.md §5.6).
    """
    w = np.abs(np.asarray(weights, dtype=np.float64))
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise DatasetError(f"communicability needs a square matrix, got {w.shape}")
    strength = w.sum(axis=1)
    if eps is None:
        inv_sqrt = np.zeros_like(strength)
        np.divide(1.0, np.sqrt(strength), out=inv_sqrt, where=strength > 0)
    else:
        inv_sqrt = 1.0 / np.sqrt(np.where(strength > 0, strength, eps))
    c = scipy.linalg.expm(inv_sqrt[:, None] * w * inv_sqrt[None, :])
    np.fill_diagonal(c, 0.0)
    return c


def anatomical_weights(connectome: Connectome, measure: str = "counts") -> np.ndarray:
    """Dense (pre, post) float64 matrix of synapse counts or summed synapse sizes."""
    if measure == "counts":
        m: sp.spmatrix = connectome.synapse_counts
    elif measure == "sizes":
        if connectome.synapse_sizes is None:
            raise DatasetError(
                f"dataset {connectome.name!r} has no synapse sizes; use measure='counts'"
            )
        m = connectome.synapse_sizes
    else:
        raise DatasetError(f"anatomical measure must be 'counts' or 'sizes', got {measure!r}")
    return np.asarray(m.toarray(), dtype=np.float64)


def functional_matrices(
    connectome: Connectome, bin_s: float, sttc_dt_s: float
) -> dict[str, np.ndarray]:
    """Correlation, STTC and precision recomputed from the dataset's spikes."""
    if connectome.spikes is None:
        raise DatasetError(
            f"dataset {connectome.name!r} has no spike trains to derive functional matrices from"
        )
    return functional_from_spikes(connectome.spikes, bin_s, sttc_dt_s)[0]


def derive(connectome: Connectome, kind: str, params: dict) -> np.ndarray | dict[str, np.ndarray]:
    """Dispatch by name; the store caches what this returns."""
    p = dict(params)
    if kind == "distances":
        return soma_distances_um(connectome.positions_nm)
    if kind == "distances_shuffled":
        return shuffled_distances_um(connectome.positions_nm, int(p["seed"]))
    if kind == "grid_distances":
        shape = p.get("shape")
        return grid_distances(connectome.n_neurons, tuple(shape) if shape else None)
    if kind == "communicability":
        return communicability(
            anatomical_weights(connectome, p.get("measure", "counts")), p.get("eps")
        )
    if kind == "anatomical":
        return anatomical_weights(connectome, p.get("measure", "counts"))
    if kind == "functional":
        return functional_matrices(connectome, float(p["bin_s"]), float(p["sttc_dt_s"]))
    raise DatasetError(
        f"unknown derived matrix {kind!r}; use distances, distances_shuffled, grid_distances, "
        "communicability, anatomical or functional"
    )
