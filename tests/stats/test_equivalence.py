"""The paired TOST (two one-sided t-tests) and its per task x condition x metric table: by hand,
against statsmodels' ttost_paired, and in the degenerate cases (no spread, under two pairs)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from statsmodels.stats.weightstats import ttost_paired

from cortexrnn.services.stats import paired_tost, tost_by_seed, tost_table
from cortexrnn.services.stats.equivalence import EQUIVALENT, NOT_SHOWN, TOST_COLUMNS
from cortexrnn.services.stats.paired import DECIMALS


def t2_sf(t: float) -> float:
    """P(T > t) for Student's t with 2 degrees of freedom, in closed form."""
    return 0.5 - t / (2 * math.sqrt(2 + t * t))


def test_paired_tost_by_hand_with_three_pairs() -> None:
    # d = a - b = [0, 0.01, 0.02]: mean 0.01, sd 0.01, se 0.01 / sqrt(3), df 2.
    a = np.array([0.50, 0.61, 0.72])
    b = np.array([0.50, 0.60, 0.70])
    r = paired_tost(a - b, margin=0.03)
    se = 0.01 / math.sqrt(3)
    assert r.n == 3
    assert r.mean_diff == pytest.approx(0.01)
    assert r.p_lower == pytest.approx(t2_sf((0.01 + 0.03) / se))  # t = 4 sqrt(3)
    assert r.p_upper == pytest.approx(t2_sf((0.03 - 0.01) / se))  # t = 2 sqrt(3): 0.0371
    assert r.p == pytest.approx(0.037089, abs=1e-6)
    # 90 % interval: t(0.95, 2) = 2.919986
    assert (r.ci_low, r.ci_high) == pytest.approx((0.01 - 2.919986 * se, 0.01 + 2.919986 * se))
    assert r.verdict == EQUIVALENT
    # The same differences against a tighter margin: the interval reaches past +0.02.
    assert paired_tost(a - b, margin=0.02).verdict == NOT_SHOWN


def test_paired_tost_by_hand_with_two_pairs_is_cauchy() -> None:
    # d = [0, 0.02]: mean 0.01, se 0.01, df 1 (Cauchy: P(T > t) = 1/2 - atan(t) / pi).
    r = paired_tost(np.array([0.0, 0.02]), margin=0.03)
    assert r.p_lower == pytest.approx(0.5 - math.atan(4) / math.pi)
    assert r.p_upper == pytest.approx(0.5 - math.atan(2) / math.pi)  # 0.148: not shown
    half = math.tan(0.45 * math.pi) * 0.01
    assert (r.ci_low, r.ci_high) == pytest.approx((0.01 - half, 0.01 + half))
    assert r.verdict == NOT_SHOWN


def test_all_zero_differences_are_equivalent_at_any_margin() -> None:
    accuracies = np.array([0.9, 0.5, 1.0, 0.625, 0.75])
    for margin in (1e-6, 0.03, 0.5):
        r = paired_tost(accuracies - accuracies, margin)
        assert (r.mean_diff, r.ci_low, r.ci_high) == (0.0, 0.0, 0.0)
        assert (r.p_lower, r.p_upper, r.verdict) == (0.0, 0.0, EQUIVALENT)
    # Float noise in equal values (0.9 - 0.4 against 1.0 - 0.5) is not spread.
    assert paired_tost(np.array([0.9 - 0.4, 0.5, 0.5]) - 0.5, 0.01).verdict == EQUIVALENT


def test_a_constant_difference_is_equivalent_only_inside_the_margin() -> None:
    inside = paired_tost(np.full(5, 0.01), margin=0.03)
    assert (inside.p_lower, inside.p_upper, inside.verdict) == (0.0, 0.0, EQUIVALENT)
    outside = paired_tost(np.full(5, -0.05), margin=0.03)
    assert (outside.p_lower, outside.p_upper, outside.verdict) == (1.0, 0.0, NOT_SHOWN)
    on_the_margin = paired_tost(np.full(5, 0.03), margin=0.03)  # H0: mean >= +m holds
    assert (on_the_margin.p_upper, on_the_margin.verdict) == (1.0, NOT_SHOWN)


