"""Whether a run solved its task, and the exact interval of the fraction of seeds that did.

Held-out accuracy here is bimodal: a seed learns the task or stays at what a network reaches
without it (chance, or a plateau). A mean over 5 or 10 such seeds hides which; the number of
seeds that solved the task, with a Clopper–Pearson interval, says it directly and stays inside
[0, 1] (5 of 5 gives [0.48, 1], not a zero-width interval).

"Solved" is defined once, here, per task: held-out accuracy (noise off) at least 80 % of the
way from the task's floor to its ceiling. The floor is what a network that has not solved the
task reaches (chance; for one-choice inference the goal-ignoring plateau 0.625, SCIENCE.md §3);
the ceiling is the best reachable accuracy (1; for perceptual decision making ≈ 0.9, since
zero-coherence trials carry no evidence). Tasks not listed have no solved fraction.

A run whose training diverged (its loss became NaN or infinite) has no summary values; its
table records a `diverged` row instead. It solved nothing, and leaving it out would favour a
variant that diverges on the seeds it would have failed: `score_diverged` gives it its task's
floor as held-out accuracy, so that solved fractions, means and paired tests count it as a
run that did not learn, and the tables say how many diverged (`diverged_count`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sst

from .summary import LEVEL, check_tidy

SOLVED_METRIC = "test_acc"
SOLVED_SHARE = 0.8  # of the way from floor to ceiling


@dataclass(frozen=True)
class Outcome:
    chance: float
    floor: float  # what a network reaches without solving the task
    ceiling: float  # the best reachable held-out accuracy
    why: str

    @property
    def threshold(self) -> float:
        return round(self.floor + SOLVED_SHARE * (self.ceiling - self.floor), 3)


OUTCOMES = {
    "go_no_go": Outcome(0.5, 0.5, 1.0, "chance 0.5"),
    "one_choice_inference": Outcome(
        0.25, 0.625, 1.0, "chance 0.25; a network that ignores the goal plateaus at 0.625"
    ),
    "perceptual_decision_making": Outcome(
        0.5, 0.5, 0.9, "chance 0.5; zero-coherence trials hold an ideal observer near 0.9"
    ),
}
SOLVED_DEFINITION = (
    f"held-out accuracy (`{SOLVED_METRIC}`) at least {SOLVED_SHARE:.0%} of the way from the "
    "task's floor (what a network reaches without solving it) to its ceiling"
)
SOLVED_COLUMNS = ["task", "condition", "metric", "n", "solved", "fraction", "low", "high"]
DIVERGED_METRIC = "diverged"  # 1 on a run whose training diverged; it has no other values
DIVERGED_SCORING = (
    "A run whose training diverged (loss NaN or infinite) counts as a run that did not learn: "
    "its held-out accuracy is its task's floor, so it is unsolved in the solved fractions and "
    "a loss in the paired tests, and a table's n says how many diverged; its other measures "
    "are undefined and left out."
)


def threshold(task: str) -> float | None:
    """The held-out accuracy at or above which a run of `task` solved it (None: undefined)."""
    outcome = OUTCOMES.get(task)
    return outcome.threshold if outcome else None


def chance(task: str) -> float | None:
    outcome = OUTCOMES.get(task)
    return outcome.chance if outcome else None


def solved(task: str, accuracies: np.ndarray) -> np.ndarray | None:
    """Per run: solved or not (None where the task has no threshold)."""
    cut = threshold(task)
    if cut is None:
        return None
    # Held-out accuracies are counts over the test trials: round off float noise first.
    return np.round(np.asarray(accuracies, float), 9) >= cut


def clopper_pearson(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval of a binomial proportion k / n; NaN for n = 0."""
    if n <= 0:
        return float("nan"), float("nan")
    alpha = 1 - level
    lo = 0.0 if k == 0 else float(sst.beta.ppf(alpha / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(sst.beta.ppf(1 - alpha / 2, k + 1, n - k))
    return lo, hi


def definitions() -> pd.DataFrame:
    """The per-task definitions as a table (for the report and the document)."""
    return pd.DataFrame(
        [
            {"task": t, "chance": o.chance, "floor": o.floor, "ceiling": o.ceiling,
             "solved at": o.threshold, "why": o.why}
            for t, o in OUTCOMES.items()
        ]
    )  # fmt: skip


def solved_table(df: pd.DataFrame, level: float = LEVEL) -> pd.DataFrame:
    """Per task (with a threshold) × condition: runs, runs solved, fraction and its
    Clopper–Pearson interval (SOLVED_COLUMNS; metric is SOLVED_METRIC on every row)."""
    data = check_tidy(df)
    data = data[data["metric"] == SOLVED_METRIC]
    rows = []
    for (task, cond), g in data.groupby(["task", "condition"], sort=True):
        hits = solved(task, g["value"].to_numpy(float))
        if hits is None:
            continue
        n, k = len(hits), int(hits.sum())
        lo, hi = clopper_pearson(k, n, level)
        rows.append({"task": task, "condition": cond, "metric": SOLVED_METRIC, "n": n,
                     "solved": k, "fraction": k / n, "low": lo, "high": hi})  # fmt: skip
    return pd.DataFrame(rows, columns=SOLVED_COLUMNS)


def solved_text(task: str, accuracies: np.ndarray, level: float = LEVEL) -> str:
    """'k/n [low, high]' for the tables; '–' where the task has no threshold or no runs."""
    hits = solved(task, accuracies)
    if hits is None or not len(hits):
        return "–"
    k, n = int(hits.sum()), len(hits)
    lo, hi = clopper_pearson(k, n, level)
    return f"{k}/{n} [{lo:.2f}, {hi:.2f}]"


def score_diverged(df: pd.DataFrame) -> pd.DataFrame:
    """`df` (tidy) with each diverged run given its task's floor as held-out accuracy
    (SOLVED_METRIC), where it has none and the task has a floor; the `diverged` rows stay."""
    if df.empty or DIVERGED_METRIC not in set(df["metric"]):
        return df
    key = ["condition", "task", "seed"]
    marked = df[(df["metric"] == DIVERGED_METRIC) & (pd.to_numeric(df["value"]) == 1)]
    scored = df[df["metric"] == SOLVED_METRIC].set_index(key).index
    added = marked[~marked.set_index(key).index.isin(scored)]
    added = added[added["task"].astype(str).isin(OUTCOMES)].copy()
    added["metric"] = SOLVED_METRIC
    added["value"] = [OUTCOMES[str(t)].floor for t in added["task"]]
    return pd.concat([df, added], ignore_index=True) if len(added) else df


def without_markers(df: pd.DataFrame) -> pd.DataFrame:
    """The measures only: `df` without its `diverged` rows."""
    return df[df["metric"] != DIVERGED_METRIC].reset_index(drop=True)


def diverged_count(df: pd.DataFrame, task: str, condition: str) -> int:
    """How many of `condition`'s runs of `task` diverged."""
    rows = df[
        (df["metric"] == DIVERGED_METRIC) & (df["task"] == task) & (df["condition"] == condition)
    ]
    return int((pd.to_numeric(rows["value"]) == 1).sum())
