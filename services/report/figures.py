"""The report's figures, each returned as PNG bytes (matplotlib, Agg backend, headless).
Every panel has labelled axes; intervals are percentile-bootstrap intervals of the mean over
seeds (they stay inside the values' range); accuracy panels show the task's chance level."""

from __future__ import annotations

import io
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ..stats.outcomes import chance
from ..stats.summary import mean_interval
from ..topology import cnm_modularity, top_fraction_graph

DPI = 110
N_BOOT = 2000  # per point of a curve: enough for a drawn band, cheap for many epochs
ACCURACIES = ("test_acc", "train_acc", "topo_test_acc", "topo_train_acc")
Colours = dict[str, tuple[float, ...]]  # condition -> RGBA


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _colors(conditions: list[str]) -> Colours:
    cmap = plt.get_cmap("tab10" if len(conditions) <= 10 else "tab20")
    return {c: cmap(i % cmap.N) for i, c in enumerate(conditions)}


def _mean_ci(g: pd.DataFrame, x: str) -> pd.DataFrame:
    """Per x: mean and 95 % percentile-bootstrap interval over seeds."""
    rows = []
    for xv, grp in g.groupby(x, sort=True):
        v = grp["value"].to_numpy(float)
        v = v[np.isfinite(v)]
        if not len(v):
            continue
        m, lo, hi = mean_interval(v, n_boot=N_BOOT)
        rows.append((xv, m, m if np.isnan(lo) else lo, m if np.isnan(hi) else hi))
    return pd.DataFrame(rows, columns=[x, "mean", "low", "high"])


def chance_line(ax: Axes, task: str) -> None:
    """The task's chance accuracy as a dotted line (nothing for a task without one)."""
    level = chance(task)
    if level is not None:
        ax.axhline(level, color="0.4", ls=":", lw=1, label=f"chance {level:g}")


def _panel_figure(
    frame: pd.DataFrame,
    task: str,
    column: str,
    names: list[str],
    draw: Callable[[Axes, pd.DataFrame, list[str], Colours], None],
    *,
    height: float,
    title: str,
    legend: bool = False,
) -> bytes:
    """One panel per name in `names` that `frame` has rows for (task `task`, name in
    `column`), up to three a row, titled with the name and drawn by `draw(ax, its rows,
    conditions, colours)`; `legend` puts the first panel's legend on it."""
    g = frame[(frame["task"] == task) & (frame[column].isin(names))]
    names = [n for n in names if n in set(g[column])]
    ncol = min(3, max(1, len(names)))
    nrow = int(np.ceil(len(names) / ncol)) or 1
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, height * nrow), squeeze=False)
    conds = sorted(g["condition"].unique())
    col = _colors(conds)
    for ax, name in zip(axes.ravel(), names, strict=False):
        draw(ax, g[g[column] == name], conds, col)
        ax.set_title(name, fontsize=10)
    for ax in axes.ravel()[len(names) :]:
        ax.axis("off")
    if legend and names and axes.ravel()[0].get_legend_handles_labels()[0]:
        axes.ravel()[0].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return _png(fig)


def learning_curves(curves: pd.DataFrame, task: str) -> bytes:
    """Loss and accuracy against epoch for one task: mean ± 95 % bootstrap CI over seeds per
    condition; training dashed, held-out test solid; chance accuracy dotted."""
    g = curves[curves["task"] == task]
    conds = sorted(g["condition"].unique())
    col = _colors(conds)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, kind in zip(axes, ("loss", "acc"), strict=True):
        for cond in conds:
            for split, style in (("train", "--"), ("test", "-")):
                sub = g[(g["condition"] == cond) & (g["name"] == f"{split}_{kind}")]
                if sub.empty:
                    continue
                per_epoch = sub.groupby(["seed", "epoch"], as_index=False)["value"].last()
                s = _mean_ci(per_epoch, "epoch")
                if s.empty:  # every value undefined (e.g. a metric null for all seeds)
                    continue
                ax.plot(
                    s["epoch"],
                    s["mean"],
                    style,
                    color=col[cond],
                    label=f"{cond} {split}",
                )
                ax.fill_between(s["epoch"], s["low"], s["high"], color=col[cond], alpha=0.15, lw=0)
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy" if kind == "acc" else "loss")
        ax.grid(alpha=0.3)
    chance_line(axes[1], task)
    axes[1].legend(fontsize=7, ncol=2, loc="lower right")
    fig.suptitle(
        f"Learning curves — {task} (mean ± 95 % CI over seeds; dashed: train, solid: test)"
    )
    return _png(fig)