def test_fewer_than_two_pairs_is_not_shown() -> None:
    one = paired_tost(np.array([0.0]), margin=0.03)
    assert one.n == 1 and one.mean_diff == 0.0 and one.verdict == NOT_SHOWN
    assert math.isnan(one.p) and math.isnan(one.ci_low) and math.isnan(one.p_lower)
    none = paired_tost(np.array([np.nan]), margin=0.03)  # non-finite differences are dropped
    assert none.n == 0 and math.isnan(none.mean_diff) and none.verdict == NOT_SHOWN


def test_margin_and_alpha_are_checked() -> None:
    with pytest.raises(ValueError, match="margin must be positive"):
        paired_tost(np.zeros(3), margin=0.0)
    with pytest.raises(ValueError, match="alpha"):
        paired_tost(np.zeros(3), margin=0.03, alpha=0.5)


def _statsmodels(a: np.ndarray, b: np.ndarray, margin: float) -> tuple[float, float, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # zero spread divides by zero there
        p, (_, p_lower, _), (_, p_upper, _) = ttost_paired(a, b, -margin, margin)
    return float(p), float(p_lower), float(p_upper)


# Accuracies are counts over the test trials (k / 256): differences are exact in binary.
accuracy = st.integers(0, 256).map(lambda k: k / 256)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(accuracy, accuracy), min_size=2, max_size=12),
    st.sampled_from([0.01, 0.03, 0.1, 0.3]),
)
def test_matches_statsmodels_ttost_paired_on_accuracies(
    pairs: list[tuple[float, float]], margin: float
) -> None:
    a, b = np.array(pairs).T
    r = paired_tost(a - b, margin)
    p, p_lower, p_upper = _statsmodels(a, b, margin)
    if abs(abs(r.mean_diff) - margin) < 1e-12 and r.ci_low == r.ci_high:
        return  # on the margin with no spread statsmodels gives 0/0 = NaN; decided by hand above
    assert r.p_lower == pytest.approx(p_lower, rel=1e-9, abs=1e-12)
    assert r.p_upper == pytest.approx(p_upper, rel=1e-9, abs=1e-12)
    assert r.p == pytest.approx(p, rel=1e-9, abs=1e-12)
    assert r.equivalent == (p < 0.05)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0.0, 0.8), st.floats(-0.05, 0.05)), min_size=2, max_size=20),
    st.floats(0.005, 0.1),
)
# found by a CI run: differences of 1e-5 and 6e-8, whose rounding moved p by 4e-5 relative
@example(pairs=[(0.0, 1e-05), (0.0, 5.960464477539063e-08)], margin=0.0625)
def test_matches_statsmodels_and_its_interval_on_continuous_values(
    pairs: list[tuple[float, float]], margin: float
) -> None:
    fp32, shift = np.array(pairs).T
    bf16 = fp32 + shift
    # paired_tost rounds the differences to DECIMALS first (documented): statsmodels gets the
    # same rounded differences, or a spread of ~1e-5 against a rounding of ~4e-10 moves p
    d = np.round(bf16 - fp32, DECIMALS)
    if np.std(d) < 1e-6:
        return  # no spread: the degenerate tests above
    r = paired_tost(bf16 - fp32, margin)
    p, p_lower, p_upper = _statsmodels(d, np.zeros_like(d), margin)
    assert r.p_lower == pytest.approx(p_lower, rel=1e-5, abs=1e-9)
    assert r.p_upper == pytest.approx(p_upper, rel=1e-5, abs=1e-9)
    # The 90 % interval inside (-m, m) is the same decision as both p below 0.05.
    inside = -margin < r.ci_low and r.ci_high < margin
    if min(abs(r.ci_low + margin), abs(r.ci_high - margin)) > 1e-9:
        assert inside == r.equivalent == (p < 0.05)


def test_tost_by_seed_pairs_the_seeds_both_sides_have() -> None:
    bf16 = pd.Series([0.91, 0.80, 0.70, 0.55], index=[0, 1, 2, 9])
    fp32 = pd.Series([0.90, 0.80, 0.72], index=[2, 1, 0])
    r = tost_by_seed(bf16, fp32, margin=0.03)
    # Seed 0: 0.91 - 0.72, seed 1: 0, seed 2: 0.70 - 0.90; seed 9 has no partner.
    assert r.n == 3
    assert r.mean_diff == pytest.approx((0.19 + 0.0 - 0.20) / 3)


