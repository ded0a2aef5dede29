"""Controls a reviewer asks for (issue 20): priors that keep one property of the biological
one and destroy the rest.

- `spectrum_matched`: a random matrix with the functional init's eigenvalues, singular values
  and diagonal (is the gain the matrix's spectrum and self-weights, or its wiring?).
- `three_block_distances`: a geometry of three blocks with the sizes of the reshape geometry's
  modules (units i mod 3, SCIENCE.md §5.1) and its mean within- and between-module distances,
  but random membership (are "real space" gains under `reshape_positions` only block
  structure?).
"""

from __future__ import annotations

import numpy as np

from cortexrnn.services.priors.rng import stream


def _diagonal_keeping_rotation(w: np.ndarray, i: int, j: int) -> None:
    """In place: W <- R W R^T for the one non-trivial rotation R in the (i, j) plane that
    leaves W[i, i] and W[j, j] as they are. On the symmetric part's 2 x 2 block
    [[a, b], [b, c]], the rotated (i, i) entry is mid + r cos(2 theta - phi) with
    phi = atan2(b, (a - c) / 2): theta = 0 and theta = phi give the same value. An orthogonal
    similarity keeps every eigenvalue and singular value."""
    a, c = w[i, i], w[j, j]
    b = 0.5 * (w[i, j] + w[j, i])
    theta = float(np.arctan2(b, 0.5 * (a - c)))
    cos, sin = np.cos(theta), np.sin(theta)
    rot = np.array([[cos, sin], [-sin, cos]])
    w[[i, j], :] = rot @ w[[i, j], :]
    w[:, [i, j]] = w[:, [i, j]] @ rot.T
    w[i, i], w[j, j] = a, c  # exact: the rotation's rounding would drift them by ~1e-16


def spectrum_matched(w: np.ndarray, seed: int, sweeps: int = 2) -> np.ndarray:
    """A random matrix with W's eigenvalues, singular values and diagonal: `sweeps` passes of
    diagonal-keeping plane rotations over every pair of units, in a random order per pass (a
    random walk on the matrices that share W's spectrum and diagonal, started at W)."""
    out = np.array(w, dtype=np.float64, copy=True)
    n = out.shape[0]
    rng = stream(seed, "spectrum-matched")
    pairs = np.array([(i, j) for i in range(n) for j in range(i + 1, n)], dtype=np.int64)
    for _ in range(sweeps):
        for i, j in pairs[rng.permutation(len(pairs))]:
            _diagonal_keeping_rotation(out, int(i), int(j))
    return out


def module_of_units(n: int) -> np.ndarray:
    """The module of each unit in the reshape geometry: i mod 3 (all-x, all-y, all-z)."""
    return np.arange(n) % 3


def three_block_distances(reshape_distances: np.ndarray, seed: int) -> np.ndarray:
    """Distances of three blocks: `within` between units of one block, `between` otherwise,
    where `within` and `between` are the reshape geometry's mean distances within and between
    its modules, and the blocks have its modules' sizes but random members."""
    n = reshape_distances.shape[0]
    modules = module_of_units(n)
    same = modules[:, None] == modules[None, :]
    off = ~np.eye(n, dtype=bool)
    within = float(reshape_distances[same & off].mean()) if np.any(same & off) else 0.0
    between = float(reshape_distances[~same].mean()) if np.any(~same) else 0.0
    blocks = modules[stream(seed, "three-blocks").permutation(n)]
    d = np.where(blocks[:, None] == blocks[None, :], within, between)
    np.fill_diagonal(d, 0.0)
    return d
