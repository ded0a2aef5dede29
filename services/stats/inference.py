"""The unpaired tests and the corrections: Holm, Mann–Whitney U, van Elteren's stratified
Mann–Whitney, Cohen's d, and the omnibus test across conditions (Friedman where the conditions
share their seeds, Kruskal–Wallis where they do not). The paired tests are in `paired.py`."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sst

from .summary import check_tidy

ALTERNATIVES = ("two-sided", "greater", "less")
FRIEDMAN = "Friedman (blocks: seeds)"
KRUSKAL = "Kruskal–Wallis"


def check_alternative(alternative: str) -> None:
    """A misspelt alternative would otherwise be read as two-sided, silently."""
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, not {alternative!r}")


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


def with_holm(
    table: pd.DataFrame, columns: tuple[str, ...] = ("p",), by: str | list[str] | None = None
) -> pd.DataFrame:
    """Holm-adjusted copies (`<col>_holm`) of p-value columns over the table's finite rows,
    separately within each group of `by` when given."""
    groups = (
        [table.index]
        if by is None or table.empty
        else [g.index for _, g in table.groupby(by, sort=False)]
    )
    for col in columns:
        out = pd.Series(np.nan, index=table.index)
        for idx in groups:
            p = table.loc[idx, col].to_numpy(float)
            ok = np.isfinite(p)
            out.loc[idx[ok]] = holm(p[ok])
        table[f"{col}_holm"] = out.to_numpy()
    return table


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        return float("nan")
    pooled = ((na - 1) * np.var(a, ddof=1) + (nb - 1) * np.var(b, ddof=1)) / (na + nb - 2)
    if pooled == 0:
        return float("nan")
    return float((np.mean(a) - np.mean(b)) / np.sqrt(pooled))


def mann_whitney(a: np.ndarray, b: np.ndarray, alternative: str) -> tuple[float, float]:
    """(U of a, p) of scipy's Mann–Whitney U; p = 1 where all values are equal (scipy gives
    NaN there), NaN where a side is empty."""
    check_alternative(alternative)
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not len(a) or not len(b):
        return float("nan"), float("nan")
    if np.ptp(np.concatenate([a, b])) == 0:
        return len(a) * len(b) / 2.0, 1.0
    res = sst.mannwhitneyu(a, b, alternative=alternative)
    return float(res.statistic), float(res.pvalue)


def van_elteren(
    strata: list[tuple[np.ndarray, np.ndarray]], alternative: str = "two-sided"
) -> tuple[float, float]:
    """(z, p) of van Elteren's stratified Mann–Whitney test that a tends to exceed b across
    strata (e.g. variants or tasks), each stratum's U weighted by 1 / (n + 1); normal
    approximation with the tie correction. One stratum gives scipy's asymptotic
    `mannwhitneyu(..., use_continuity=False)`. Strata with an empty side are skipped; (NaN,
    NaN) when none is left or the variance is zero."""
    check_alternative(alternative)
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


def omnibus(df: pd.DataFrame) -> pd.DataFrame:
    """Do the conditions differ at all? One row per task × metric: test, k conditions, N runs,
    statistic, df, p. Conditions that share every seed are matched (same data, noise and
    initial draws per seed): Friedman's test with the seeds as blocks. Otherwise, or with
    fewer than three conditions, Kruskal–Wallis. NaN where fewer than two conditions have
    data or all values are equal."""
    data = check_tidy(df)
    rows = []
    for (task, metric), g in data.groupby(["task", "metric"], sort=True):
        wide = g.pivot(index="seed", columns="condition", values="value")
        groups = [wide[c].dropna().to_numpy(float) for c in sorted(wide.columns)]
        groups = [x for x in groups if len(x)]
        k = len(groups)
        matched = k >= 3 and len(wide) >= 2 and not wide.isna().to_numpy().any()
        test = FRIEDMAN if matched else KRUSKAL
        stat, p = float("nan"), float("nan")
        if k >= 2 and np.ptp(np.concatenate(groups)) > 0:
            if not matched:
                res = sst.kruskal(*groups)
                stat, p = float(res.statistic), float(res.pvalue)
            elif np.ptp(wide.to_numpy(float), axis=1).any():
                res = sst.friedmanchisquare(*(wide[c].to_numpy(float) for c in wide.columns))
                stat, p = float(res.statistic), float(res.pvalue)
            else:  # every seed ties across the conditions: no evidence of a difference
                stat, p = 0.0, 1.0
        rows.append({"task": task, "metric": metric, "test": test, "k": k,
                     "n": int(sum(map(len, groups))), "statistic": stat, "df": k - 1,
                     "p": p})  # fmt: skip
    return pd.DataFrame(rows, columns=["task", "metric", "test", "k", "n", "statistic", "df", "p"])
