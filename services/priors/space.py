"""Distance matrices for the space term, and their normalisation.

Normalisation (corrected, default): every geometry is divided by its mean off-diagonal
distance, so the mean distance between two distinct units is 1 for grid, real and
real-shuffled alike and one lambda means the same expected penalty for a matrix of a given
mean |W|. Paper (`Fidelity.unnormalised_distances`, §5.3): grid at unit spacing (mean ~6.6
on 12 x 13 x 2), real min-max normalised (divided by the maximum; mean ~0.3-0.5), about an
order of magnitude apart at the same lambda.

Real distances are exact soma distances in micrometres (before normalisation) from the
(N, 3) positions. `Fidelity.reshape_positions` (§5.1) instead takes the paper's voxel array
(N, 3) and reads coordinates from `positions.reshape(3, -1)`, which is not a transpose: unit
i gets (flat[i], flat[N + i], flat[2N + i]) of the row-major flattened array, a mix of
different neurons' x, y and z.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial.distance import cdist

from cortexrnn.services.connectome import derived
from cortexrnn.services.connectome.types import VOXEL_NM


def paper_grid_shape(n: int) -> tuple[int, int, int]:
    """Default grid: two layers of the most square x * y grid (12 x 13 x 2 at N = 312, the
    paper's); for odd N, where two layers cannot hold exactly N units, the most cubic grid."""
    if n % 2:
        return derived.grid_shape(n)
    half = n // 2
    y = int(np.floor(np.sqrt(half)))
    while half % y:
        y -= 1
    return (y, half // y, 2)


def grid_distances(n: int, shape: Sequence[int] | None) -> np.ndarray:
    dims = tuple(shape) if shape is not None else paper_grid_shape(n)
    if int(np.prod(dims)) < n:
        raise ValueError(
            f"grid_shape {dims} holds {int(np.prod(dims))} units, fewer than the {n} selected "
            "neurons"
        )
    if int(np.prod(dims)) == n:
        return derived.grid_distances(n, dims)
    pos = derived.grid_positions(int(np.prod(dims)), dims)[:n]  # first n points in raster order
    return cdist(pos, pos)


def real_distances(positions_nm: np.ndarray, reshape_bug: bool) -> np.ndarray:
    """Pairwise distances of the selected neurons (µm), or the paper's scrambled ones."""
    if not reshape_bug:
        return derived.soma_distances_um(positions_nm)
    voxels = np.asarray(positions_nm, dtype=np.float64) / VOXEL_NM
    coords = voxels.reshape(3, -1)  # the released code's line; columns are taken as units
    return cdist(coords.T, coords.T)


def normalise(d: np.ndarray, kind: str, unnormalised: bool) -> np.ndarray:
    if unnormalised:
        if kind == "grid":
            return d
        dmax = float(d.max())
        return d / dmax if dmax > 0 else d
    off = d[~np.eye(d.shape[0], dtype=bool)]
    mean = float(off.mean()) if off.size else 0.0
    if not mean > 0:
        raise ValueError(
            "all selected neurons sit at the same position: distances cannot be normalised"
        )
    return d / mean


def normalisation_label(kind: str, unnormalised: bool) -> str:
    if unnormalised:
        return "unit grid spacing (paper)" if kind == "grid" else "min-max (paper)"
    return "divided by mean off-diagonal distance"
