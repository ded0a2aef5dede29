"""How fast each condition learns: the fraction of its networks whose held-out accuracy has
reached the training criterion by each optimiser step, with a 95 % Clopper–Pearson band ("learns
faster" is the paper's core claim, and a mean of steps-to-criterion hides the networks that
never get there)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..stats.outcomes import clopper_pearson
from .figures import _colors, _png, plt

STEPS_METRIC = "steps_to_criterion"
COUNT_METRIC = "test_acc"  # every finished run has one: the denominator


def reached_curve(steps: np.ndarray, n: int, grid: np.ndarray) -> pd.DataFrame:
    """At each step of `grid`: how many of the `n` networks had reached the criterion
    (`steps` holds the step each reached it at; networks that never did are simply absent or
    NaN), that fraction and its 95 % Clopper–Pearson interval."""
    steps = np.asarray(steps, dtype=float)
    steps = np.sort(steps[np.isfinite(steps)])
    if len(steps) > n:
        raise ValueError(f"{len(steps)} networks reached the criterion, but only {n} ran")
    k = np.searchsorted(steps, grid, side="right")
    bounds = [clopper_pearson(int(ki), n) for ki in k]
    return pd.DataFrame(
        {
            "step": grid,
            "reached": k,
            "fraction": k / n if n else np.nan,
            "low": [b[0] for b in bounds],
            "high": [b[1] for b in bounds],
        }
    )


def learning_speed(summary: pd.DataFrame, task: str, total_steps: int | None = None) -> bytes:
    """One curve per condition for `task` from a tidy summary (condition, task, seed, metric,
    value): the fraction of its seeds at criterion against the optimiser step, with its band."""
    g = summary[summary["task"] == task]
    conds = sorted(g["condition"].unique())
    reached = g[g["metric"] == STEPS_METRIC]
    finite = reached["value"].to_numpy(float)
    finite = finite[np.isfinite(finite)]
    last = total_steps or (int(finite.max()) if len(finite) else 1)
    grid = np.unique(np.linspace(0, max(int(last), 1), 200).round())
    colours = _colors(conds)
    fig, ax = plt.subplots(figsize=(7, 4))
    for cond in conds:
        n = g[(g["condition"] == cond) & (g["metric"] == COUNT_METRIC)]["seed"].nunique()
        if not n:
            continue
        curve = reached_curve(
            reached[reached["condition"] == cond]["value"].to_numpy(float), n, grid
        )
        ax.step(curve["step"], curve["fraction"], where="post", color=colours[cond], label=cond)
        ax.fill_between(
            curve["step"], curve["low"], curve["high"], step="post", color=colours[cond],
            alpha=0.12, lw=0,
        )  # fmt: skip
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("fraction of seeds at criterion")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    if conds:
        ax.legend(fontsize=7, ncol=2, loc="lower right")
    ax.set_title(f"Learning speed — {task} (95 % Clopper–Pearson band)")
    return _png(fig)