def metric_bars(
    summary: pd.DataFrame,
    points: pd.DataFrame,
    task: str,
    metrics: list[str],
    marked: set[tuple[str, str]] | None = None,
) -> bytes:
    """One panel per metric: condition means (bars) with their 95 % bootstrap intervals, each
    seed's value as a dot, the chance level on accuracy panels, and '*' over the conditions in
    `marked` ((metric, condition) pairs, e.g. those differing from the baseline)."""
    marked = marked or set()
    jitter = np.random.default_rng(0)  # fixed: the same tables draw the same figure

    def draw(ax: Axes, rows: pd.DataFrame, conds: list[str], col: Colours) -> None:
        metric = str(rows["metric"].iloc[0])
        s = rows.set_index("condition").reindex(conds)
        x = np.arange(len(conds))
        err = np.nan_to_num(
            np.vstack([s["mean"] - s["boot_low"], s["boot_high"] - s["mean"]]).clip(min=0)
        )
        ax.bar(x, s["mean"], yerr=err, color=[col[c] for c in conds], alpha=0.6, capsize=3)
        seeds = points[(points["task"] == task) & (points["metric"] == metric)]
        for i, cond in enumerate(conds):
            v = seeds.loc[seeds["condition"] == cond, "value"].to_numpy(float)
            ax.scatter(i + jitter.uniform(-0.15, 0.15, len(v)), v, s=10, color="k", zorder=3)
            if (metric, cond) in marked:
                top = np.nanmax([*v, s["boot_high"].get(cond, np.nan), s["mean"].get(cond)])
                ax.annotate("*", (i, top), ha="center", va="bottom", fontsize=14)
        if metric in ACCURACIES:
            chance_line(ax, task)
        ax.set_xticks(x, conds, rotation=45, ha="right", fontsize=8)
        ax.set_xlabel("condition", fontsize=8)
        ax.set_ylabel(metric, fontsize=8)
        ax.grid(axis="y", alpha=0.3)

    title = f"Final metrics — {task} (mean, 95 % bootstrap CI, seeds as dots, chance dotted"
    title += "; * differs from the baseline)" if marked else ")"
    return _panel_figure(summary, task, "metric", metrics, draw, height=3.6, title=title)


def trajectories(curves: pd.DataFrame, task: str, names: list[str]) -> bytes:
    """Per-epoch topology metrics: mean ± 95 % bootstrap CI over seeds per condition."""

    def draw(ax: Axes, rows: pd.DataFrame, conds: list[str], col: Colours) -> None:
        for cond in conds:
            sub = rows[rows["condition"] == cond]
            if sub.empty:
                continue
            s = _mean_ci(sub.groupby(["seed", "epoch"], as_index=False)["value"].last(), "epoch")
            if s.empty:  # every value undefined (e.g. a metric null for all seeds)
                continue
            ax.plot(s["epoch"], s["mean"], color=col[cond], label=cond)
            ax.fill_between(s["epoch"], s["low"], s["high"], color=col[cond], alpha=0.15, lw=0)
        ax.set_xlabel("epoch")
        ax.set_ylabel(str(rows["name"].iloc[0]).removeprefix("topo_"), fontsize=8)
        ax.grid(alpha=0.3)

    title = f"Topology over training — {task} (mean ± 95 % CI over seeds)"
    return _panel_figure(curves, task, "name", names, draw, height=3.2, title=title, legend=True)


def module_order(final: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, sorted labels): neurons grouped by the CNM modules of the final matrix's
    top-10 % graph."""
    n = final.shape[0]
    adj, _ = top_fraction_graph(np.nan_to_num(np.asarray(final, float)))
    if not adj.any():
        return np.arange(n), np.zeros(n, dtype=int)
    _, labels = cnm_modularity(adj)
    order = np.argsort(labels, kind="stable")
    return order, labels[order]


def weight_heatmaps(initial: np.ndarray, final: np.ndarray, title: str) -> bytes:
    """Initial and final W side by side, both ordered by the final matrix's modules."""
    order, labels = module_order(final)
    bounds = np.flatnonzero(np.diff(labels)) + 0.5
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
    for ax, mat, label in zip(axes, (initial, final), ("initial", "final"), strict=True):
        m = np.asarray(mat, float)[np.ix_(order, order)]
        lim = float(np.nanpercentile(np.abs(m), 99)) or 1.0
        im = ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        for b in bounds:
            ax.axhline(b, color="k", lw=0.5)
            ax.axvline(b, color="k", lw=0.5)
        ax.set_title(f"{label} W (post × pre), sorted by final modules", fontsize=9)
        ax.set_xlabel("pre")
        ax.set_ylabel("post")
        fig.colorbar(im, ax=ax, shrink=0.8, label="weight")
    fig.suptitle(title)
    return _png(fig)