def _tidy(values: dict[tuple[str, str, str], list[float]]) -> pd.DataFrame:
    """(condition, task, metric) -> one value per seed 0, 1, ... (NaN: the run is missing)."""
    rows = [
        {"condition": c, "task": t, "seed": s, "metric": m, "value": v}
        for (c, t, m), vs in values.items()
        for s, v in enumerate(vs)
        if not math.isnan(v)
    ]
    return pd.DataFrame(rows)


def test_tost_table_per_task_condition_and_metric() -> None:
    acc = [0.5, 0.75, 1.0, 0.625, 0.875]
    q = [0.31, 0.28, 0.35, 0.30, 0.33]
    jitter = [0.002, -0.001, 0.0, 0.003, -0.002]
    fp32 = _tidy({
        ("W", "go_no_go", "test_acc"): acc,
        ("W", "go_no_go", "modularity_cnm"): q,
        ("WD*C", "go_no_go", "test_acc"): acc,
        ("WD*C", "go_no_go", "modularity_cnm"): q,
    })  # fmt: skip
    bf16 = _tidy({
        # W: the same accuracies; modularity within a few thousandths
        ("W", "go_no_go", "test_acc"): acc,
        ("W", "go_no_go", "modularity_cnm"): [v + e for v, e in zip(q, jitter, strict=True)],
        # WD*C: one seed learns the task in fp32 only, one seed diverged in bf16 (no run)
        ("WD*C", "go_no_go", "test_acc"): [0.5, 0.75, 0.5, 0.625, math.nan],
        ("WD*C", "go_no_go", "modularity_cnm"): [*q[:4], math.nan],
    })  # fmt: skip
    table = tost_table(bf16, fp32, {"test_acc": 0.03, "modularity_cnm": 0.02})
    assert list(table.columns) == TOST_COLUMNS
    cells = table.set_index(["condition", "metric"])
    assert len(table) == 4 and set(table["task"]) == {"go_no_go"}

    w_acc = cells.loc[("W", "test_acc")]
    assert (w_acc["n_pairs"], w_acc["mean_diff"], w_acc["verdict"]) == (5, 0.0, EQUIVALENT)
    w_q = cells.loc[("W", "modularity_cnm")]
    assert w_q["margin"] == 0.02 and w_q["verdict"] == EQUIVALENT
    assert -0.02 < w_q["ci_low"] < w_q["mean_diff"] < w_q["ci_high"] < 0.02

    wd_acc = cells.loc[("WD*C", "test_acc")]
    assert (wd_acc["n_pairs"], wd_acc["only_a"], wd_acc["only_b"]) == (4, 0, 1)
    assert wd_acc["mean_diff"] == pytest.approx(-0.125)  # (0 + 0 - 0.5 + 0) / 4
    assert wd_acc["mean_a"] == pytest.approx(0.59375) and wd_acc["mean_b"] == pytest.approx(0.71875)
    assert wd_acc["verdict"] == NOT_SHOWN
    # Identical modularity on the four shared seeds: equivalent, the missing run aside.
    assert cells.loc[("WD*C", "modularity_cnm"), "verdict"] == EQUIVALENT


def test_tost_table_gives_a_metric_nobody_measured_zero_pairs() -> None:
    fp32 = _tidy({("W", "go_no_go", "test_acc"): [0.5, 0.6, 0.7]})
    table = tost_table(fp32, fp32, {"test_acc": 0.03, "modularity_louvain": 0.02})
    louvain = table[table["metric"] == "modularity_louvain"].iloc[0]
    assert louvain["n_pairs"] == 0 and louvain["verdict"] == NOT_SHOWN


def test_tost_table_refuses_duplicate_runs() -> None:
    fp32 = _tidy({("W", "go_no_go", "test_acc"): [0.5, 0.6, 0.7]})
    twice = pd.concat([fp32, fp32])
    with pytest.raises(ValueError, match="first table has 3 duplicate"):
        tost_table(twice, fp32, {"test_acc": 0.03})
