"""Statistics across runs (SCIENCE.md §6): input a tidy DataFrame [condition, task, seed,
metric, value] (one row per run × metric); output tidy tables."""

from __future__ import annotations

import pandas as pd

from .anova import rank_anova
from .factors import FACTORS, LEVELS, factor_table, parse_condition
from .inference import cohens_d, holm, kruskal_wallis, pairwise_mannwhitney
from .summary import bootstrap_interval, check_tidy, describe, t_interval


def summarise(
    df: pd.DataFrame,
    factors: dict[str, dict[str, str]] | None = None,
    *,
    n_boot: int = 10_000,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """All tables: 'summary' (describe), 'kruskal', 'pairwise', 'anova'."""
    return {
        "summary": describe(df, n_boot=n_boot, seed=seed),
        "kruskal": kruskal_wallis(df),
        "pairwise": pairwise_mannwhitney(df),
        "anova": rank_anova(df, factors),
    }


__all__ = [
    "FACTORS",
    "LEVELS",
    "bootstrap_interval",
    "check_tidy",
    "cohens_d",
    "describe",
    "factor_table",
    "holm",
    "kruskal_wallis",
    "pairwise_mannwhitney",
    "parse_condition",
    "rank_anova",
    "summarise",
    "t_interval",
]