def neurons_in_space(positions: np.ndarray, final: np.ndarray, title: str, top: int = 200) -> bytes:
    """Soma positions (x–y and x–z projections) with the `top` strongest learned connections."""
    pos = np.asarray(positions, float)
    w = np.abs(np.asarray(final, float)).copy()
    np.fill_diagonal(w, 0.0)
    k = min(top, int((w > 0).sum()))
    flat = np.argsort(w, axis=None)[::-1][:k]
    post, pre = np.unravel_index(flat, w.shape)
    strength = w[post, pre] / (w[post, pre].max() if k else 1.0)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax, (i, j, li, lj) in zip(axes, ((0, 1, "x", "y"), (0, 2, "x", "z")), strict=True):
        for a, b, s in zip(pre, post, strength, strict=True):
            ax.plot(
                [pos[a, i], pos[b, i]],
                [pos[a, j], pos[b, j]],
                color="tab:red",
                alpha=0.15 + 0.6 * s,
                lw=0.4 + 1.2 * s,
            )
        ax.scatter(pos[:, i], pos[:, j], s=8, color="k", zorder=3)
        ax.set_xlabel(li)
        ax.set_ylabel(lj)
        ax.set_aspect("equal", adjustable="datalim")
    fig.suptitle(f"{title}: neurons and their {k} strongest learned connections")
    return _png(fig)


def variant_points(
    experiments: dict[str, pd.DataFrame], metric: str, order: list[str], title: str
) -> bytes:
    """One panel per task: each seed's value per variant (dots) with the mean and its 95 %
    bootstrap CI, several experiments side by side per variant, chance on accuracy panels.
    Frames are tidy [condition, task, seed, metric, value]; `order` fixes the variants' order
    on the x axis."""
    frames = {k: v[v["metric"] == metric] for k, v in experiments.items()}
    tasks = sorted(set().union(*(set(f["task"]) for f in frames.values())))
    present = set().union(*(set(f["condition"]) for f in frames.values()))
    conds = [c for c in order if c in present] + sorted(present - set(order))
    col = _colors(list(frames))
    width = 0.8 / max(1, len(frames))
    fig, axes = plt.subplots(
        len(tasks) or 1,
        1,
        figsize=(max(6.0, 0.75 * len(conds) + 2), 2.9 * max(1, len(tasks))),
        squeeze=False,
    )
    jitter = np.random.default_rng(0)  # fixed: the same tables draw the same figure
    for ax, task in zip(axes[:, 0], tasks, strict=False):
        for k, (label, f) in enumerate(frames.items()):
            g = f[f["task"] == task]
            s = _mean_ci(g.assign(x=g["condition"].map({c: i for i, c in enumerate(conds)})), "x")
            offset = (k - (len(frames) - 1) / 2) * width
            pts = g.dropna(subset=["value"])
            xs = pts["condition"].map({c: i for i, c in enumerate(conds)}).to_numpy(float)
            ax.scatter(
                xs + offset + jitter.uniform(-width / 6, width / 6, len(xs)),
                pts["value"],
                s=9,
                color=col[label],
                alpha=0.5,
                lw=0,
            )
            ax.errorbar(
                s["x"] + offset,
                s["mean"],
                yerr=[s["mean"] - s["low"], s["high"] - s["mean"]],
                fmt="_",
                ms=12,
                capsize=3,
                color=col[label],
                label=label,
            )
        if metric in ACCURACIES:
            chance_line(ax, task)
        ax.set_xticks(np.arange(len(conds)), conds, fontsize=8)
        ax.set_xlabel("variant", fontsize=9)
        ax.set_ylabel(metric, fontsize=9)
        ax.set_title(task, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].legend(fontsize=8, loc="best")
    fig.suptitle(title)
    fig.tight_layout()
    return _png(fig)
