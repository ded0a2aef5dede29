"""A sweep's figure: each metric against each swept numeric field, one line per condition
family (the spec's condition the sweep varies), the mean over seeds with its 95 %
percentile-bootstrap interval as a band. Takes the tidy metrics table with the sweep's
columns (`family` and one column per swept field, named by its dotted path:
services/spec/sweep.py)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .figures import ACCURACIES, _colors, _mean_ci, _png, chance_line


def swept_fields(metrics: pd.DataFrame) -> list[str]:
    """The swept fields a figure can put on an axis: numeric, with more than one value."""
    return [
        c
        for c in metrics.columns
        if "." in str(c)
        and pd.api.types.is_numeric_dtype(metrics[c])
        and not pd.api.types.is_bool_dtype(metrics[c])
        and metrics[c].nunique() > 1
    ]


def sweep_curves(metrics: pd.DataFrame, task: str, names: list[str]) -> bytes | None:
    """One panel per (swept field, metric) for `task`; None where nothing was swept. With
    several swept fields each panel averages over the others (its caption says so)."""
    if "family" not in metrics.columns:
        return None
    rows = metrics[(metrics["task"] == task) & metrics["metric"].isin(names)].copy()
    rows["value"] = pd.to_numeric(rows["value"], errors="coerce")
    rows = rows[np.isfinite(rows["value"].to_numpy(float))]
    fields = swept_fields(rows)
    panels = [(f, m) for f in fields for m in names if (rows["metric"] == m).any()]
    if not panels:
        return None
    families = sorted(rows["family"].astype(str).unique())
    colours = _colors(families)
    ncol = min(3, len(panels))
    nrow = int(np.ceil(len(panels) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.4 * nrow), squeeze=False)
    for ax, (field, metric) in zip(axes.ravel(), panels, strict=False):
        for family in families:
            g = rows[(rows["family"].astype(str) == family) & (rows["metric"] == metric)]
            line = _mean_ci(g, field)
            if line.empty:
                continue
            ax.plot(line[field], line["mean"], "o-", ms=3, color=colours[family], label=family)
            ax.fill_between(
                line[field], line["low"], line["high"], color=colours[family], alpha=0.2
            )
        values = rows[field].to_numpy(float)
        if values.min() > 0 and values.max() / values.min() >= 20:
            ax.set_xscale("log")
        if metric in ACCURACIES:
            chance_line(ax, task)
        ax.set_xlabel(field, fontsize=8)
        ax.set_ylabel(metric, fontsize=8)
        ax.set_title(f"{metric} vs {field}", fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes.ravel()[len(panels) :]:
        ax.axis("off")
    axes.ravel()[0].legend(fontsize=7)
    fig.suptitle(f"Sweep — {task} (mean over seeds, 95 % bootstrap CI)")
    fig.tight_layout()
    return _png(fig)
