"""Rank-based factorial ANOVA over the W/D/C factors.

Method: the rank transform (Conover & Iman 1981). Within each task × metric the values of all
factor-labelled runs are replaced by their average ranks, then an ordinary least-squares model
with treatment-coded factors is fitted and each term is tested with type II sums of squares
(SS of the term given every term that does not contain it; the same numbers as statsmodels'
`anova_lm(typ=2)`). Ranks make the test robust to the skewed, bounded distributions of
accuracies and topology metrics.

Why not the aligned rank transform: ART needs a full factorial, and the paper's eleven
variants are not one (e.g. there is no W!DC or W*D). The model therefore includes a factor only
if it has at least two observed levels, and an interaction only if every combination of its
factors' levels is observed; terms that would still make the design rank-deficient are dropped
(highest order first). The `model` column records the formula actually fitted. Interactions in
a rank-transformed model are known to be less reliable than main effects: read them with care.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats as sst

from .factors import FACTORS, factor_table
from .summary import check_tidy

COLUMNS = [
    "task",
    "metric",
    "term",
    "df",
    "sum_sq",
    "F",
    "p",
    "partial_eta_sq",
    "n",
    "model",
]


def _dummies(levels: pd.Series) -> np.ndarray:
    cats = sorted(levels.unique())
    return np.column_stack([(levels == c).to_numpy(float) for c in cats[1:]])


def _rss(y: np.ndarray, x: np.ndarray) -> tuple[float, int]:
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    r = y - x @ beta
    return float(r @ r), int(np.linalg.matrix_rank(x))


def _design(
    terms: list[tuple[str, ...]], blocks: dict[tuple[str, ...], np.ndarray], n: int
) -> np.ndarray:
    cols = [np.ones((n, 1))] + [blocks[t] for t in terms]
    return np.hstack(cols)


def rank_anova(df: pd.DataFrame, factors: dict[str, dict[str, str]] | None = None) -> pd.DataFrame:
    """Tidy ANOVA table (COLUMNS), one row per task × metric × term plus a 'Residual' row.
    `factors`: optional condition → {W, D, C}; other conditions are parsed from paper-style
    names, and conditions that neither map nor parse are left out."""
    data = check_tidy(df)
    table = factor_table(sorted(data["condition"].unique()), factors)
    data = data[data["condition"].isin(table)]
    rows: list[dict[str, object]] = []
    for (task, metric), g in data.groupby(["task", "metric"], sort=True):
        rows.extend(_one(task, metric, g, table))
    return pd.DataFrame(rows, columns=COLUMNS)


def _one(
    task: str, metric: str, g: pd.DataFrame, table: dict[str, dict[str, str]]
) -> list[dict[str, object]]:
    n = len(g)
    y = sst.rankdata(g["value"].to_numpy(float))
    levels = {f: g["condition"].map(lambda c, f=f: table[c][f]) for f in FACTORS}
    present = [f for f in FACTORS if levels[f].nunique() >= 2]
    if not present or n < 3:
        return []
    combos = pd.DataFrame({f: levels[f].to_numpy() for f in present}).drop_duplicates()
    terms: list[tuple[str, ...]] = [(f,) for f in present]
    for k in range(2, len(present) + 1):
        for sub in itertools.combinations(present, k):
            expected = int(np.prod([levels[f].nunique() for f in sub]))
            if len(combos[list(sub)].drop_duplicates()) == expected:
                terms.append(sub)
    blocks: dict[tuple[str, ...], np.ndarray] = {(f,): _dummies(levels[f]) for f in present}
    for t in terms:
        if len(t) > 1:
            parts = [blocks[(f,)] for f in t]
            cols = [
                np.prod(c, axis=0)
                for c in itertools.product(*[[p[:, j] for j in range(p.shape[1])] for p in parts])
            ]
            blocks[t] = np.column_stack(cols)
    # Drop the highest-order terms until the design has full column rank.
    while True:
        x = _design(terms, blocks, n)
        if np.linalg.matrix_rank(x) == x.shape[1] or len(terms) == len(present):
            break
        terms.pop()
    rss_full, rank_full = _rss(y, x)
    df_resid = n - rank_full
    if df_resid <= 0:
        return []
    mse = rss_full / df_resid
    model = "rank(value) ~ " + " + ".join(":".join(t) for t in terms)
    out = []
    for t in terms:
        others = [u for u in terms if u != t and not set(t) <= set(u)]
        rss_without, rank_without = _rss(y, _design(others, blocks, n))
        rss_with, rank_with = _rss(y, _design([*others, t], blocks, n))
        ss = rss_without - rss_with
        dof = rank_with - rank_without
        f = (ss / dof) / mse if dof > 0 and mse > 0 else float("nan")
        p = float(sst.f.sf(f, dof, df_resid)) if np.isfinite(f) else float("nan")
        out.append({"task": task, "metric": metric, "term": ":".join(t), "df": dof,
                    "sum_sq": ss, "F": f, "p": p,
                    "partial_eta_sq": ss / (ss + rss_full) if ss + rss_full > 0 else float("nan"),
                    "n": n, "model": model})  # fmt: skip
    out.append({"task": task, "metric": metric, "term": "Residual", "df": df_resid,
                "sum_sq": rss_full, "F": float("nan"), "p": float("nan"),
                "partial_eta_sq": float("nan"), "n": n, "model": model})  # fmt: skip
    return out
