"""Contracts of the paired, equivalence and solved-fraction statistics that the by-hand tests
elsewhere leave open (found by mutation testing, docs/testing.md): tails at neighbouring
rank sums, p-values at many seeds, default alternatives, seeds in any order, empty sides,
values stored as objects, and every column of the tables; by hand and against scipy and
statsmodels."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from statsmodels.stats.weightstats import ttost_paired

from cortexrnn.services.stats import (
    MCNEMAR,
    PAIRED,
    UNPAIRED,
    by_seed,
    chance,
    compare_by_seed,
    compare_solved,
    mann_whitney,
    mcnemar_exact,
    paired_tost,
    pooled_signed_rank,
    signed_rank,
    solved,
    solved_table,
    solved_text,
    tost_by_seed,
    tost_table,
    van_elteren,
)
from cortexrnn.services.stats.equivalence import EQUIVALENT, NOT_SHOWN, TOST_COLUMNS
from cortexrnn.services.stats.outcomes import SOLVED_COLUMNS, definitions
from cortexrnn.services.stats.paired import FISHER, POOLED_PAIRED, POOLED_UNPAIRED, pooled_by_seed

ALTERNATIVES = ("two-sided", "greater", "less")


def _series(values: list[float | None], seeds: list[int], dtype: object = float) -> pd.Series:
    return pd.Series(values, index=seeds, dtype=dtype)


# --- paired.py: the exact signed-rank test -------------------------------------------------


def test_signed_rank_tails_where_rank_sums_are_neighbours() -> None:
    # |d| = 1, 2, 2, 3 rank 1, 2.5, 2.5, 4; doubled 2, 5, 5, 8. The 16 sign patterns give the
    # doubled T+ 0, 2, 5, 5, 7, 7, 8, 10, 10, 12, 13, 13, 15, 15, 18, 20. Observed: 1 and 2
    # positive, 2 + 5 = 7 (T+ = 3.5), next to the 8 of rank 4 alone.
    d = np.array([1.0, 2.0, -2.0, -3.0])
    assert signed_rank(d, "less") == (3.5, 6 / 16)  # 0, 2, 5, 5, 7, 7
    assert signed_rank(d, "greater") == (3.5, 12 / 16)
    assert signed_rank(d) == (3.5, 2 * 6 / 16)
    # T+ = 5 is the null's centre: P(T+ >= 5) = P(T+ <= 5) = 9/16, and twice that is
    # capped at 1.
    centre = np.array([1.0, -2.0, -3.0, 4.0])
    assert signed_rank(centre, "greater") == signed_rank(centre, "less") == (5.0, 9 / 16)
    assert signed_rank(centre) == (5.0, 1.0)
    for alt in ALTERNATIVES:
        ref = scipy.stats.wilcoxon(
            d, alternative=alt, method=scipy.stats.PermutationMethod(n_resamples=np.inf)
        )
        assert signed_rank(d, alt)[1] == pytest.approx(ref.pvalue, rel=1e-12)


def test_p_values_never_exceed_one_at_many_seeds() -> None:
    # At 80 pairs the null's probabilities no longer sum to exactly 1 in floating point; a
    # p-value of every outcome at least as extreme is still 1, not 1 + 2e-16.
    d = np.arange(1.0, 81.0)
    assert signed_rank(d, "less") == (80 * 81 / 2, 1.0)
    assert signed_rank(-d, "greater") == (0.0, 1.0)
    assert pooled_signed_rank([d], "less")[1] == 1.0
    p = pooled_signed_rank([-d, -d], "greater")[1]
    assert p == pytest.approx(1.0) and p <= 1.0


def test_pooled_signed_rank_skips_a_stratum_without_non_zero_differences() -> None:
    d = np.array([0.3, -0.1, 0.25, 0.4, 0.05])
    for alt in ALTERNATIVES:
        assert pooled_signed_rank([np.zeros(4), d], alt) == signed_rank(d, alt)
        assert pooled_signed_rank([d, np.zeros(4)], alt) == signed_rank(d, alt)


def test_mcnemar_exact_takes_solved_flags_read_as_floats() -> None:
    # A `solved` column read back from CSV holds 0.0 / 1.0: the same pairs as the booleans.
    a = np.array([1.0, 1.0, 1.0, 1.0, 0.0, 1.0])
    b = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    # Discordant 3 (a only) against 1 (b only): P(X >= 3 | 4, 1/2) = 5/16.
    assert mcnemar_exact(a, b, "greater") == (3, 1, 5 / 16)
    assert mcnemar_exact(a, b) == mcnemar_exact(a.astype(bool), b.astype(bool))
    assert mcnemar_exact(b, a, "less") == (1, 3, 5 / 16)


# --- values stored as objects (a JSON column with nulls: None, not NaN) ---------------------


def test_object_arrays_are_taken_as_floats() -> None:
    d = [0.3, -0.1, 0.25, 0.4, 0.05]
    as_objects = np.array(d, dtype=object)
    for alt in ALTERNATIVES:
        assert signed_rank(as_objects, alt) == signed_rank(np.array(d), alt)
    assert paired_tost(as_objects, 0.5) == paired_tost(np.array(d), 0.5)
    hits = solved("go_no_go", np.array([0.9, 0.5, 1.0], dtype=object))
    assert hits is not None and hits.tolist() == [True, False, True]


def test_missing_values_stored_as_objects_are_dropped_from_the_pairs() -> None:
    a = _series([0.9, 0.8, None, 0.7, 0.95, 0.85], [0, 1, 2, 3, 4, 5], dtype=object)
    b = _series([0.5, 0.6, 0.55, 0.9, 0.4, 0.3], [0, 1, 2, 3, 4, 5], dtype=object)
    # Seed 2 has no value on a's side: five pairs.
    d = np.array([0.9, 0.8, 0.7, 0.95, 0.85]) - np.array([0.5, 0.6, 0.9, 0.4, 0.3])
    res = compare_by_seed(a, b, "greater")
    ref = scipy.stats.wilcoxon(d, alternative="greater", method="exact")
    assert res.test == PAIRED and res.p == pytest.approx(ref.pvalue, rel=1e-12)
    assert res.statistic == ref.statistic
    res = compare_by_seed(b, a, "less")  # the missing value on b's side of the difference
    assert res.p == pytest.approx(ref.pvalue, rel=1e-12)
    tost = tost_by_seed(a, b, margin=0.5)
    assert tost.n == 5 and tost.mean_diff == pytest.approx(d.mean())
    assert tost_by_seed(b, a, margin=0.5).mean_diff == pytest.approx(-d.mean())
    test, t, p = pooled_by_seed([(a, b)], "greater")
    assert (test, t, p) == (POOLED_PAIRED, ref.statistic, pytest.approx(ref.pvalue, rel=1e-12))
    test, t, p = pooled_by_seed([(b, a)], "less")
    assert p == pytest.approx(ref.pvalue, rel=1e-12)


def test_by_seed_reads_numbers_stored_as_text_and_returns_floats() -> None:
    df = pd.DataFrame({
        "condition": "W", "task": "go_no_go", "metric": ["test_acc"] * 3 + ["n_modules"] * 3,
        "seed": [0, 1, 2, 0, 1, 2], "value": ["0.5", "diverged", 0.75, 3, 4, 2],
    })  # fmt: skip
    acc = by_seed(df, "go_no_go", "W", "test_acc")
    assert acc.to_dict() == {0: 0.5, 2: 0.75}  # a diverged run has no accuracy
    counts = by_seed(df, "go_no_go", "W", "n_modules")
    assert counts.dtype == np.float64 and counts.tolist() == [3.0, 4.0, 2.0]


# --- paired.py: which test a comparison gets ------------------------------------------------


def test_compare_by_seed_with_no_difference_and_with_an_empty_side() -> None:
    a = _series([0.9, 0.8, 1.0], [0, 1, 2])
    same = compare_by_seed(a, a.copy())
    assert (same.test, same.n_pairs, same.statistic, same.p, same.effect) == (
        PAIRED, 3, 0.0, 1.0, 0.0,
    )  # fmt: skip
    empty = compare_by_seed(_series([], []), a)
    assert (empty.test, empty.n_a, empty.n_b, empty.n_pairs) == (UNPAIRED, 0, 3, 0)
    assert math.isnan(empty.p) and math.isnan(empty.effect)


def test_compare_by_seed_unpaired_defaults_to_two_sided_and_shifts_a() -> None:
    a = _series([0.9, 0.8, 1.0, 0.7, 0.95], [0, 1, 2, 3, 4])
    b = _series([0.5, 0.6, 0.85, 0.9, 0.4, 0.3], [10, 11, 12, 13, 14, 15])
    res = compare_by_seed(a, b)
    ref = scipy.stats.mannwhitneyu(a, b, alternative="two-sided")
    assert (res.test, res.n_a, res.n_b) == (UNPAIRED, 5, 6)
    assert res.p == pytest.approx(ref.pvalue) and res.statistic == ref.statistic
    assert res.effect == pytest.approx(2 * ref.statistic / 30 - 1)
    shifted = compare_by_seed(a, b, "less", shift=-0.2)
    ref = scipy.stats.mannwhitneyu(a - 0.2, b, alternative="less")
    assert shifted.p == pytest.approx(ref.pvalue) and shifted.statistic == ref.statistic


def test_compare_solved_pairs_seeds_in_any_order() -> None:
    # go_no_go is solved at 0.9. a solves seeds 10-13, b only seed 14: discordant 4 against 1,
    # P(X >= 4 | 5, 1/2) = 6/32, two-sided 12/32.
    a = _series([0.5, 1.0, 0.95, 1.0, 0.9], [14, 10, 12, 11, 13])
    b = _series([0.5, 0.5, 0.5, 0.5, 1.0], [10, 11, 12, 13, 14])
    res = compare_solved("go_no_go", a, b)
    assert res is not None
    assert (res.test, res.solved_a, res.n_a, res.solved_b, res.n_b) == (MCNEMAR, 4, 5, 1, 5)
    assert res.p == pytest.approx(12 / 32)
    greater = compare_solved("go_no_go", a, b, "greater")
    assert greater is not None and greater.p == pytest.approx(6 / 32)
    flipped = compare_solved("go_no_go", b, a, "less")
    assert flipped is not None and flipped.p == pytest.approx(6 / 32)


def test_compare_solved_unpaired_and_with_an_empty_side() -> None:
    a = _series([1.0, 1.0, 1.0, 1.0, 0.5], [0, 1, 2, 3, 4])
    b = _series([1.0, 0.5, 0.5, 0.5, 0.5, 0.6], [5, 6, 7, 8, 9, 10])
    res = compare_solved("go_no_go", a, b, "greater")
    assert res is not None
    assert (res.test, res.solved_a, res.n_a, res.solved_b, res.n_b) == (FISHER, 4, 5, 1, 6)
    ref = scipy.stats.fisher_exact([[4, 1], [1, 5]], alternative="greater").pvalue
    assert res.p == pytest.approx(ref)
    # By hand: 5 solved among 11 runs, 5 of them a's: P(a has >= 4) = (C(5,4) C(6,1) + 1) / C(11,5).
    assert res.p == pytest.approx((5 * 6 + 1) / 462)
    empty = _series([], [])
    assert compare_solved("go_no_go", empty, b) is None
    assert compare_solved("go_no_go", a, empty) is None


def test_pooled_by_seed_against_scipy_with_one_stratum() -> None:
    a = _series([0.9, 0.8, 1.0, 0.7, 0.95, 0.6], [0, 1, 2, 3, 4, 5])
    b = _series([0.3, 0.4, 0.9, 0.55, 0.85, 0.5], [5, 4, 3, 2, 1, 0])
    d = np.array([0.4, -0.05, 0.45, -0.2, 0.55, 0.3])  # a - b by seed
    t_plus = scipy.stats.rankdata(np.abs(d))[d > 0].sum()
    for alt in ALTERNATIVES:
        ref = scipy.stats.wilcoxon(d, alternative=alt, method="exact")
        # A comparison with nothing on one side is no stratum.
        test, t, p = pooled_by_seed([(a, b), (a, _series([], []))], alt)
        assert (test, t) == (POOLED_PAIRED, t_plus)
        assert p == pytest.approx(ref.pvalue, rel=1e-12)
    # Unpaired, one stratum: van Elteren is the asymptotic Mann-Whitney without continuity.
    other = _series(b.to_numpy(), [10, 11, 12, 13, 14, 15])
    for alt in ALTERNATIVES:
        ref = scipy.stats.mannwhitneyu(
            a, other, alternative=alt, use_continuity=False, method="asymptotic"
        )
        test, _, p = pooled_by_seed([(a, other)], alt)
        assert test == POOLED_UNPAIRED and p == pytest.approx(ref.pvalue, rel=1e-9)


# --- equivalence.py -------------------------------------------------------------------------


def test_paired_tost_refuses_alpha_zero() -> None:
    with pytest.raises(ValueError, match="alpha"):
        paired_tost(np.array([0.0, 0.01, 0.02]), margin=0.03, alpha=0.0)


def test_paired_tost_result_under_two_pairs_is_all_nan_but_keeps_its_settings() -> None:
    one = paired_tost(np.array([0.01]), margin=0.03, alpha=0.1)
    assert (one.n, one.mean_diff, one.margin, one.alpha) == (1, 0.01, 0.03, 0.1)
    values = (one.ci_low, one.ci_high, one.p_lower, one.p_upper, one.p)
    assert all(math.isnan(v) for v in values)


def test_constant_difference_on_the_lower_margin_is_not_equivalent() -> None:
    # Every difference -0.25 (exact in binary): H0 mean <= -m holds, so p_lower = 1.
    r = paired_tost(np.full(5, -0.25), margin=0.25, alpha=0.1)
    assert (r.p_lower, r.p_upper, r.verdict) == (1.0, 0.0, NOT_SHOWN)
    assert (r.margin, r.alpha) == (0.25, 0.1)
    inside = paired_tost(np.full(5, -0.125), margin=0.25)
    assert (inside.p_lower, inside.p_upper, inside.verdict) == (0.0, 0.0, EQUIVALENT)


def _ttost(a: np.ndarray, b: np.ndarray, margin: float) -> tuple[float, float, float]:
    p, (_, p_lower, _), (_, p_upper, _) = ttost_paired(a, b, -margin, margin)
    return float(p_lower), float(p_upper), float(p)


def _t_interval(d: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = scipy.stats.t.interval(level, len(d) - 1, loc=d.mean(), scale=scipy.stats.sem(d))
    return float(lo), float(hi)


def test_tost_by_seed_uses_its_margin_and_alpha() -> None:
    bf16 = pd.Series([0.61, 0.52, 0.70, 0.83], index=[1, 0, 2, 3])
    fp32 = pd.Series([0.50, 0.60, 0.72, 0.80, 0.9], index=[0, 1, 2, 3, 4])
    a, b = bf16.loc[[0, 1, 2, 3]].to_numpy(), fp32.loc[[0, 1, 2, 3]].to_numpy()
    r = tost_by_seed(bf16, fp32, margin=0.08, alpha=0.1)
    p_lower, p_upper, p = _ttost(a, b, 0.08)
    assert (r.n, r.margin, r.alpha) == (4, 0.08, 0.1)
    assert (r.p_lower, r.p_upper, r.p) == pytest.approx((p_lower, p_upper, p), rel=1e-9)
    # 1 - 2 alpha = 80 % interval.
    assert (r.ci_low, r.ci_high) == pytest.approx(_t_interval(a - b, 0.8), rel=1e-9)


def _tidy(cells: dict[tuple[str, str, str], list[float]]) -> pd.DataFrame:
    return pd.DataFrame([
        {"condition": c, "task": t, "seed": s, "metric": m, "value": v}
        for (c, t, m), vs in cells.items()
        for s, v in enumerate(vs)
    ])  # fmt: skip


def test_tost_table_reports_the_tests_p_values_at_its_margin_and_alpha() -> None:
    fp32 = [0.31, 0.28, 0.35, 0.30, 0.33]
    bf16 = [0.312, 0.276, 0.352, 0.306, 0.325]
    table = tost_table(
        _tidy({("W", "go_no_go", "modularity_cnm"): bf16}),
        _tidy({("W", "go_no_go", "modularity_cnm"): fp32}),
        {"modularity_cnm": 0.004},
        alpha=0.1,
    )
    row = table.iloc[0]
    a, b = np.array(bf16), np.array(fp32)
    p_lower, p_upper, p = _ttost(a, b, 0.004)
    assert (row["margin"], row["n_pairs"]) == (0.004, 5)
    assert (row["p_lower"], row["p_upper"], row["p"]) == pytest.approx(
        (p_lower, p_upper, p), rel=1e-9
    )
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(_t_interval(a - b, 0.8), rel=1e-9)
    assert row["verdict"] == (EQUIVALENT if p < 0.1 else NOT_SHOWN)


def test_tost_table_names_the_second_table_when_it_has_duplicates() -> None:
    fp32 = _tidy({("W", "go_no_go", "test_acc"): [0.5, 0.6, 0.7]})
    with pytest.raises(ValueError, match=r"^second table has 3 duplicate"):
        tost_table(fp32, pd.concat([fp32, fp32]), {"test_acc": 0.03})


def test_tables_without_runs_keep_their_columns() -> None:
    empty = pd.DataFrame(columns=["condition", "task", "seed", "metric", "value"])
    table = tost_table(empty, empty, {"test_acc": 0.03})
    assert table.empty and list(table.columns) == TOST_COLUMNS
    table = solved_table(empty)
    assert table.empty and list(table.columns) == SOLVED_COLUMNS


# --- outcomes.py ----------------------------------------------------------------------------


def test_chance_levels_per_task() -> None:
    assert chance("go_no_go") == 0.5
    assert chance("one_choice_inference") == 0.25  # four goals
    assert chance("perceptual_decision_making") == 0.5
    assert chance("chess") is None


def test_definitions_table_states_each_tasks_threshold() -> None:
    table = definitions()
    assert list(table.columns) == ["task", "chance", "floor", "ceiling", "solved at", "why"]
    rows = table.set_index("task")
    # floor + 0.8 (ceiling - floor), by hand.
    assert rows.loc["go_no_go", ["chance", "floor", "ceiling", "solved at"]].tolist() == [
        0.5, 0.5, 1.0, 0.9,
    ]  # fmt: skip
    assert rows.loc["one_choice_inference", "solved at"] == 0.925
    assert rows.loc["perceptual_decision_making", "solved at"] == 0.82
    assert "0.625" in rows.loc["one_choice_inference", "why"]


def test_solved_table_is_sorted_labels_its_metric_and_uses_its_level() -> None:
    rows = [
        {"condition": c, "task": t, "seed": s, "metric": "test_acc", "value": v}
        for t, c, values in (
            ("perceptual_decision_making", "W", [0.9, 0.5, 0.85, 0.6]),
            ("go_no_go", "WD*C", [1.0, 1.0, 0.5]),
            ("go_no_go", "W", [0.5, 1.0, 0.5, 0.5]),
        )
        for s, v in enumerate(values)
    ]
    table = solved_table(pd.DataFrame(rows), level=0.9)
    assert table[["task", "condition", "n", "solved"]].values.tolist() == [
        ["go_no_go", "W", 4, 1],
        ["go_no_go", "WD*C", 3, 2],
        ["perceptual_decision_making", "W", 4, 2],
    ]
    assert table["metric"].tolist() == ["test_acc"] * 3
    for (_, row), (k, n) in zip(table.iterrows(), [(1, 4), (2, 3), (2, 4)], strict=True):
        ref = scipy.stats.binomtest(k, n).proportion_ci(0.9, method="exact")
        assert (row["low"], row["high"]) == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_solved_text_uses_its_level() -> None:
    ref = scipy.stats.binomtest(3, 4).proportion_ci(0.5, method="exact")
    text = solved_text("go_no_go", np.array([1.0, 1.0, 0.95, 0.5]), level=0.5)
    assert text == f"3/4 [{ref.low:.2f}, {ref.high:.2f}]"
    assert text != solved_text("go_no_go", np.array([1.0, 1.0, 0.95, 0.5]))


@pytest.mark.parametrize(
    "call",
    [
        lambda alt: signed_rank(np.zeros(4), alt),
        lambda alt: signed_rank(np.array([0.1, -0.2, 0.3]), alt),
        lambda alt: pooled_signed_rank([np.array([0.1, 0.2])], alt),
        lambda alt: mcnemar_exact(np.array([1, 0]), np.array([0, 0]), alt),
        lambda alt: van_elteren([(np.array([1.0, 2.0]), np.array([0.0, 3.0]))], alt),
        lambda alt: mann_whitney(np.array([1.0, 2.0]), np.array([0.0, 3.0]), alt),
    ],
)
def test_a_misspelt_alternative_is_refused_not_read_as_two_sided(call) -> None:
    with pytest.raises(ValueError, match="alternative must be one of"):
        call("greater-than")
    call("less")  # the spelled-out ones are accepted


def test_pooled_by_seed_is_two_sided_by_default() -> None:
    a = pd.Series([0.9, 0.8, 0.95, 0.7], index=[0, 1, 2, 3])
    b = pd.Series([0.5, 0.85, 0.6, 0.5], index=[0, 1, 2, 3])
    assert pooled_by_seed([(a, b)]) == pooled_by_seed([(a, b)], "two-sided")
    unpaired = pd.Series([0.4, 0.6], index=[7, 8])
    assert pooled_by_seed([(a, unpaired)]) == pooled_by_seed([(a, unpaired)], "two-sided")
