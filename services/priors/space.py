"""Distance matrices for the space term, and their normalisation.

Normalisation (corrected, default): every geometry is divided by its mean off-diagonal
distance, so the mean distance between two distinct units is 1 for grid, real and
real-shuffled alike and one lambda means the same expected penalty for a matrix of a given
mean |W|. Paper (`Fidelity.unnormalised_distances`, §5.3): grid at unit spacing (mean ~6.6
on 12 x 13 x 2); real as the released code builds it: each of the three coordinate rows
min-max normalised to [0, 1], then Euclidean distances (so distances reach sqrt(3), mean
~0.5-0.7): about an order of magnitude apart at the same lambda.

Real distances are exact soma distances in micrometres (before normalisation) from the
(N, 3) positions. `Fidelity.reshape_positions` (§5.1) instead takes the paper's voxel array
(N, 3) and reads coordinates from `positions.reshape(3, -1)`, which is not a transpose: unit
i gets (flat[i], flat[N + i], flat[2N + i]) of the row-major flattened array, a mix of
different neurons' x, y and z. For N divisible by 3 every coordinate of unit i is axis
(i mod 3) of some neuron (neurons i // 3, N/3 + i // 3 and 2N/3 + i // 3), so the units fall
into three interleaved classes, all-x, all-y and all-z, which sit apart wherever the axes'
ranges differ (MICrONS voxels: z is 40 nm, x and y 4 nm): an artificial three-module
geometry unrelated to the cortex (docs/replication.md shows its matrix).

Grid units take seRNN's order by default here as x-major raster order;
`Fidelity.meshgrid_grid_order` (§5.8) takes the released code's `numpy.meshgrid(x, y, z)`
('xy' indexing: y outermost, then x, then z) followed by ravel. The two differ by a
relabelling of units, which matters wherever unit identity matters (the functional init).
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


def grid_positions(n: int, shape: Sequence[int], meshgrid_order: bool = False) -> np.ndarray:
    """The first n points of the unit-spaced grid, in raster or the released meshgrid order."""
    dims = tuple(int(v) for v in shape)
    total = int(np.prod(dims))
    if total < n:
        raise ValueError(
            f"grid_shape {dims} holds {total} units, fewer than the {n} selected neurons"
        )
    if meshgrid_order:
        x, y, z = np.meshgrid(*(np.arange(v) for v in dims))  # the released code's lines
        pos = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1).astype(np.float64)
    else:
        pos = derived.grid_positions(total, dims)
    return pos[:n]


def grid_distances(n: int, shape: Sequence[int] | None, meshgrid_order: bool = False) -> np.ndarray:
    pos = grid_positions(n, shape if shape is not None else paper_grid_shape(n), meshgrid_order)
    return cdist(pos, pos)


def real_coordinates(positions_nm: np.ndarray, reshape_bug: bool) -> np.ndarray:
    """(N, 3) coordinates of the selected neurons: true soma positions (µm), or the released
    code's `reshape(3, -1)` of the voxel array, transposed to one row per unit."""
    if not reshape_bug:
        return np.asarray(positions_nm, dtype=np.float64) / 1000.0
    voxels = np.asarray(positions_nm, dtype=np.float64) / VOXEL_NM
    return voxels.reshape(3, -1).T  # the released code's line; its columns are taken as units


def minmax_rows(coords: np.ndarray) -> np.ndarray:
    """Each coordinate axis (a row of the released code's (3, N) array) scaled to [0, 1]. An
    axis on which all units agree contributes nothing (the released code would divide 0/0)."""
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return (coords - lo) / span


def real_distances(positions_nm: np.ndarray, reshape_bug: bool, minmax: bool) -> np.ndarray:
    """Pairwise distances of the selected neurons: µm, or (`minmax`, §5.3) between per-axis
    min-max normalised coordinates as the released code computes them."""
    coords = real_coordinates(positions_nm, reshape_bug)
    if minmax:
        coords = minmax_rows(coords)
    elif not reshape_bug:
        return derived.soma_distances_um(positions_nm)
    return cdist(coords, coords)


def normalise(d: np.ndarray, unnormalised: bool) -> np.ndarray:
    """Corrected: divided by the mean off-diagonal distance. Paper (§5.3): as built (unit
    grid spacing; real distances come min-max normalised per axis from `real_distances`)."""
    if unnormalised:
        return d
    off = d[~np.eye(d.shape[0], dtype=bool)]
    mean = float(off.mean()) if off.size else 0.0
    if not mean > 0:
        raise ValueError(
            "all selected neurons sit at the same position: distances cannot be normalised"
        )
    return d / mean


def normalisation_label(kind: str, unnormalised: bool) -> str:
    if unnormalised:
        return "unit grid spacing (paper)" if kind == "grid" else "per-axis min-max (paper)"
    return "divided by mean off-diagonal distance"
