"""Equivalence of matched runs within a margin: the paired TOST (two one-sided t-tests).

Used where "no difference" is the claim, e.g. a network trained in bf16-mixed against the same
network (same condition, task and seed: same data, noise and initial matrix) in fp32. A
non-significant difference test says nothing about that; TOST does. With per-seed differences
d = a - b and margin m, it rejects both H0: mean(d) <= -m (t against -m, 'greater') and
H0: mean(d) >= +m (t against +m, 'less'), each at alpha; equivalently, the 1 - 2 alpha
(90 %) t interval of the mean difference lies inside (-m, m). Equivalent when both one-sided
p-values are below alpha; otherwise equivalence is *not shown* (which is not a difference shown).

Degenerate cases, decided rather than left to 0/0:
- no spread (every difference the same value c, e.g. all zero when both precisions give the
  same accuracies): the t statistics are infinite, so each one-sided p is 0 where c is strictly
  inside that side's margin and 1 otherwise; all zero is equivalent at any margin > 0.
- fewer than two pairs: no spread can be estimated; p-values NaN, not shown.

This is the t-based test `statsmodels.stats.weightstats.ttost_paired` computes (tests check
them against each other). Differences are rounded to `paired.DECIMALS` first, as in the
signed-rank tests, so that float noise in equal accuracies is not taken for spread."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sst

from .paired import DECIMALS, by_seed
from .summary import check_tidy

TOST = "paired TOST (two one-sided t-tests)"
ALPHA = 0.05
EQUIVALENT = "equivalent"
NOT_SHOWN = "not shown"
TOST_COLUMNS = [
    "task", "condition", "metric", "margin", "n_pairs", "only_a", "only_b", "mean_a", "mean_b",
    "mean_diff", "ci_low", "ci_high", "p_lower", "p_upper", "p", "verdict",
]  # fmt: skip


@dataclass(frozen=True)
class Tost:
    n: int  # pairs
    mean_diff: float  # mean of a - b (NaN without pairs)
    ci_low: float  # the 1 - 2 alpha t interval of the mean difference (NaN below 2 pairs)
    ci_high: float
    p_lower: float  # H0: mean difference <= -margin
    p_upper: float  # H0: mean difference >= +margin
    margin: float
    alpha: float

    @property
    def p(self) -> float:
        """The TOST p-value: the larger one-sided p."""
        return max(self.p_lower, self.p_upper) if self.n >= 2 else float("nan")

    @property
    def equivalent(self) -> bool:
        return self.n >= 2 and self.p < self.alpha

    @property
    def verdict(self) -> str:
        return EQUIVALENT if self.equivalent else NOT_SHOWN


def paired_tost(d: np.ndarray, margin: float, alpha: float = ALPHA) -> Tost:
    """TOST of the paired differences d (a - b, one per matched pair; non-finite ones
    dropped) against the symmetric margin (-margin, +margin)."""
    if not margin > 0:
        raise ValueError(f"margin must be positive, got {margin!r}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must lie in (0, 0.5), got {alpha!r}")
    v = np.round(np.asarray(d, float), DECIMALS)
    v = v[np.isfinite(v)]
    n = len(v)
    nan = float("nan")
    if n < 2:
        mean = float(v[0]) if n else nan
        return Tost(n, mean, nan, nan, nan, nan, margin, alpha)
    mean = float(v.mean())
    se = float(v.std(ddof=1)) / math.sqrt(n)
    if se == 0.0:
        # Every difference equals the mean: the limits of the t tests as the spread goes to 0.
        p_lower = 0.0 if mean > -margin else 1.0
        p_upper = 0.0 if mean < margin else 1.0
        return Tost(n, mean, mean, mean, p_lower, p_upper, margin, alpha)
    df = n - 1
    p_lower = float(sst.t.sf((mean + margin) / se, df))
    p_upper = float(sst.t.cdf((mean - margin) / se, df))
    half = float(sst.t.ppf(1 - alpha, df)) * se
    return Tost(n, mean, mean - half, mean + half, p_lower, p_upper, margin, alpha)


def tost_by_seed(a: pd.Series, b: pd.Series, margin: float, alpha: float = ALPHA) -> Tost:
    """TOST of a - b over the seeds both have (a and b indexed by seed)."""
    shared = a.index.intersection(b.index)
    d = a.loc[shared].to_numpy(float) - b.loc[shared].to_numpy(float)
    return paired_tost(d, margin, alpha)


def tost_table(
    a: pd.DataFrame, b: pd.DataFrame, margins: dict[str, float], alpha: float = ALPHA
) -> pd.DataFrame:
    """Per task x condition x metric (metrics as in `margins`, in that order): the paired TOST
    of a - b, two tidy tables [condition, task, seed, metric, value] of the same grid (e.g.
    bf16-mixed and fp32). Rows follow TOST_COLUMNS; mean_a / mean_b are over the pairs;
    only_a / only_b count the seeds run on one side only (failed or diverged on the other),
    which are not in the test. A (task, condition)
    that either side has gets a row for every metric, with 0 pairs where the metric is missing."""
    da, db = check_tidy(a, "first table"), check_tidy(b, "second table")
    cells = pd.concat([da[["task", "condition"]], db[["task", "condition"]]]).drop_duplicates()
    rows = []
    for task, cond in cells.itertuples(index=False):
        for metric, margin in margins.items():
            sa, sb = by_seed(da, task, cond, metric), by_seed(db, task, cond, metric)
            t = tost_by_seed(sa, sb, margin, alpha)
            shared = sa.index.intersection(sb.index)
            rows.append({
                "task": task, "condition": cond, "metric": metric, "margin": margin,
                "n_pairs": t.n, "only_a": len(sa) - len(shared), "only_b": len(sb) - len(shared),
                "mean_a": float(sa.loc[shared].mean()) if t.n else float("nan"),
                "mean_b": float(sb.loc[shared].mean()) if t.n else float("nan"),
                "mean_diff": t.mean_diff, "ci_low": t.ci_low, "ci_high": t.ci_high,
                "p_lower": t.p_lower, "p_upper": t.p_upper, "p": t.p, "verdict": t.verdict,
            })  # fmt: skip
    return pd.DataFrame(rows, columns=TOST_COLUMNS)
