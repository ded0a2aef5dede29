"""Two conditions compared run by run where their runs are matched.

Runs with the same seed share the training data, the noise and (for the same init) the
initial matrix, in one experiment and across experiments on the same dataset, so two
conditions' runs of one seed are a matched pair. Matched pairs are compared with paired tests:
the Wilcoxon signed-rank test on the per-seed differences, and McNemar's exact test (the exact
binomial test on the discordant pairs) on solved / not solved. Mann–Whitney U and Fisher's
exact test remain for runs with no seed in common. Every result names its test.

The signed-rank p-values are exact for any n, with ties and zeros: Wilcoxon's convention
drops zero differences, ties get midranks, and the null distribution of the positive rank sum
(every sign equally likely, given the ranks) is counted by dynamic programming over the
doubled, hence integer, ranks. Without ties or zeros this is scipy's exact test; with them
(accuracies 1.0 and 0.5 make many) the normal approximation scipy falls back to overstates
significance at 5 to 10 seeds."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sst

from .inference import check_alternative, mann_whitney, van_elteren
from .outcomes import solved

PAIRED = "Wilcoxon signed-rank, paired"
UNPAIRED = "Mann–Whitney U, unpaired"
MCNEMAR = "McNemar exact, paired"
FISHER = "Fisher exact, unpaired"
# Differences are rounded before ranking so that float noise (0.9 - 0.4 against 1.0 - 0.5)
# neither breaks a tie nor turns a zero difference into a sign.
DECIMALS = 9


def _ranks(d: np.ndarray) -> tuple[np.ndarray, int] | None:
    """(doubled midranks of the non-zero |d|, doubled positive rank sum); None if all zero."""
    v = np.round(np.asarray(d, float), DECIMALS)
    v = v[np.isfinite(v) & (v != 0)]
    if not len(v):
        return None
    twice = np.rint(2 * sst.rankdata(np.abs(v))).astype(np.int64)
    return twice, int(twice[v > 0].sum())


def _null(twice: np.ndarray) -> np.ndarray:
    """P(doubled positive rank sum = t), t = 0 .. sum(twice), every sign equally likely."""
    probs = np.zeros(int(twice.sum()) + 1)
    probs[0] = 1.0
    for r in twice:
        shifted = np.zeros_like(probs)
        shifted[r:] = probs[: len(probs) - r]
        probs = 0.5 * (probs + shifted)
    return probs


def _tail(probs: np.ndarray, t: int, alternative: str) -> float:
    greater, less = float(probs[t:].sum()), float(probs[: t + 1].sum())
    if alternative == "greater":
        return min(1.0, greater)
    if alternative == "less":
        return min(1.0, less)
    return min(1.0, 2 * min(greater, less))


def signed_rank(d: np.ndarray, alternative: str = "two-sided") -> tuple[float, float]:
    """(T+, p) of the exact Wilcoxon signed-rank test that the differences d are centred on
    0; 'greater': they tend to be positive. (0, 1) when every difference is zero."""
    check_alternative(alternative)
    ranked = _ranks(d)
    if ranked is None:
        return 0.0, 1.0
    twice, t = ranked
    return t / 2, _tail(_null(twice), t, alternative)


def pooled_signed_rank(
    diffs: list[np.ndarray], alternative: str = "two-sided"
) -> tuple[float, float]:
    """(sum of T+, p): the signed-rank test stratified over several sets of paired
    differences (ranked within each set; the exact null is the convolution of the sets'
    nulls). One set gives `signed_rank`."""
    check_alternative(alternative)
    probs, total = np.ones(1), 0
    for d in diffs:
        ranked = _ranks(d)
        if ranked is None:
            continue
        twice, t = ranked
        probs, total = np.convolve(probs, _null(twice)), total + t
    if len(probs) == 1:
        return 0.0, 1.0
    return total / 2, _tail(probs, total, alternative)


def mcnemar_exact(
    a: np.ndarray, b: np.ndarray, alternative: str = "two-sided"
) -> tuple[int, int, float]:
    """(pairs only a solved, pairs only b solved, p) of McNemar's exact test on paired
    booleans: the binomial test of the discordant pairs at 1/2; 'greater': a solves more."""
    check_alternative(alternative)
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    if only_a + only_b == 0:
        return only_a, only_b, 1.0
    p = float(sst.binomtest(only_a, only_a + only_b, 0.5, alternative=alternative).pvalue)
    return only_a, only_b, min(1.0, p)


def by_seed(df: pd.DataFrame, task: str, condition: str, metric: str) -> pd.Series:
    """One condition's finite values of one task and metric, indexed by seed."""
    sel = df[(df["task"] == task) & (df["condition"] == condition) & (df["metric"] == metric)]
    s = pd.Series(pd.to_numeric(sel["value"], errors="coerce").to_numpy(float), index=sel["seed"])
    return s[np.isfinite(s.to_numpy())]


