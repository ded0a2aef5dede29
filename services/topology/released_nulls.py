"""The released code's small-world nulls (SCIENCE.md §6; the project's deviation §5.7).

The released notebook draws each null as `U = rand(N, N); A = ((U + U.T) / 2 > 0.7)`: a
symmetric graph whose density does not depend on the graph it is compared with (the mean of
two uniforms exceeds 0.7 with probability 0.18), self-loops kept. Its σ is
(C / C_null) / (E_null / E) with mean clustering (bct `clustering_coef_bu`, which counts a
self-loop as a neighbour and as an edge among neighbours) and global efficiency (bct
`efficiency_bin`, where self-loops change nothing), averaged over 1,000 nulls. The graph's own
C and E are the project's (its top-fraction graph has no self-loops).

This is not a small-world test of the graph at hand (a sparser or denser graph is compared
with the same fixed-density nulls), which is why every run reports σ against density-matched
nulls as `small_world_sigma` and this one separately, at paper fidelity only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from .paths import batch_stats

RELEASED_THRESHOLD = 0.7
# P((U1 + U2) / 2 > 0.7) for independent uniforms: the triangle above 1.4 has area 0.6² / 2.
RELEASED_DENSITY = 0.18


def released_null_batch(n: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` nulls as the released code draws them, [count, n, n] bool, self-loops kept."""
    u = rng.random((count, n, n))
    return (u + u.transpose(0, 2, 1)) / 2 > RELEASED_THRESHOLD


def clustering_bu(adj: np.ndarray) -> np.ndarray:
    """bct `clustering_coef_bu` of [B, n, n] (or [n, n]) symmetric boolean graphs, self-loops
    included as bct counts them: C_u = sum(A[V, V]) / (k² - k) over u's neighbours V (u itself
    when it has a loop), k = |V|; 0 where k < 2."""
    a = np.asarray(adj, dtype=bool)
    if a.ndim == 2:
        a = a[None]
    af = torch.from_numpy(a.astype(np.float32))
    # sum(A[V, V]) = g_u^T A g_u = (A² ⊙ A) summed over the row, for symmetric A.
    within = (torch.bmm(af, af) * af).sum(-1).double().numpy()
    k = a.sum(-1).astype(np.float64)
    denom = k * k - k
    return np.divide(within, denom, out=np.zeros_like(within), where=k >= 2)


@dataclass(frozen=True)
class ReleasedNullMeans:
    avg_clustering: float  # mean over nulls of the mean clustering
    global_efficiency: float  # mean over nulls of the global efficiency
    density: float  # mean off-diagonal density of the nulls (about 0.18)


def released_null_means(
    n: int, count: int, rng: np.random.Generator, chunk: int = 64
) -> ReleasedNullMeans:
    """Mean clustering, efficiency and density over `count` released-code nulls."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    off = ~np.eye(n, dtype=bool)
    clustering, efficiency, density = [], [], []
    for start in range(0, count, chunk):
        nulls = released_null_batch(n, min(chunk, count - start), rng)
        clustering.append(clustering_bu(nulls).mean(-1))
        density.append(nulls[:, off].mean(-1))
        # Efficiency is a function of the off-diagonal paths alone: drop the loops for
        # `batch_stats`, which expects none.
        efficiency.append(batch_stats(nulls & off).efficiency)
    return ReleasedNullMeans(
        float(np.concatenate(clustering).mean()),
        float(np.concatenate(efficiency).mean()),
        float(np.concatenate(density).mean()),
    )


@functools.lru_cache(maxsize=64)
def released_null_means_of_seed(n: int, count: int, seed: int) -> ReleasedNullMeans:
    """`released_null_means` on a stream of its own for `seed` (so that switching these nulls
    on leaves the G(n, m) ones unchanged). The nulls do not depend on the graph compared with
    them, so every network of one seed and size in a process, and every epoch snapshot of it,
    shares one draw."""
    return released_null_means(n, count, np.random.default_rng([seed, 7]))
