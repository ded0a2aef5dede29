"""The figure of what the released code's "real" geometry is (SCIENCE.md §5.1 with the
per-axis scaling of §5.3): distance matrices of one field's true soma positions and of its
`positions.reshape(3, -1)` coordinates, the latter also with units sorted by index mod 3,
which shows the three modules that reshape creates.

    python examples/replication/reshape_geometry.py ../shared/data/microns/6_6_2 \\
        docs/replication-figures/reshape-geometry.png

draws it from a field folder on the user's own machine (its positions are a pickled array,
which only the user's machine may unpickle).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from ..priors.space import real_distances
from .figures import _png, plt


def geometry_figure(positions_nm: np.ndarray, title: str) -> tuple[bytes, dict[str, float]]:
    """PNG bytes of three distance matrices and the numbers the caption states."""
    true = real_distances(positions_nm, reshape_bug=False, minmax=True)
    released = real_distances(positions_nm, reshape_bug=True, minmax=True)
    n = len(true)
    off = ~np.eye(n, dtype=bool)
    cls = np.arange(n) % 3
    same = (cls[:, None] == cls[None, :]) & off
    order = np.argsort(cls, kind="stable")
    stats = {
        "spearman_true_vs_released": float(spearmanr(true[off], released[off])[0]),
        "released_within_class_mean": float(released[same].mean()),
        "released_between_class_mean": float(released[cls[:, None] != cls[None, :]].mean()),
        "true_mean": float(true[off].mean()),
        "released_mean": float(released[off].mean()),
    }
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    panels = (
        (true, "true soma positions (per-axis min-max)"),
        (released, "released: reshape(3, -1), unit order"),
        (released[np.ix_(order, order)], "released, units sorted by index mod 3"),
    )
    vmax = float(max(true.max(), released.max()))
    for ax, (m, name) in zip(axes, panels, strict=True):
        im = ax.imshow(m, cmap="viridis", vmin=0, vmax=vmax, interpolation="nearest")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("unit")
    axes[0].set_ylabel("unit")
    fig.colorbar(im, ax=axes, shrink=0.8, label="distance (axes scaled to [0, 1])")
    fig.suptitle(
        f"{title}: N = {n}, Spearman ρ(true, released) = {stats['spearman_true_vs_released']:.3f}",
        fontsize=11,
    )
    return _png(fig), stats
