"""The learning-speed curve: seeds at criterion by step, counted by hand, with scipy's exact
binomial interval."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from cortexrnn.services.report.learning_speed import learning_speed, reached_curve


def test_the_curve_counts_networks_at_criterion_by_step() -> None:
    # four networks: at criterion at steps 10 and 30, two never (NaN, absent)
    curve = reached_curve(np.array([30.0, np.nan, 10.0]), 4, np.array([0, 10, 20, 30, 40]))
    assert curve["reached"].tolist() == [0, 1, 1, 2, 2]
    np.testing.assert_allclose(curve["fraction"], [0, 0.25, 0.25, 0.5, 0.5])
    for row in curve.itertuples():
        ci = binomtest(int(row.reached), 4).proportion_ci(confidence_level=0.95, method="exact")
        assert (row.low, row.high) == pytest.approx((ci.low, ci.high))
    with pytest.raises(ValueError, match="only 1 ran"):
        reached_curve(np.array([1.0, 2.0]), 1, np.array([0, 1]))


def test_the_figure_draws_every_condition() -> None:
    rows = []
    for cond, at in (("fast", [20, 25, 30]), ("slow", [80, None, None])):
        for seed, step in enumerate(at):
            rows.append(
                dict(condition=cond, task="go_no_go", seed=seed, metric="test_acc", value=0.9)
            )
            if step is not None:
                rows.append(
                    dict(
                        condition=cond,
                        task="go_no_go",
                        seed=seed,
                        metric="steps_to_criterion",
                        value=step,
                    )
                )
    png = learning_speed(pd.DataFrame(rows), "go_no_go", total_steps=100)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
