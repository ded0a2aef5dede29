"""Tests between conditions, per task × metric: Kruskal–Wallis (omnibus) and pairwise
Mann–Whitney U (two-sided) with Holm's correction within each task × metric, with effect sizes.

Effect sizes: rank-biserial r = 2 U_a / (n_a n_b) - 1 (positive when condition a tends to be
larger; U_a is scipy's statistic for a), and Cohen's d = (mean_a - mean_b) / pooled sd."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats as sst

from .summary import check_tidy


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (as statsmodels `multipletests(method='holm')`)."""
    p = np.asarray(pvalues, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return float("nan")
    pooled = ((na - 1) * np.var(a, ddof=1) + (nb - 1) * np.var(b, ddof=1)) / (na + nb - 2)
    if pooled == 0:
        return float("nan")
    return float((np.mean(a) - np.mean(b)) / np.sqrt(pooled))


def van_elteren(
    strata: list[tuple[np.ndarray, np.ndarray]], alternative: str = "two-sided"
) -> tuple[float, float]:
    """(z, p) of van Elteren's stratified Mann–Whitney test that a tends to exceed b across
    strata (e.g. variants or tasks), each stratum's U weighted by 1 / (n + 1); normal
    approximation with the tie correction. One stratum gives scipy's asymptotic
    `mannwhitneyu(..., use_continuity=False)`. Strata with an empty side are skipped; (NaN,
    NaN) when none is left or the variance is zero."""
    t = e = var = 0.0
    for a, b in strata:
        a, b = np.asarray(a, float), np.asarray(b, float)
        n1, n2 = len(a), len(b)
        if not n1 or not n2:
            continue
        n = n1 + n2
        ranks = sst.rankdata(np.concatenate([a, b]))
        u = float(ranks[:n1].sum()) - n1 * (n1 + 1) / 2.0
        _, counts = np.unique(ranks, return_counts=True)
        ties = float((counts**3 - counts).sum()) / (n * (n - 1)) if n > 1 else 0.0
        w = 1.0 / (n + 1)
        t += w * u
        e += w * n1 * n2 / 2.0
        var += w * w * n1 * n2 / 12.0 * ((n + 1) - ties)
    if var <= 0:
        return float("nan"), float("nan")
    z = (t - e) / np.sqrt(var)
    if alternative == "greater":
        p = float(sst.norm.sf(z))
    elif alternative == "less":
        p = float(sst.norm.cdf(z))
    else:
        p = float(min(1.0, 2 * sst.norm.sf(abs(z))))
    return float(z), p


def kruskal_wallis(df: pd.DataFrame) -> pd.DataFrame:
    """One row per task × metric: k conditions, N, H, df, p (NaN where fewer than two
    conditions have data or all values are equal)."""
    data = check_tidy(df)
    rows = []
    for (task, metric), g in data.groupby(["task", "metric"], sort=True):
        groups = [x["value"].to_numpy(float) for _, x in g.groupby("condition", sort=True)]
        groups = [x for x in groups if len(x)]
        h, p = float("nan"), float("nan")
        if len(groups) >= 2 and np.ptp(np.concatenate(groups)) > 0:
            h, p = (float(v) for v in sst.kruskal(*groups))
        rows.append({"task": task, "metric": metric, "k": len(groups),
                     "n": int(sum(map(len, groups))), "H": h, "df": len(groups) - 1,
                     "p": p})  # fmt: skip
    return pd.DataFrame(rows, columns=["task", "metric", "k", "n", "H", "df", "p"])


def pairwise_mannwhitney(df: pd.DataFrame) -> pd.DataFrame:
    """One row per task × metric × pair (a < b in sorted order): n_a, n_b, mean_a, mean_b, U
    (for a), p, p_holm, rank_biserial, cohens_d."""
    data = check_tidy(df)
    rows = []
    for (task, metric), g in data.groupby(["task", "metric"], sort=True):
        by = {c: x["value"].to_numpy(float) for c, x in g.groupby("condition", sort=True)}
        block = []
        for a, b in itertools.combinations(sorted(by), 2):
            xa, xb = by[a], by[b]
            u, p = float("nan"), float("nan")
            if len(xa) and len(xb):
                if np.ptp(np.concatenate([xa, xb])) > 0:
                    u, p = (float(v) for v in sst.mannwhitneyu(xa, xb, alternative="two-sided"))
                else:
                    u, p = len(xa) * len(xb) / 2.0, 1.0
            rb = 2.0 * u / (len(xa) * len(xb)) - 1.0 if len(xa) and len(xb) else float("nan")
            block.append({"task": task, "metric": metric, "a": a, "b": b,
                          "n_a": len(xa), "n_b": len(xb),
                          "mean_a": float(np.mean(xa)) if len(xa) else float("nan"),
                          "mean_b": float(np.mean(xb)) if len(xb) else float("nan"),
                          "U": u, "p": p, "rank_biserial": rb,
                          "cohens_d": cohens_d(xa, xb)})  # fmt: skip
        ps = np.array([r["p"] for r in block], dtype=float)
        ok = np.isfinite(ps)
        adj = np.full(ps.shape, np.nan)
        adj[ok] = holm(ps[ok])
        for r, q in zip(block, adj, strict=True):
            r["p_holm"] = float(q)
        rows.extend(block)
    cols = [
        "task",
        "metric",
        "a",
        "b",
        "n_a",
        "n_b",
        "mean_a",
        "mean_b",
        "U",
        "p",
        "p_holm",
        "rank_biserial",
        "cohens_d",
    ]
    return pd.DataFrame(rows, columns=cols)
