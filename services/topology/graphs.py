"""Binary graphs built from a weight matrix, and the ring-lattice reference.

Orientation: the undirected graph is symmetrised, so (post, pre) and (pre, post) matrices give
the same graph. The directed graph keeps W's orientation: an edge i -> j for entry [i, j].
"""

from __future__ import annotations

import numpy as np

DEFAULT_FRACTION = 0.1


def top_fraction_threshold(weights: np.ndarray, fraction: float = DEFAULT_FRACTION) -> float:
    """The paper's threshold: the (1 - fraction) quantile of |W| over all N² entries (diagonal
    included, numpy's default linear interpolation)."""
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    return float(np.quantile(np.abs(weights), 1.0 - fraction))


def top_fraction_graph(
    weights: np.ndarray, fraction: float = DEFAULT_FRACTION, directed: bool = False
) -> tuple[np.ndarray, float]:
    """(adjacency, threshold): entries with |W| strictly above the threshold, self-loops removed;
    symmetrised (i ~ j when either direction passes) unless `directed`.

    Strictly above, so that a matrix whose quantile is 0 (a sparse matrix) does not turn every
    zero into an edge; for continuous weights the quantile interpolates between two entries and
    `>` and `>=` agree.
    """
    w = np.abs(np.asarray(weights, dtype=np.float64))
    thr = top_fraction_threshold(w, fraction)
    adj = w > thr
    if not directed:
        adj = adj | adj.T
    np.fill_diagonal(adj, False)
    return adj, thr


def ring_lattice(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """Muldoon et al. (2016)'s binary regular reference with n nodes and m edges: node i joins
    i + 1, ..., i + r - 1 (mod n) and, for m - n(r - 1) randomly chosen nodes, i + r, where
    r = ceil(m / n). Rings that wrap onto themselves (r >= n / 2) overlap, as in their code."""
    adj = np.zeros((n, n), dtype=bool)
    if n < 2 or m <= 0:
        return adj
    r = int(np.ceil(m / n))
    nodes = np.arange(n)
    for z in range(1, r + 1):
        if z < r:
            src = nodes
        else:
            rem = m - n * (r - 1)
            src = np.sort(rng.choice(n, size=rem, replace=False))
        dst = (src + z) % n
        adj[src, dst] = True
        adj[dst, src] = True
    np.fill_diagonal(adj, False)
    return adj


def degree_assortativity(adj: np.ndarray) -> tuple[float | None, str | None]:
    """Pearson correlation of the degrees at the two ends of every edge, both orientations
    (`nx.degree_assortativity_coefficient`)."""
    a = np.asarray(adj, dtype=bool)
    i, j = np.nonzero(a)
    if i.size == 0:
        return None, "graph has no edges"
    deg = a.sum(1).astype(np.float64)
    x, y = deg[i], deg[j]
    xc, yc = x - x.mean(), y - y.mean()
    den = float(np.sqrt((xc * xc).sum() * (yc * yc).sum()))
    if den == 0:
        return None, "all edge ends have the same degree: assortativity undefined"
    return float((xc * yc).sum() / den), None
