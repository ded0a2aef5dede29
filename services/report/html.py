"""The self-contained HTML experiment report: the spec, the statistics tables and the figures
(PNG embedded as base64), one file that opens in any browser without network access."""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..stats import summarise
from ..stats.summary import check_tidy
from . import figures

CURVE_COLUMNS = ("condition", "task", "seed", "step", "epoch", "name", "value")
PREFERRED_BARS = (
    "test_acc", "train_acc", "entropy_kde", "modularity_cnm", "modularity_louvain",
    "small_world_sigma", "small_world_propensity", "assortativity", "global_efficiency",
    "wiring_cost", "weight_distance_spearman", "spectral_radius",
)  # fmt: skip
MAX_BARS = 9

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;\
margin:2rem auto;max-width:1200px;
padding:0 1rem;color:#222}
h1{font-size:1.6rem}h2{border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2.2rem}
table{border-collapse:collapse;font-size:.8rem;margin:.5rem 0}\
th,td{border:1px solid #ddd;padding:.2rem .45rem;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
pre{background:#f7f7f7;padding:.8rem;overflow:auto;font-size:.8rem}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #eee}\
figcaption{font-size:.85rem;color:#555}
nav a{margin-right:1rem}details{margin:.5rem 0}.note{color:#666;font-size:.85rem}
"""


def _label(key: Any) -> str:
    return " / ".join(map(str, key)) if isinstance(key, tuple) else str(key)


def _img(png: bytes, caption: str, fig_id: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="{html.escape(fig_id)}"><img alt="{html.escape(caption)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{html.escape(caption)}</figcaption></figure>'
    )


def _table(df: pd.DataFrame, caption: str, collapse_over: int = 40) -> str:
    if df.empty:
        return f'<p class="note">{html.escape(caption)}: no rows.</p>'
    body = df.to_html(
        index=False,
        escape=True,
        na_rep="—",
        float_format=lambda x: f"{x:.4g}",
        border=0,
    )
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
) -> str:
    """The report as one HTML string.

    metrics: tidy final metrics [condition, task, seed, metric, value], one row per run × metric.
    curves: [condition, task, seed, step, epoch, name, value] with names such as train_loss,
      train_acc, test_loss, test_acc and per-epoch topology metrics named topo_<metric>.
    weights: run → {"initial": W0, "final": W} (post × pre); keys are labels or tuples such as
      (condition, task, seed). At most `max_runs_shown` runs get heatmaps and space plots.
    positions: neuron positions (N × 3), one array for all runs or run → array.
    spec: the experiment spec, shown verbatim.
    factors: optional condition → {W, D, C} for the factorial ANOVA (paper names parse alone).
    """
    data = check_tidy(metrics, "metrics table")
    tables = summarise(data, factors, n_boot=n_boot, seed=seed)
    tasks = sorted(data["task"].unique())
    conditions = sorted(data["condition"].unique())
    present = list(dict.fromkeys(data["metric"]))
    bars = bar_metrics or [m for m in PREFERRED_BARS if m in present] or present
    bars = bars[:MAX_BARS]

    parts: list[str] = []
    fig_no = 0

    def figure(png: bytes, caption: str) -> None:
        nonlocal fig_no
        fig_no += 1
        parts.append(_img(png, f"Figure {fig_no}. {caption}", f"fig{fig_no}"))

    parts.append('<section id="figures"><h2>Figures</h2>')
    if curves is not None and not curves.empty:
        cv = _check_curves(curves)
        for task in tasks:
            if (cv["task"] == task).any():
                figure(figures.learning_curves(cv, task), f"Learning curves, {task}.")
    for task in tasks:
        figure(
            figures.metric_bars(tables["summary"], task, bars),
            f"Final metrics with 95 % CIs, {task}.",
        )
    if curves is not None and not curves.empty:
        topo = sorted(n for n in cv["name"].unique() if n.startswith("topo_"))
        for task in tasks:
            if topo and ((cv["task"] == task) & cv["name"].isin(topo)).any():
                figure(
                    figures.trajectories(cv, task, topo[:MAX_BARS]),
                    f"Topology metrics over epochs, {task}.",
                )
    if weights:
        for key in list(weights)[:max_runs_shown]:
            run = weights[key]
            if "initial" in run and "final" in run:
                figure(figures.weight_heatmaps(run["initial"], run["final"], _label(key)),
                       f"Recurrent weights before and after training, {_label(key)}, "
                       "sorted by module.")  # fmt: skip
            pos = positions.get(key) if isinstance(positions, Mapping) else positions
            if pos is not None and "final" in run:
                figure(figures.neurons_in_space(pos, run["final"], _label(key)),
                       "Neurons in space with their strongest learned connections, "
                       f"{_label(key)}.")  # fmt: skip
    parts.append("</section>")
    figures_html = "\n".join(parts)

    stats_html = "\n".join([
        '<section id="statistics"><h2>Statistics</h2>',
        (
            '<p class="note">Per condition: mean, sd, 95 % t interval and 95 % percentile '
            'bootstrap interval '
            f"({n_boot} resamples, seed {seed}) over seeds. Omnibus Kruskal–Wallis per task × "
            "metric; pairwise two-sided Mann–Whitney U with Holm's correction within each task × "
            "metric, rank-biserial r and Cohen's d; rank-transformed factorial ANOVA (type II) "
            "over the W/D/C factors.</p>"
        ),
        _table(tables["summary"], "Summary by condition"),
        _table(tables["kruskal"], "Kruskal–Wallis"),
        _table(tables["pairwise"], "Pairwise Mann–Whitney U (Holm)"),
        _table(tables["anova"], "Rank-based factorial ANOVA (W/D/C)"),
        "</section>",
    ])  # fmt: skip

    n_runs = data[["condition", "task", "seed"]].drop_duplicates().shape[0]
    head = (
        f"<h1>{html.escape(title)}</h1>"
        f'<p class="note">Generated {dt.datetime.now(dt.UTC).isoformat(timespec="seconds")} — '
        f"{len(conditions)} conditions, {len(tasks)} tasks, {n_runs} runs, {len(present)} "
        "metrics.</p>"
        '<nav><a href="#figures">Figures</a><a href="#statistics">Statistics</a><a '
        'href="#spec">Spec</a></nav>'
    )
    spec_html = (
        f'<section id="spec"><h2>Spec</h2><pre>{html.escape(_spec_text(spec))}</pre></section>'
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        # Figures first: they are what people open a report for; the spec is reference.
        f"{head}{figures_html}{stats_html}{spec_html}</body></html>\n"
    )


def write_report(path: str | Path, *args: Any, **kwargs: Any) -> Path:
    """Write `build_report(*args, **kwargs)` to `path` (UTF-8) and return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build_report(*args, **kwargs), encoding="utf-8")
    return out
