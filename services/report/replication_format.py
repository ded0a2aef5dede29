"""How the replication document writes its numbers: fixed digits, p-values, a mean with its
percentile-bootstrap interval, a solved fraction with its exact interval."""

from __future__ import annotations

import math

import numpy as np

from ..stats.summary import mean_interval


def num(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{digits}f}"


def pval(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:.2g}" if x >= 1e-4 else f"{x:.1e}"


def mean_ci(values: object) -> str:
    """'mean [low, high]': the mean over seeds and its 95 % percentile-bootstrap interval."""
    v = np.asarray(values, float)
    if not len(v):
        return "–"
    mean, lo, hi = mean_interval(v)
    return f"{num(mean)} [{num(lo)}, {num(hi)}]"


def solved_change(first: str | None, second: str | None, p: float, p_holm: float) -> str:
    """'3/5 → 5/5 (p = 0.25, Holm 0.5)' for a change of the solved count; '–' without one."""
    if first is None or second is None or (isinstance(first, float) and math.isnan(first)):
        return "–"
    return f"{first} → {second} (p = {pval(p)}, Holm {pval(p_holm)})"
