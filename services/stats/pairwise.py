"""Every pair of conditions, per task × metric: the paired test where their runs share seeds
(`paired.py`), Mann–Whitney U where they share none, and on held-out accuracy also solved /
not solved (McNemar or Fisher, exact); Holm's correction within each task × metric.

Effect sizes: the rank-biserial correlation of the test used (positive when condition a tends
to be larger) and Cohen's d = (mean_a - mean_b) / pooled sd, descriptive only."""

from __future__ import annotations

import itertools

import pandas as pd

from .inference import cohens_d, with_holm
from .outcomes import SOLVED_METRIC
from .paired import by_seed, compare_by_seed, compare_solved
from .summary import check_tidy

COLUMNS = [
    "task", "metric", "a", "b", "test", "n_a", "n_b", "n_pairs", "mean_a", "mean_b",
    "statistic", "p", "p_holm", "rank_biserial", "cohens_d", "solved_a", "solved_b",
    "solved_test", "p_solved", "p_solved_holm",
]  # fmt: skip


def pairwise_tests(df: pd.DataFrame) -> pd.DataFrame:
    """One row per task × metric × pair (a < b in sorted order), two-sided (COLUMNS); the
    solved columns are empty except on held-out accuracy of a task with a threshold."""
    data = check_tidy(df)
    rows: list[dict[str, object]] = []
    for (task, metric), g in data.groupby(["task", "metric"], sort=True):
        by = {c: by_seed(g, task, c, metric) for c in sorted(g["condition"].unique())}
        for a, b in itertools.combinations(by, 2):
            xa, xb = by[a], by[b]
            res = compare_by_seed(xa, xb)
            row: dict[str, object] = {
                "task": task, "metric": metric, "a": a, "b": b, "test": res.test,
                "n_a": res.n_a, "n_b": res.n_b, "n_pairs": res.n_pairs,
                "mean_a": float(xa.mean()) if len(xa) else float("nan"),
                "mean_b": float(xb.mean()) if len(xb) else float("nan"),
                "statistic": res.statistic, "p": res.p, "rank_biserial": res.effect,
                "cohens_d": cohens_d(xa.to_numpy(float), xb.to_numpy(float)),
                "solved_a": None, "solved_b": None, "solved_test": None, "p_solved": float("nan"),
            }  # fmt: skip
            hits = compare_solved(task, xa, xb) if metric == SOLVED_METRIC else None
            if hits is not None:
                row.update(solved_a=f"{hits.solved_a}/{hits.n_a}",
                           solved_b=f"{hits.solved_b}/{hits.n_b}",
                           solved_test=hits.test, p_solved=hits.p)  # fmt: skip
            rows.append(row)
    out = pd.DataFrame(rows, columns=[c for c in COLUMNS if not c.endswith("_holm")])
    return with_holm(out, ("p", "p_solved"), by=["task", "metric"])[COLUMNS]
