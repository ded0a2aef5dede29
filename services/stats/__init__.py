"""Statistics across runs (SCIENCE.md §6): input a tidy DataFrame [condition, task, seed,
metric, value] (one row per run × metric); output tidy tables.

Intervals respect the values' range (percentile bootstrap of the mean; Clopper–Pearson for the
fraction of seeds that solved a task); conditions whose runs share seeds are compared with
paired tests, and every test row names its test."""

from __future__ import annotations

import pandas as pd

from .anova import rank_anova
from .equivalence import TOST, Tost, paired_tost, tost_by_seed, tost_table
from .factors import FACTORS, LEVELS, factor_table, parse_condition
from .inference import cohens_d, holm, mann_whitney, omnibus, van_elteren, with_holm
from .outcomes import (
    OUTCOMES,
    SOLVED_DEFINITION,
    SOLVED_METRIC,
    chance,
    clopper_pearson,
    solved,
    solved_table,
    solved_text,
    threshold,
)
from .paired import (
    MCNEMAR,
    PAIRED,
    UNPAIRED,
    by_seed,
    compare_by_seed,
    compare_solved,
    mcnemar_exact,
    pooled_signed_rank,
    signed_rank,
)
from .pairwise import pairwise_tests
from .summary import bootstrap_interval, check_tidy, describe, mean_interval


def summarise(
    df: pd.DataFrame,
    factors: dict[str, dict[str, str]] | None = None,
    *,
    n_boot: int = 10_000,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """All tables: 'summary' (describe), 'solved' (solved fractions), 'omnibus', 'pairwise'
    (paired where runs share seeds), 'anova'."""
    return {
        "summary": describe(df, n_boot=n_boot, seed=seed),
        "solved": solved_table(df),
        "omnibus": omnibus(df),
        "pairwise": pairwise_tests(df),
        "anova": rank_anova(df, factors),
    }


__all__ = [
    "FACTORS",
    "LEVELS",
    "MCNEMAR",
    "OUTCOMES",
    "PAIRED",
    "SOLVED_DEFINITION",
    "SOLVED_METRIC",
    "TOST",
    "UNPAIRED",
    "Tost",
    "bootstrap_interval",
    "by_seed",
    "chance",
    "check_tidy",
    "clopper_pearson",
    "cohens_d",
    "compare_by_seed",
    "compare_solved",
    "describe",
    "factor_table",
    "holm",
    "mann_whitney",
    "mcnemar_exact",
    "mean_interval",
    "omnibus",
    "paired_tost",
    "pairwise_tests",
    "parse_condition",
    "pooled_signed_rank",
    "rank_anova",
    "signed_rank",
    "solved",
    "solved_table",
    "solved_text",
    "summarise",
    "threshold",
    "tost_by_seed",
    "tost_table",
    "van_elteren",
    "with_holm",
]
