"""Across-seed summary: mean, sd and 95 % t confidence interval per task x condition x measure."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cortexrnn.services.training.evaluation import EXTRA_METRICS

SUMMARY_MEASURES = (
    "accuracy", "test_acc", *EXTRA_METRICS, "train_acc", "test_loss", "steps_to_criterion",
    "entropy_kde",
    "modularity_cnm", "modularity_louvain", "small_world_sigma", "small_world_propensity",
    "assortativity", "char_path_length", "global_efficiency", "wiring_cost", "spectral_radius",
)  # fmt: skip


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float | None, float | None]:
    n = values.size
    if n < 2:
        return None, None
    sd = float(values.std(ddof=1))
    if sd == 0.0:
        m = float(values.mean())
        return m, m
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return float(values.mean()) - half, float(values.mean()) + half


def condition_summary(
    runs: pd.DataFrame, measures: tuple[str, ...] = SUMMARY_MEASURES
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    present = [m for m in measures if m in runs.columns]
    for (task, cond), group in runs.groupby(["task", "condition"], sort=False):
        for m in present:
            vals = pd.to_numeric(group[m], errors="coerce").to_numpy(dtype=np.float64)
            ok = vals[np.isfinite(vals)]
            lo, hi = t_interval(ok)
            rows.append(
                {
                    "task": task,
                    "condition": cond,
                    "measure": m,
                    "n": int(ok.size),
                    "n_missing": int(vals.size - ok.size),
                    "mean": float(ok.mean()) if ok.size else None,
                    "sd": float(ok.std(ddof=1)) if ok.size > 1 else None,
                    "ci95_low": lo,
                    "ci95_high": hi,
                }
            )
    return rows
