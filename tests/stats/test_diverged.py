"""Runs whose training diverged count as runs that did not learn, by hand and against scipy."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy.stats import binomtest

from cortexrnn.services.report.replication import variant_table
from cortexrnn.services.stats.outcomes import (
    OUTCOMES,
    diverged_count,
    score_diverged,
    solved_table,
)
from cortexrnn.services.stats.paired import by_seed, compare_solved

OCI = "one_choice_inference"


def _table() -> pd.DataFrame:
    rows = [dict(condition="W", task=OCI, seed=s, metric="test_acc", value=1.0) for s in range(4)]
    rows += [
        dict(condition="X", task=OCI, seed=1, metric="test_acc", value=1.0),
        dict(condition="X", task=OCI, seed=3, metric="test_acc", value=0.99),
        dict(condition="X", task=OCI, seed=3, metric="modularity_cnm", value=0.4),
    ]
    rows += [dict(condition="X", task=OCI, seed=s, metric="diverged", value=1.0) for s in (0, 2)]
    return pd.DataFrame(rows)


def test_a_diverged_run_gets_its_tasks_floor_and_counts_as_unsolved() -> None:
    scored = score_diverged(_table())
    x = by_seed(scored, OCI, "X", "test_acc")
    # The floor of one-choice inference is the goal-ignoring plateau, not chance.
    assert x.to_dict() == {1: 1.0, 3: 0.99, 0: OUTCOMES[OCI].floor, 2: OUTCOMES[OCI].floor}
    assert OUTCOMES[OCI].floor == 0.625
    # Other measures of a diverged run stay undefined.
    assert len(by_seed(scored, OCI, "X", "modularity_cnm")) == 1
    assert diverged_count(scored, OCI, "X") == 2 and diverged_count(scored, OCI, "W") == 0
    solved = solved_table(scored).set_index("condition")
    assert (solved.loc["X", "solved"], solved.loc["X", "n"]) == (2, 4)
    assert (solved.loc["W", "solved"], solved.loc["W", "n"]) == (4, 4)
    # Paired: W solved where X diverged, on 2 seeds and never the reverse; McNemar's exact
    # one-sided test is the binomial test of 2 of 2 discordant pairs.
    hits = compare_solved(OCI, by_seed(scored, OCI, "W", "test_acc"), x, "greater")
    assert hits is not None
    assert hits.p == pytest.approx(binomtest(2, 2, 0.5, alternative="greater").pvalue)


def test_scoring_is_idempotent_and_leaves_tables_without_divergence_alone() -> None:
    once = score_diverged(_table())
    assert len(score_diverged(once)) == len(once)
    plain = _table()
    plain = plain[plain["metric"] != "diverged"]
    assert score_diverged(plain) is plain


def test_the_replication_table_names_the_divergences_in_its_n() -> None:
    lines = variant_table(score_diverged(_table()), OCI)
    row = next(line for line in lines if line.startswith("| X |"))
    assert row.startswith("| X | 4 (2 diverged) |") and "2/4 [" in row
    assert next(line for line in lines if line.startswith("| W |")).startswith("| W | 4 |")
