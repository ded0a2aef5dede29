"""Paired tests for runs matched by seed: the exact signed-rank test (ties and zeros
included), its stratified pooling, McNemar's exact test, and which test a comparison gets;
by hand and against scipy and statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from cortexrnn.services.stats import (
    MCNEMAR,
    PAIRED,
    UNPAIRED,
    compare_by_seed,
    compare_solved,
    mcnemar_exact,
    pooled_signed_rank,
    signed_rank,
)
from cortexrnn.services.stats.paired import FISHER, POOLED_PAIRED, POOLED_UNPAIRED, pooled_by_seed

ALTERNATIVES = ("two-sided", "greater", "less")


def test_signed_rank_matches_scipys_exact_test_without_ties() -> None:
    rng = np.random.default_rng(0)
    for n in range(1, 16):
        d = rng.normal(0.3, 1, n)
        for alt in ALTERNATIVES:
            ref = scipy.stats.wilcoxon(d, alternative=alt, method="exact")
            assert signed_rank(d, alt)[1] == pytest.approx(ref.pvalue, rel=1e-12)
        t_plus = scipy.stats.rankdata(np.abs(d))[d > 0].sum()
        assert signed_rank(d)[0] == pytest.approx(t_plus)


def test_signed_rank_is_exact_with_ties_and_zeros_by_hand() -> None:
    # Solved against unsolved seeds: differences 0.5, 0.5, 0.5, 0 (both solved), 0.5. The zero
    # is dropped (Wilcoxon's convention); the four tie at rank 2.5; of the 2^4 sign patterns
    # only 'all positive' reaches T+ = 10, so p = 1/16 one-sided and 1/8 two-sided.
    d = np.array([0.5, 0.5, 0.5, 0.0, 0.5])
    assert signed_rank(d, "greater") == (10.0, 1 / 16)
    assert signed_rank(d)[1] == 1 / 8
    # The normal approximation would claim far more than the data hold.
    z = (10 - 4 * 5 / 4) / np.sqrt(4 * 5 * 9 / 24 - (4**3 - 4) / 48)
    assert scipy.stats.norm.sf(z) < 0.025 < 1 / 16
    # Float noise is neither a tie-breaker nor a sign: 0.9 - 0.4 ties with 1.0 - 0.5.
    assert signed_rank(np.array([0.9 - 0.4, 1.0 - 0.5, 0.3 - 0.3]), "greater") == (3.0, 0.25)
    assert signed_rank(np.zeros(4)) == (0.0, 1.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([-0.5, -0.25, 0.0, 0.25, 0.5, 0.125]), min_size=2, max_size=9),
    st.sampled_from(ALTERNATIVES),
)
def test_signed_rank_with_ties_matches_scipys_permutation_test(
    values: list[float], alternative: str
) -> None:
    d = np.array(values)
    if not np.any(d != 0):
        assert signed_rank(d, alternative) == (0.0, 1.0)
        return
    if np.count_nonzero(d) < 2:  # scipy's permutation test needs two non-zero differences
        return
    ref = scipy.stats.wilcoxon(
        d, alternative=alternative, method=scipy.stats.PermutationMethod(n_resamples=np.inf)
    )
    assert signed_rank(d, alternative)[1] == pytest.approx(min(1.0, ref.pvalue), rel=1e-9)


def test_pooled_signed_rank_by_hand_and_reduces_to_one_stratum() -> None:
    rng = np.random.default_rng(1)
    d = rng.normal(0.2, 1, 8)
    for alt in ALTERNATIVES:
        assert pooled_signed_rank([d], alt) == pytest.approx(signed_rank(d, alt))
    # Strata [1] (T+ 0 or 1, each 1/2) and [2, -3] (ranks 1, 2: T+ 0..3, each 1/4); observed
    # T+ = 1 + 1 = 2. The convolved null: 0: 1/8, 1: 2/8, 2: 2/8, 3: 2/8, 4: 1/8, so
    # P(T+ >= 2) = 5/8 and P(T+ <= 2) = 5/8.
    assert pooled_signed_rank([np.array([1.0]), np.array([2.0, -3.0])], "greater") == (2.0, 5 / 8)
    assert pooled_signed_rank([np.array([1.0]), np.array([2.0, -3.0])], "less")[1] == 5 / 8
    assert pooled_signed_rank([np.zeros(3)]) == (0.0, 1.0)


def test_mcnemar_exact_by_hand_against_statsmodels_and_binomtest() -> None:
    from statsmodels.stats.contingency_tables import mcnemar

    # Four seeds solved only with a, one solved by both: discordant 4 vs 0.
    a = np.array([True, True, True, True, True])
    b = np.array([False, False, False, False, True])
    assert mcnemar_exact(a, b, "greater") == (4, 0, 1 / 16)
    assert mcnemar_exact(a, b) == (4, 0, 1 / 8)
    assert mcnemar_exact(a, a) == (0, 0, 1.0)
    rng = np.random.default_rng(2)
    for _ in range(30):
        x, y = rng.random(12) < 0.6, rng.random(12) < 0.4
        only_x, only_y, p = mcnemar_exact(x, y)
        table = [[int((x & y).sum()), only_x], [only_y, int((~x & ~y).sum())]]
        if only_x + only_y:
            assert p == pytest.approx(mcnemar(table, exact=True).pvalue, rel=1e-12)
            ref = scipy.stats.binomtest(only_x, only_x + only_y, alternative="greater")
            assert mcnemar_exact(x, y, "greater")[2] == pytest.approx(ref.pvalue, rel=1e-12)


def _series(values: list[float], seeds: list[int]) -> pd.Series:
    return pd.Series(values, index=seeds, dtype=float)


def test_compare_by_seed_pairs_shared_seeds_and_otherwise_uses_mann_whitney() -> None:
    a = _series([0.9, 0.8, 1.0, 0.7, 0.95], [0, 1, 2, 3, 4])
    b = _series([0.5, 0.6, 0.55, 0.9, 0.4, 0.3], [0, 1, 2, 3, 4, 5])  # seed 5 has no partner
    res = compare_by_seed(a, b, "greater")
    assert (res.test, res.n_a, res.n_b, res.n_pairs) == (PAIRED, 5, 6, 5)
    shared = b.loc[a.index]
    ref = scipy.stats.wilcoxon(a, shared, alternative="greater", method="exact")
    assert res.p == pytest.approx(ref.pvalue) and res.diffs is not None
    # The order of the rows does not matter: pairs are matched by seed.
    assert compare_by_seed(a.iloc[::-1], b, "greater").p == res.p
    # Another experiment's seeds: nothing to pair.
    other = _series(b.to_numpy(), [10, 11, 12, 13, 14, 15])
    res = compare_by_seed(a, other, "greater")
    ref = scipy.stats.mannwhitneyu(a, other, alternative="greater")
    assert (res.test, res.n_pairs, res.diffs) == (UNPAIRED, 0, None)
    assert res.p == pytest.approx(ref.pvalue) and res.statistic == ref.statistic
    # A margin shifts a: equivalence and non-inferiority tests.
    near = _series([0.52, 0.61, 0.57, 0.88, 0.41], [0, 1, 2, 3, 4])
    shifted = compare_by_seed(near, b, "greater", shift=0.05)
    d = near.to_numpy() + 0.05 - b.loc[near.index].to_numpy()
    assert shifted.p == pytest.approx(scipy.stats.wilcoxon(d, alternative="greater").pvalue)


def test_compare_solved_uses_mcnemar_when_paired_and_fisher_otherwise() -> None:
    a = _series([1.0, 1.0, 1.0, 1.0, 0.5], [0, 1, 2, 3, 4])
    b = _series([0.5, 0.5, 0.5, 0.5, 0.5], [0, 1, 2, 3, 4])
    hits = compare_solved("go_no_go", a, b, "greater")
    assert hits is not None
    assert (hits.test, hits.solved_a, hits.solved_b, hits.p) == (MCNEMAR, 4, 0, 1 / 16)
    apart = compare_solved("go_no_go", a, _series(b.to_numpy(), [5, 6, 7, 8, 9]), "greater")
    ref = scipy.stats.fisher_exact([[4, 1], [0, 5]], alternative="greater").pvalue
    assert apart is not None and apart.test == FISHER and apart.p == pytest.approx(ref)
    assert compare_solved("chess", a, b) is None


def test_pooled_by_seed_names_its_test() -> None:
    a = _series([0.9, 0.8, 1.0], [0, 1, 2])
    b = _series([0.5, 0.6, 0.4], [0, 1, 2])
    test, t, p = pooled_by_seed([(a, b), (a, b)], "greater")
    assert test == POOLED_PAIRED and (t, p) == pooled_signed_rank([a - b, a - b], "greater")
    test, _, _ = pooled_by_seed([(a, b), (a, _series(b.to_numpy(), [7, 8, 9]))], "greater")
    assert test == POOLED_UNPAIRED
