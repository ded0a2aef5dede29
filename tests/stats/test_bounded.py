"""Intervals that respect the values' range: the bootstrap interval of a mean and the exact
interval of a solved fraction, by hand, against scipy, and on hypothesis-generated bounded
and bimodal samples."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from cortexrnn.services.stats import (
    OUTCOMES,
    clopper_pearson,
    describe,
    mean_interval,
    solved,
    solved_table,
    solved_text,
    threshold,
)

# A seed learns the task or stays at chance, with a little noise either way.
bimodal = st.lists(
    st.one_of(
        st.sampled_from([0.5, 1.0]),
        st.floats(0.48, 0.52),
        st.floats(0.95, 1.0),
        st.floats(0.0, 1.0),
    ),
    min_size=1,
    max_size=20,
)


def test_bootstrap_interval_by_hand() -> None:
    # Two seeds, 0 and 1: resampled means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4, so
    # the 2.5 % and 97.5 % quantiles are 0 and 1.
    assert mean_interval(np.array([0.0, 1.0])) == (0.5, 0.0, 1.0)
    # Every seed solved: the mean's interval has no width, the solved fraction's does.
    assert mean_interval(np.ones(5)) == (1.0, 1.0, 1.0)
    lo, hi = clopper_pearson(5, 5)
    assert lo == pytest.approx(0.025 ** (1 / 5)) and hi == 1.0  # 0.478
    # The t interval these replace leaves [0, 1] on the same kind of sample.
    v = np.array([1.0, 1.0, 1.0, 1.0, 0.5])
    t_hi = v.mean() + scipy.stats.t.ppf(0.975, 4) * scipy.stats.sem(v)
    assert t_hi > 1.0 and mean_interval(v)[2] <= 1.0
    # One seed: a mean, no interval.
    mean, lo, hi = mean_interval(np.array([0.7]))
    assert mean == 0.7 and np.isnan(lo) and np.isnan(hi)


def test_clopper_pearson_by_hand_and_against_scipy() -> None:
    # k = 0: the upper bound solves (1 - p)^n = alpha / 2.
    assert clopper_pearson(0, 5) == (0.0, pytest.approx(1 - 0.025 ** (1 / 5)))
    # k = 1 of 2: the bounds solve 1 - (1 - p)^2 = 0.025 and p^2 = 0.975.
    lo, hi = clopper_pearson(1, 2)
    assert lo == pytest.approx(1 - np.sqrt(0.975)) and hi == pytest.approx(np.sqrt(0.975))
    for n in (1, 5, 10, 20):
        for k in range(n + 1):
            ref = scipy.stats.binomtest(k, n).proportion_ci(0.95, method="exact")
            assert clopper_pearson(k, n) == (
                pytest.approx(ref.low, abs=1e-12),
                pytest.approx(ref.high, abs=1e-12),
            )
    assert all(np.isnan(clopper_pearson(0, 0)))


@settings(max_examples=80, deadline=None)
@given(bimodal)
def test_mean_interval_stays_in_the_samples_range(values: list[float]) -> None:
    v = np.array(values)
    mean, lo, hi = mean_interval(v, n_boot=300)
    assert 0.0 <= v.min() <= mean <= v.max() <= 1.0
    if len(v) > 1:
        assert v.min() <= lo <= mean + 1e-12 and mean - 1e-12 <= hi <= v.max()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 8.0), min_size=2, max_size=12))
def test_describe_never_gives_a_negative_entropy_bound(values: list[float]) -> None:
    df = pd.DataFrame(
        {"condition": "W", "task": "go_no_go", "seed": range(len(values)),
         "metric": "entropy_kde", "value": values}
    )  # fmt: skip
    row = describe(df, n_boot=300).iloc[0]
    assert 0.0 <= min(values) <= row.boot_low <= row.boot_high <= max(values)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_clopper_pearson_is_inside_zero_one_and_covers_the_estimate(kn: tuple[int, int]) -> None:
    k, n = kn
    lo, hi = clopper_pearson(k, n)
    assert 0.0 <= lo <= k / n <= hi <= 1.0 and lo < hi


def test_solved_thresholds_are_stated_relative_to_chance() -> None:
    # 80 % of the way from the floor to the ceiling, by hand:
    assert threshold("go_no_go") == 0.9  # 0.5 + 0.8 (1 - 0.5)
    assert threshold("one_choice_inference") == 0.925  # plateau 0.625 + 0.8 (1 - 0.625)
    assert threshold("perceptual_decision_making") == 0.82  # 0.5 + 0.8 (0.9 - 0.5)
    assert OUTCOMES["one_choice_inference"].chance == 0.25
    assert threshold("chess") is None and solved("chess", np.array([1.0])) is None
    # The goal-ignoring plateau is not solved; float noise at the threshold is.
    hits = solved("one_choice_inference", np.array([0.625, 0.763, 0.925 - 1e-12, 1.0]))
    assert hits is not None and hits.tolist() == [False, False, True, True]


def test_solved_table_counts_seeds_with_exact_intervals() -> None:
    rows = [
        {"condition": c, "task": t, "seed": s, "metric": "test_acc", "value": v}
        for t, c, values in (
            ("go_no_go", "W", [0.5, 0.51, 0.49, 1.0, 0.5]),
            ("go_no_go", "W*D*C", [1.0] * 5),
            ("chess", "W", [1.0] * 5),  # no threshold: left out
        )
        for s, v in enumerate(values)
    ]
    rows.append({"condition": "W", "task": "go_no_go", "seed": 0, "metric": "train_acc",
                 "value": 1.0})  # fmt: skip
    table = solved_table(pd.DataFrame(rows))
    assert table[["task", "condition", "n", "solved"]].values.tolist() == [
        ["go_no_go", "W", 5, 1],
        ["go_no_go", "W*D*C", 5, 5],
    ]
    assert table.fraction.tolist() == [0.2, 1.0]
    assert table.low.iloc[1] == pytest.approx(0.025 ** (1 / 5)) and table.high.iloc[1] == 1.0
    assert solved_text("go_no_go", np.ones(5)) == "5/5 [0.48, 1.00]"
    assert solved_text("chess", np.ones(5)) == "–"


def test_equal_values_give_an_interval_of_that_value_despite_rounding() -> None:
    # Found by Hypothesis: the resamples' mean of three equal values came out one ulp above them.
    from cortexrnn.services.stats.summary import mean_interval

    value = 5.375966287217084
    assert mean_interval(np.full(3, value), n_boot=300) == (value, value, value)