@dataclass(frozen=True)
class TwoSample:
    test: str  # PAIRED or UNPAIRED
    n_a: int
    n_b: int
    n_pairs: int  # seeds both sides have (0: unpaired)
    statistic: float  # T+ (paired) or U of a (unpaired)
    p: float
    effect: float  # rank-biserial correlation (matched-pairs when paired); > 0: a larger
    diffs: np.ndarray | None  # a + shift - b per shared seed (paired), for pooled tests


def on_shared_seeds(a: pd.Series, b: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Both cut to the seeds they share, when they share any (the paired tests use only those,
    so the means, differences and solved counts shown beside a test must too); unchanged when
    they share none (then the tests are unpaired)."""
    shared = a.index.intersection(b.index)
    if not len(shared):
        return a, b
    return a.loc[shared], b.loc[shared]


def compare_by_seed(
    a: pd.Series, b: pd.Series, alternative: str = "two-sided", shift: float = 0.0
) -> TwoSample:
    """a (+ shift) against b, both indexed by seed: paired signed-rank test on the seeds both
    have, Mann–Whitney U when they share none. `shift` moves a for equivalence and
    non-inferiority margins ('greater' with shift m: a + m > b)."""
    shared = a.index.intersection(b.index)
    if len(shared):
        d = a.loc[shared].to_numpy(float) + shift - b.loc[shared].to_numpy(float)
        t, p = signed_rank(d, alternative)
        ranked = _ranks(d)
        # Matched-pairs rank-biserial (T+ - T-) / (T+ + T-); the doubled ranks cancel.
        effect = 0.0 if ranked is None else 2 * ranked[1] / ranked[0].sum() - 1
        return TwoSample(PAIRED, len(a), len(b), len(shared), t, p, float(effect), d)
    u, p = mann_whitney(a.to_numpy(float) + shift, b.to_numpy(float), alternative)
    n = len(a) * len(b)
    effect = 2 * u / n - 1 if n else float("nan")
    return TwoSample(UNPAIRED, len(a), len(b), 0, u, p, effect, None)


@dataclass(frozen=True)
class SolvedComparison:
    test: str  # MCNEMAR or FISHER
    solved_a: int
    n_a: int
    solved_b: int
    n_b: int
    p: float


def compare_solved(
    task: str, a: pd.Series, b: pd.Series, alternative: str = "two-sided"
) -> SolvedComparison | None:
    """Solved / not solved of a against b (accuracies indexed by seed): McNemar's exact test
    on the seeds both have, Fisher's exact test when they share none; None where the task has
    no solved threshold or a side is empty."""
    hits_a, hits_b = solved(task, a.to_numpy(float)), solved(task, b.to_numpy(float))
    if hits_a is None or hits_b is None or not len(a) or not len(b):
        return None
    sa, sb = pd.Series(hits_a, index=a.index), pd.Series(hits_b, index=b.index)
    shared = a.index.intersection(b.index)
    if len(shared):
        _, _, p = mcnemar_exact(sa.loc[shared].to_numpy(), sb.loc[shared].to_numpy(), alternative)
        test = MCNEMAR
    else:
        ka, kb = int(sa.sum()), int(sb.sum())
        table = [[ka, len(a) - ka], [kb, len(b) - kb]]
        p = float(sst.fisher_exact(table, alternative=alternative).pvalue)
        test = FISHER
    return SolvedComparison(test, int(sa.sum()), len(a), int(sb.sum()), len(b), min(1.0, p))


POOLED_PAIRED = "stratified Wilcoxon signed-rank, paired"
POOLED_UNPAIRED = "van Elteren stratified Mann–Whitney, unpaired"


def pooled_by_seed(
    pairs: list[tuple[pd.Series, pd.Series]], alternative: str = "two-sided"
) -> tuple[str, float, float]:
    """(test, statistic, p) of one test over several comparisons (a, b by seed) taken as
    strata: the stratified signed-rank test when every comparison is paired (T+ summed),
    else van Elteren's stratified Mann–Whitney (z). Only a secondary, direction-of-effect
    summary where the strata are different tasks: each task is its own claim."""
    pairs = [(a, b) for a, b in pairs if len(a) and len(b)]
    if pairs and all(len(a.index.intersection(b.index)) for a, b in pairs):
        diffs = [
            a.loc[s].to_numpy(float) - b.loc[s].to_numpy(float)
            for a, b in pairs
            for s in [a.index.intersection(b.index)]
        ]
        t, p = pooled_signed_rank(diffs, alternative)
        return POOLED_PAIRED, t, p
    z, p = van_elteren([(a.to_numpy(float), b.to_numpy(float)) for a, b in pairs], alternative)
    return POOLED_UNPAIRED, z, p
