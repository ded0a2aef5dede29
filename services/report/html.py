"""The self-contained HTML experiment report: a verdict per task at the top, the figures, the
statistics tables (significant rows marked) and the spec; PNGs embedded as base64, one file
that opens in any browser without network access."""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..stats import summarise
from ..stats.inference import with_holm
from ..stats.outcomes import (
    DIVERGED_METRIC,
    SOLVED_DEFINITION,
    SOLVED_METRIC,
    definitions,
    without_markers,
)
from ..stats.paired import by_seed, compare_by_seed, compare_solved
from ..stats.summary import check_tidy
from ..training.evaluation import EXTRA_METRICS
from . import figures, sweep_figures
from .learning_speed import STEPS_METRIC, learning_speed

CURVE_COLUMNS = ("condition", "task", "seed", "step", "epoch", "name", "value")
PREFERRED_BARS = (
    "test_acc", *EXTRA_METRICS, "train_acc", "entropy_kde", "modularity_cnm", "modularity_louvain",
    "small_world_sigma", "small_world_sigma_released", "small_world_propensity", "assortativity",
    "global_efficiency", "wiring_cost", "weight_distance_spearman", "spectral_radius",
)  # fmt: skip
MAX_BARS = 9
ALPHA = 0.05
BASELINES = ("W", "baseline")  # the paper's baseline variant, then the spec's default name
# A final matrix this small has no structure left to measure: its graph metrics are noise.
COLLAPSED_MAX_ABS = 1e-3

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;\
margin:2rem auto;max-width:1200px;
padding:0 1rem;color:#222}
h1{font-size:1.6rem}h2{border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2.2rem}
table{border-collapse:collapse;font-size:.8rem;margin:.5rem 0}\
th,td{border:1px solid #ddd;padding:.2rem .45rem;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
tr.sig td{background:#fff4d6;font-weight:600}
pre{background:#f7f7f7;padding:.8rem;overflow:auto;font-size:.8rem}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #eee}\
figcaption{font-size:.85rem;color:#555}
nav a{margin-right:1rem}details{margin:.5rem 0}.note{color:#666;font-size:.85rem}
.warn{background:#fdecea;border-left:4px solid #c62828;padding:.4rem .8rem}
"""


def _label(key: Any) -> str:
    return " / ".join(map(str, key)) if isinstance(key, tuple) else str(key)


def _img(png: bytes, caption: str, fig_id: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="{html.escape(fig_id)}"><img alt="{html.escape(caption)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{html.escape(caption)}</figcaption></figure>'
    )


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    if isinstance(value, float | np.floating):
        return f"{value:.4g}"
    return html.escape(str(value))


def _table(
    df: pd.DataFrame, caption: str, collapse_over: int = 40, marked: pd.Series | None = None
) -> str:
    """`df` as an HTML table; rows where `marked` is true get class 'sig' and a '*' in a first
    column (so the mark survives copying the text)."""
    if df.empty:
        return f'<p class="note">{html.escape(caption)}: no rows.</p>'
    flags = [False] * len(df) if marked is None else [bool(x) for x in marked]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for flag, values in zip(flags, df.itertuples(index=False), strict=True):
        cells = "".join(f"<td>{_cell(v)}</td>" for v in values)
        mark = "<td>*</td>" if flag else "<td></td>"
        rows.append(
            f"<tr{' class=sig' if flag else ''}>{mark if marked is not None else ''}{cells}</tr>"
        )
    mark_head = f"<th>p &lt; {ALPHA}</th>" if marked is not None else ""
    body = f"<table><thead><tr>{mark_head}{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    if len(df) > collapse_over:
        return (
            f"<details><summary>{html.escape(caption)} ({len(df)} rows)</summary>{body}</details>"
        )
    return f"<h3>{html.escape(caption)}</h3>{body}"


def _check_curves(curves: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in CURVE_COLUMNS if c not in curves.columns]
    if missing:
        raise ValueError(f"curves table lacks column(s) {missing}; expected {list(CURVE_COLUMNS)}")
    out = curves.copy()
    out["value"] = pd.to_numeric(out["value"], errors="coerce")
    for c in ("condition", "task", "name"):
        out[c] = out[c].astype(str)
    return out


def _spec_text(spec: Mapping[str, Any] | None) -> str:
    if spec is None:
        return "(no spec given)"
    return json.dumps(spec, indent=2, sort_keys=False, default=str)


def pick_baseline(conditions: list[str], baseline: str | None = None) -> str | None:
    """The condition the others are judged against: `baseline` when given (it must exist),
    else the first of BASELINES present; None when there is none (no verdict table)."""
    if baseline is not None:
        if baseline not in conditions:
            raise ValueError(f"baseline {baseline!r} is not a condition; conditions: {conditions}")
        return baseline
    return next((c for c in BASELINES if c in conditions), None)


def against_baseline(data: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Per task and condition: does it beat the baseline on held-out accuracy? One-sided
    (condition > baseline), paired by seed where the runs share seeds, and the solved counts
    with McNemar's exact one-sided p; Holm over the conditions within each task."""
    rows = []
    acc = data[data["metric"] == SOLVED_METRIC]
    for task in sorted(acc["task"].unique()):
        base = by_seed(acc, task, baseline, SOLVED_METRIC)
        for cond in sorted(set(acc.loc[acc["task"] == task, "condition"]) - {baseline}):
            x = by_seed(acc, task, cond, SOLVED_METRIC)
            res = compare_by_seed(x, base, "greater")
            hits = compare_solved(task, x, base, "greater")
            rows.append({"task": task, "condition": cond, "test": res.test,
                         "n_pairs": res.n_pairs, "mean": float(x.mean()),
                         "baseline mean": float(base.mean()) if len(base) else float("nan"),
                         "solved": f"{hits.solved_a}/{hits.n_a}" if hits else None,
                         "baseline solved": f"{hits.solved_b}/{hits.n_b}" if hits else None,
                         "p": res.p, "p_solved": hits.p if hits else float("nan")})  # fmt: skip
    columns = ["task", "condition", "test", "n_pairs", "mean", "baseline mean", "solved",
               "baseline solved", "p", "p_solved"]  # fmt: skip
    return with_holm(pd.DataFrame(rows, columns=columns), ("p", "p_solved"), by="task")


def verdict_html(table: pd.DataFrame, baseline: str) -> str:
    """The short table at the top: per task, which conditions beat the baseline."""
    if table.empty:
        return (
            f'<p class="note">No verdict: no held-out accuracy ({SOLVED_METRIC}) of the baseline '
            f"{html.escape(baseline)} and another condition on one task.</p>"
        )

    def solved_or_mean(solved: Any, mean: float) -> str:
        return solved if isinstance(solved, str) else f"mean {mean:.3f}"

    def who(rows: pd.DataFrame) -> str:
        named = [
            f"{html.escape(r.condition)} ({solved_or_mean(r.solved, r.mean)}"
            + (f", p = {r.p_holm:.2g}" if r.p_holm < ALPHA else "")
            + ")"
            for r in rows.itertuples()
        ]
        return ", ".join(named) or "none"

    lines = []
    for task, rows in table.groupby("task", sort=True):
        base = rows.iloc[0]
        beat = rows["p_holm"] < ALPHA
        base_text = solved_or_mean(base["baseline solved"], base["baseline mean"])
        lines.append(
            f"<tr><td>{html.escape(str(task))}</td><td>{html.escape(baseline)} ({base_text})</td>"
            f"<td>{who(rows[beat])}</td><td>{who(rows[~beat])}</td></tr>"
        )
    return (
        "<table><thead><tr><th>task</th><th>baseline (solved)</th><th>beat the baseline "
        f"(solved, Holm p)</th><th>not shown better (solved)</th></tr></thead><tbody>"
        f"{''.join(lines)}</tbody></table>"
        '<p class="note">Held-out accuracy, one-sided (condition &gt; baseline): the Wilcoxon '
        "signed-rank test on per-seed differences where the runs share seeds, Mann–Whitney U "
        f"where they do not; Holm over the conditions of each task, p &lt; {ALPHA}. Solved: "
        f"{html.escape(SOLVED_DEFINITION)} (thresholds in the statistics section).</p>"
    )


def collapsed_runs(weights: Mapping[Any, Mapping[str, np.ndarray]] | None) -> dict[Any, float]:
    """Runs whose final weights collapsed (max |W| < COLLAPSED_MAX_ABS) → their max |W|."""
    out: dict[Any, float] = {}
    for key, run in (weights or {}).items():
        final = run.get("final")
        if final is None:
            continue
        top = float(np.nanmax(np.abs(np.asarray(final, float)))) if np.size(final) else 0.0
        if not np.isfinite(top) or top < COLLAPSED_MAX_ABS:
            out[key] = top
    return out


def build_report(
    metrics: pd.DataFrame,
    curves: pd.DataFrame | None = None,
    weights: Mapping[Any, Mapping[str, np.ndarray]] | None = None,
    positions: np.ndarray | Mapping[Any, np.ndarray] | None = None,
    spec: Mapping[str, Any] | None = None,
    *,
    title: str = "CortexRNN experiment report",
    factors: dict[str, dict[str, str]] | None = None,
    bar_metrics: list[str] | None = None,
    n_boot: int = 10_000,
    seed: int = 0,
    max_runs_shown: int = 6,
    all_runs: bool = False,
    baseline: str | None = None,
    sweep: pd.DataFrame | None = None,
) -> str:
    """The report as one HTML string.

    metrics: tidy final metrics [condition, task, seed, metric, value], one row per run × metric.
    curves: [condition, task, seed, step, epoch, name, value] with names such as train_loss,
      train_acc, test_loss, test_acc and per-epoch topology metrics named topo_<metric>.
    weights: run → {"initial": W0, "final": W} (post × pre); keys are labels or tuples such as
      (condition, task, seed). The first `max_runs_shown` runs get heatmaps and space plots;
      with `all_runs`, every other run's heatmap follows in a collapsed section.
    positions: neuron positions (N × 3), one array for all runs or run → array.
    spec: the experiment spec, shown verbatim.
    factors: optional condition → {W, D, C} for the factorial ANOVA (paper names parse alone).
    baseline: the condition the verdict compares the others with (default: W, else baseline).
    sweep: `metrics` with a sweep's `family` and swept-field columns: metric-vs-field curves.
    """
    data = check_tidy(metrics, "metrics table")
    diverged = data[data["metric"] == DIVERGED_METRIC]
    data = without_markers(data)
    tables = summarise(data, factors, n_boot=n_boot, seed=seed)
    tasks = sorted(data["task"].unique())
    conditions = sorted(data["condition"].unique())
    present = list(dict.fromkeys(data["metric"]))
    bars = bar_metrics or [m for m in PREFERRED_BARS if m in present] or present
    bars = bars[:MAX_BARS]
    base = pick_baseline(conditions, baseline)
    pairwise = tables["pairwise"]
    marked: set[tuple[str, str]] = set()
    if base is not None:
        sig = pairwise[
            (pairwise["p_holm"] < ALPHA) & ((pairwise["a"] == base) | (pairwise["b"] == base))
        ]
        marked = {(r.metric, r.b if r.a == base else r.a) for r in sig.itertuples()}
    collapsed = collapsed_runs(weights)

    parts: list[str] = []
    fig_no = 0

    def figure(png: bytes, caption: str, into: list[str] = parts) -> None:
        nonlocal fig_no
        fig_no += 1
        into.append(_img(png, f"Figure {fig_no}. {caption}", f"fig{fig_no}"))

    parts.append('<section id="figures"><h2>Figures</h2>')
    if curves is not None and not curves.empty:
        cv = _check_curves(curves)
        for task in tasks:
            if (cv["task"] == task).any():
                figure(figures.learning_curves(cv, task), f"Learning curves, {task}.")
    for task in tasks if STEPS_METRIC in present else []:
        caption = "seeds at the criterion by optimiser step, 95 % Clopper–Pearson band"
        figure(learning_speed(data, task), f"Learning speed, {task}: {caption}.")
    for task in tasks:
        figure(
            figures.metric_bars(tables["summary"], data, task, bars, marked),
            f"Final metrics with 95 % bootstrap CIs and each seed, {task}"
            + (f"; * differs from {base} (two-sided, Holm p < {ALPHA})." if base else "."),
        )  # fmt: skip
        png = sweep_figures.sweep_curves(sweep, task, bars) if sweep is not None else None
        if png is not None:
            figure(
                png,
                f"Metrics against the swept fields, {task}: one line per condition "
                "family, mean over seeds (and any other swept field), 95 % bootstrap band.",
            )
    if curves is not None and not curves.empty:
        topo = sorted(n for n in cv["name"].unique() if n.startswith("topo_"))
        for task in tasks:
            if topo and ((cv["task"] == task) & cv["name"].isin(topo)).any():
                figure(
                    figures.trajectories(cv, task, topo[:MAX_BARS]),
                    f"Topology metrics over epochs, {task}.",
                )
    parts += _weights_html(weights, positions, collapsed, max_runs_shown, all_runs, figure)
    parts.append("</section>")
    figures_html = "\n".join(parts)

    stats_html = "\n".join([
        '<section id="statistics"><h2>Statistics</h2>',
        (
            '<p class="note">Per condition: mean, sd and 95 % percentile-bootstrap interval '
            f"({n_boot} resamples, seed {seed}) over seeds; the fraction of seeds that solved "
            "the task with its exact (Clopper–Pearson) interval. Conditions whose runs share "
            "seeds are paired (same data, noise and initial draws): Wilcoxon signed-rank on the "
            "per-seed differences and McNemar's exact test on solved; Mann–Whitney U and "
            "Fisher's exact test only where they share no seed (column 'test'). Omnibus: "
            "Friedman with seeds as blocks, else Kruskal–Wallis. Holm's correction within each "
            "task × metric; rank-transformed factorial ANOVA (type II) over the W/D/C factors. "
            f"Marked rows: p &lt; {ALPHA} (Holm where given).</p>"
        ),
        _table(definitions(), f"Solved: {SOLVED_DEFINITION}"),
        _table(tables["summary"], "Summary by condition"),
        _table(tables["solved"], "Seeds that solved the task"),
        _table(tables["omnibus"], "Omnibus test per task × metric",
               marked=tables["omnibus"]["p"] < ALPHA),
        _table(pairwise, "Pairwise tests (paired where runs share seeds; Holm)",
               marked=pairwise["p_holm"] < ALPHA),
        _table(tables["anova"], "Rank-based factorial ANOVA (W/D/C)",
               marked=tables["anova"]["p"] < ALPHA),
        "</section>",
    ])  # fmt: skip

    n_runs = data[["condition", "task", "seed"]].drop_duplicates().shape[0]
    verdict = (
        f'<section id="verdict"><h2>Verdict: which conditions beat {html.escape(base)}</h2>'
        f"{verdict_html(against_baseline(data, base), base)}</section>"
        if base is not None
        else '<p class="note">No verdict table: no baseline condition (W or baseline); '
        "build_report(..., baseline=NAME) names one.</p>"
    )
    warning = (
        '<p class="warn">Collapsed networks (final max |W| &lt; '
        f"{COLLAPSED_MAX_ABS:g}: their graph metrics describe noise): "
        + ", ".join(f"{html.escape(_label(k))} (max |W| = {v:.2g})" for k, v in collapsed.items())
        + "</p>"
        if collapsed
        else ""
    )
    if len(diverged):
        warning += (
            '<p class="warn">Diverged runs (the loss became NaN or infinite; each counts as not '
            "solved, at its task's floor accuracy, in the verdict and the tables): "
            + "; ".join(
                f"{html.escape(str(c))} on {html.escape(str(t))}: seeds "
                + ", ".join(str(x) for x in sorted(g["seed"]))
                for (c, t), g in diverged.groupby(["condition", "task"], sort=True)
            )
            + "</p>"
        )
    head = (
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="note">Generated {dt.datetime.now(dt.UTC).isoformat(timespec="seconds")} — '
        f"{len(conditions)} conditions, {len(tasks)} tasks, {n_runs} runs, {len(present)} "
        "metrics.</p>"
        '<nav><a href="#verdict">Verdict</a><a href="#figures">Figures</a>'
        '<a href="#statistics">Statistics</a><a href="#spec">Spec</a></nav>'
    )
    spec_html = (
        f'<section id="spec"><h2>Spec</h2><pre>{html.escape(_spec_text(spec))}</pre></section>'
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        # The verdict, then figures: what people open a report for; the spec is reference.
        f"{head}{warning}{verdict}{figures_html}{stats_html}{spec_html}</body></html>\n"
    )


def _weights_html(
    weights: Mapping[Any, Mapping[str, np.ndarray]] | None,
    positions: np.ndarray | Mapping[Any, np.ndarray] | None,
    collapsed: dict[Any, float],
    shown: int,
    all_runs: bool,
    figure: Callable[[bytes, str, list[str]], None],
) -> list[str]:
    """Heatmaps (and space plots) of the first `shown` runs; with `all_runs`, the heatmaps of
    every other run in a collapsed section, else a note of how many there are."""
    if not weights:
        return []
    out: list[str] = []
    keys = list(weights)
    for i, key in enumerate(keys if all_runs else keys[:shown]):
        run = weights[key]
        block: list[str] = []
        if "initial" in run and "final" in run:
            note = (
                f" — final weights collapsed (max |W| = {collapsed[key]:.2g})"
                if key in collapsed
                else ""
            )
            figure(figures.weight_heatmaps(run["initial"], run["final"], _label(key) + note),
                   f"Recurrent weights before and after training, {_label(key)}, "
                   f"sorted by module{note}.", block)  # fmt: skip
        if i >= shown:
            out.append(
                f"<details><summary>Weights of {html.escape(_label(key))}</summary>"
                f"{''.join(block)}</details>"
            )
            continue
        pos = positions.get(key) if isinstance(positions, Mapping) else positions
        if pos is not None and "final" in run:
            figure(figures.neurons_in_space(pos, run["final"], _label(key)),
                   "Neurons in space with their strongest learned connections, "
                   f"{_label(key)}.", block)  # fmt: skip
        out += block
    if not all_runs and len(keys) > shown:
        out.append(
            f'<p class="note">{len(keys) - shown} more runs have weights; their heatmaps are in '
            "the report built with all_runs=True.</p>"
        )
    return out


def write_report(path: str | Path, *args: Any, **kwargs: Any) -> Path:
    """Write `build_report(*args, **kwargs)` to `path` (UTF-8) and return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report(*args, **kwargs), encoding="utf-8")
    return out
