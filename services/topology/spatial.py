"""Metrics of W against space and against reference matrices, and its spectral radius."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import rankdata

Result = tuple[float | None, str | None]


def offdiag(x: np.ndarray) -> np.ndarray:
    """Off-diagonal entries, row-major."""
    n = x.shape[0]
    return x[~np.eye(n, dtype=bool)]


def pearson(x: np.ndarray, y: np.ndarray) -> Result:
    if x.size < 2:
        return None, "fewer than 2 pairs"
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return None, "non-finite entries"
    xc, yc = x - x.mean(), y - y.mean()
    den = float(np.sqrt((xc * xc).sum() * (yc * yc).sum()))
    if den == 0:
        return None, "one of the matrices is constant off the diagonal"
    return float((xc * yc).sum() / den), None


def spearman(x: np.ndarray, y: np.ndarray) -> Result:
    """Pearson correlation of average ranks (`scipy.stats.spearmanr`)."""
    if x.size < 2 or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return pearson(x, y)
    return pearson(rankdata(x), rankdata(y))


def wiring_cost(weights: np.ndarray, distance: np.ndarray) -> Result:
    """Σ_ij |W_ij| D_ij over all entries (the seRNN wiring cost without communicability)."""
    if not np.all(np.isfinite(distance)):
        return None, "distance matrix has non-finite entries"
    return float((np.abs(weights) * distance).sum()), None


def graph_wiring_cost(adj: np.ndarray, distance: np.ndarray) -> Result:
    """Σ of D_ij over the undirected edges of the top-fraction graph (D symmetrised)."""
    if not np.all(np.isfinite(distance)):
        return None, "distance matrix has non-finite entries"
    d = (distance + distance.T) / 2.0
    return float(d[np.triu(adj, 1)].sum()), None


def spectral_radius(weights: np.ndarray) -> Result:
    if weights.shape[0] == 0:
        return None, "empty matrix"
    scale = float(np.abs(weights).max())
    if scale == 0:
        return 0.0, None
    # Scaling to max |W| = 1 keeps LAPACK away from overflow on extreme matrices.
    w = np.ascontiguousarray(weights / scale, dtype=np.float64)
    try:
        # torch's LAPACK honours torch.set_num_threads; numpy's OpenBLAS spawns its own thread
        # pool, which thrashes (3-10x slower) on a shared 2-core worker.
        rho = float(torch.linalg.eigvals(torch.from_numpy(w)).abs().max())
    except RuntimeError:
        try:
            rho = float(np.abs(np.linalg.eigvals(w)).max())
        except np.linalg.LinAlgError:
            return None, "the eigenvalue solver did not converge"
    return rho * scale, None
