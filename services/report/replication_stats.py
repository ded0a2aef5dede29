"""The statistics of the replication document: the paper's claims as explicit tests, each
experiment against another (per task and variant), the deviation and positive-only
comparisons, and which experiment plays which role. Numbers only; the markdown is
`replication.py`'s.

Runs with the same seed on the same dataset are matched pairs (same data, noise and initial
draws), within an experiment and across its fidelity and deviation siblings: they are compared
with paired tests (`stats/paired.py`), and each row names its test. A claim is tested per
task; pooling over tasks only says whether the effect is consistent in direction.

Longer than 400 lines on purpose: one family of tests (the claims, the matched comparisons,
the pooled direction and the roles they apply to) that share their helpers; each test is its
own function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..priors.conditions import CORRECTED_SWITCHES, FIDELITY_SWITCHES
from ..priors.presets import PAPER_2026_NAMES
from ..stats.inference import with_holm
from ..stats.outcomes import SOLVED_METRIC
from ..stats.paired import (
    by_seed,
    compare_by_seed,
    compare_solved,
    on_shared_seeds,
    pooled_by_seed,
)

ACCURACY = SOLVED_METRIC
TRAIN_ACCURACY = "train_acc"
SIGMA_RELEASED = "small_world_sigma_released"
MEASURES = [
    ("test_acc", "held-out acc."),
    ("train_acc", "training acc."),
    ("entropy_kde", "entropy (bits)"),
    ("modularity_cnm", "modularity Q"),
    ("small_world_sigma", "small-world σ (density-matched nulls)"),
    (SIGMA_RELEASED, "small-world σ (released code's nulls)"),
    ("assortativity", "assortativity"),
]
MEASURE_LABEL = dict(MEASURES)
DEVIATION_METRICS = [
    "test_acc",
    "entropy_kde",
    "modularity_cnm",
    "small_world_sigma",
    SIGMA_RELEASED,
]
PAPER_ORDER = list(PAPER_2026_NAMES)
BIO = [c for c in PAPER_ORDER if c.startswith(("W*", "W!"))]
POSITIVE_SUFFIX = (
    "+"  # the paper-2026-positive preset's names: W*D*C+ is W*D*C with non-negative weights
)
ALPHA = 0.05
MARGIN = 0.05  # accuracy margin of the equivalence and non-inferiority tests (5 points)


@dataclass(frozen=True)
class Comparison:
    a: str  # condition expected larger (or the first of an equivalence pair)
    b: str
    metric: str = ACCURACY


@dataclass(frozen=True)
class Claim:
    key: str
    text: str
    comparisons: tuple[Comparison, ...]
    kind: str = "greater"  # "greater": a > b one-sided; "equal": equivalent within MARGIN (TOST)


CLAIMS = (
    Claim(
        "w_star_beats_w",
        "Functional init (W*) beats the baseline init (W)",
        (Comparison("W*D*C", "WD*C"), Comparison("W*D*C*", "WD*C*")),
    ),
    Claim(
        "w_perm_beats_w",
        "Permuted functional init (W!) beats the baseline init (W)",
        (Comparison("W!D*C", "WD*C"), Comparison("W!D*C*", "WD*C*")),
    ),
    Claim(
        "w_star_equals_w_perm",
        "W* and W! do not differ",
        (Comparison("W*D*C", "W!D*C"), Comparison("W*D*C*", "W!D*C*")),
        kind="equal",
    ),
    Claim(
        "real_space_beats_grid",
        "Real space (D*) beats grid space (D)",
        (Comparison("WD*C", "WDC"), Comparison("WD*", "WD")),
    ),
    Claim(
        "direct_c_modular",
        "Direct communicability (C) makes networks more modular",
        (Comparison("WD*C", "WD*", "modularity_cnm"), Comparison("WDC", "WD", "modularity_cnm")),
    ),
    Claim(
        "direct_c_small_world",
        "Direct communicability (C) makes networks more small-world",
        (
            Comparison("WD*C", "WD*", "small_world_sigma"),
            Comparison("WDC", "WD", "small_world_sigma"),
        ),
    ),
)


POSITIVE_CLAIM = "Positive-only weights keep bio-initialised networks working"


def values_of(df: pd.DataFrame, task: str, condition: str, metric: str) -> np.ndarray:
    return by_seed(df, task, condition, metric).to_numpy(float)


def measures_in(df: pd.DataFrame) -> list[str]:
    """The document's measures that this experiment reports (newer metrics, such as σ against
    the released code's nulls, are absent from older tables: their columns are left out)."""
    present = set(df["metric"])
    return [m for m, _ in MEASURES if m in present]


def conditions_in(df: pd.DataFrame) -> list[str]:
    return in_paper_order(set(df["condition"]))


def in_paper_order(names: set[str]) -> list[str]:
    """The paper's variants in its order, then any other names sorted."""
    return [c for c in PAPER_ORDER if c in names] + sorted(names - set(PAPER_ORDER))


def seeds_per_variant(df: pd.DataFrame) -> int:
    counts = df[df["metric"] == ACCURACY].groupby(["task", "condition"])["seed"].nunique()
    return int(counts.min()) if len(counts) else 0


def _solved_cells(
    task: str, metric: str, a: pd.Series, b: pd.Series, alternative: str
) -> dict[str, Any]:
    """Solved counts of a and b and McNemar's (or Fisher's) exact p, on accuracy only."""
    hits = compare_solved(task, a, b, alternative) if metric == ACCURACY else None
    if hits is None:
        return dict(solved_a=None, solved_b=None, solved_test=None, p_solved=float("nan"))
    return dict(
        solved_a=f"{hits.solved_a}/{hits.n_a}",
        solved_b=f"{hits.solved_b}/{hits.n_b}",
        solved_test=hits.test,
        p_solved=hits.p,
    )


def claim_table(df: pd.DataFrame, claim: Claim, tasks: list[str]) -> pd.DataFrame:
    """One row per task x comparison: the test used (paired by seed where the runs share
    seeds), n, means, statistic and p of the claim's test, and on accuracy the solved counts
    with McNemar's exact p; Holm within each task (each task is its own claim). Equivalence
    claims also carry the two-sided difference test (p_diff) and the TOST p (larger of the
    two one-sided tests against -MARGIN and +MARGIN)."""
    rows = []
    for task in tasks:
        for c in claim.comparisons:
            a, b = by_seed(df, task, c.a, c.metric), by_seed(df, task, c.b, c.metric)
            alternative = "greater" if claim.kind == "greater" else "two-sided"
            if claim.kind == "greater":
                res = compare_by_seed(a, b, "greater")
                extra: dict[str, Any] = {"p": res.p}
            else:
                res = compare_by_seed(a, b, "two-sided")
                low = compare_by_seed(a, b, "greater", shift=MARGIN)  # a - b > -MARGIN
                high = compare_by_seed(a, b, "less", shift=-MARGIN)  # a - b < +MARGIN
                extra = {"p_diff": res.p, "p": max(low.p, high.p)}
            rows.append(
                dict(
                    task=task,
                    a=c.a,
                    b=c.b,
                    metric=c.metric,
                    test=res.test,
                    n_a=res.n_a,
                    n_b=res.n_b,
                    n_pairs=res.n_pairs,
                    mean_a=float(a.mean()) if len(a) else float("nan"),
                    mean_b=float(b.mean()) if len(b) else float("nan"),
                    statistic=res.statistic,
                    **extra,
                    **_solved_cells(task, c.metric, a, b, alternative),
                )
            )
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    columns = ("p", "p_diff", "p_solved") if claim.kind == "equal" else ("p", "p_solved")
    return with_holm(out, columns, by="task")


@dataclass(frozen=True)
class Direction:
    """Across tasks, direction only (never a verdict): how many comparisons point the
    claimed way, and one stratified test over all of them."""

    agree: int
    total: int
    test: str
    statistic: float
    p: float


def direction(df: pd.DataFrame, claim: Claim, tasks: list[str]) -> Direction:
    """'greater' claims: comparisons with mean a > mean b, one-sided pooled test; 'equal'
    claims: comparisons whose means differ by less than MARGIN, two-sided pooled test."""
    pairs = [
        (by_seed(df, t, c.a, c.metric), by_seed(df, t, c.b, c.metric))
        for t in tasks
        for c in claim.comparisons
    ]
    pairs = [(a, b) for a, b in pairs if len(a) and len(b)]
    diffs = [float(a.mean() - b.mean()) for a, b in pairs]
    if claim.kind == "greater":
        agree = sum(d > 0 for d in diffs)
        test, stat, p = pooled_by_seed(pairs, "greater")
    else:
        agree = sum(abs(d) < MARGIN for d in diffs)
        test, stat, p = pooled_by_seed(pairs, "two-sided")
    return Direction(agree, len(pairs), test, stat, p)


def verdict(claim: Claim, table: pd.DataFrame) -> str:
    """'holds' / 'partly holds' / 'not shown' / 'does not hold' / 'not tested' over the
    given comparisons (one task's rows: a claim is judged per task). No significant
    comparison is 'not shown', not 'does not hold': at a few seeds the paired test cannot
    reach significance whatever the effect. 'Does not hold' needs evidence against: an
    equivalence claim whose pair differs significantly."""
    tested = table.dropna(subset=["p_holm"]) if len(table) else table
    if tested.empty:
        return "not tested (no data)"
    total = len(tested)
    if claim.kind == "equal":
        differ = int((tested["p_diff_holm"] < ALPHA).sum())
        equivalent = int((tested["p_holm"] < ALPHA).sum())
        if differ:
            return (
                f"does not hold ({differ} of {total} comparisons differ, Holm-corrected p < "
                f"{ALPHA})"
            )
        if equivalent == total:
            return (
                f"holds (all {total} comparisons equivalent within ±{MARGIN}, TOST Holm p < "
                f"{ALPHA})"
            )
        return (
            f"not shown (no comparison differs, but only {equivalent} of {total} are shown "
            f"equivalent within ±{MARGIN})"
        )
    significant = int((tested["p_holm"] < ALPHA).sum())
    if significant == total:
        return f"holds ({total} of {total} comparisons, Holm-corrected p < {ALPHA})"
    if significant == 0:
        return f"not shown (0 of {total} comparisons significant)"
    return f"partly holds ({significant} of {total} comparisons significant)"


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    table: pd.DataFrame
    direction: Direction

    @property
    def verdicts(self) -> dict[str, str]:
        """Per task, that task's verdict."""
        if self.table.empty:
            return {}
        return {
            str(task): verdict(self.claim, rows)
            for task, rows in self.table.groupby("task", sort=True)
        }


def claim_results(df: pd.DataFrame) -> list[ClaimResult]:
    """Every claim tested on one experiment's table, per task."""
    tasks = sorted(df["task"].unique())
    return [ClaimResult(c, claim_table(df, c, tasks), direction(df, c, tasks)) for c in CLAIMS]


def compare_experiments(
    first: pd.DataFrame,
    second: pd.DataFrame,
    tasks: list[str],
    pairs: list[tuple[str, str]],
    metrics: list[str],
) -> pd.DataFrame:
    """Per task x (condition in first, condition in second) x metric: the runs by seed,
    second minus first in the mean, the two-sided test (paired by seed where they share
    seeds) and on accuracy solved / not solved; Holm within each metric."""
    rows = []
    for task in tasks:
        for cond_a, cond_b in pairs:
            for metric in metrics:
                a, b = on_shared_seeds(
                    by_seed(first, task, cond_a, metric), by_seed(second, task, cond_b, metric)
                )
                if not len(a) or not len(b):
                    continue
                res = compare_by_seed(b, a, "two-sided")
                solved = _solved_cells(task, metric, b, a, "two-sided")
                rows.append(
                    dict(
                        task=task,
                        condition=cond_a,
                        metric=metric,
                        first=a,
                        second=b,
                        difference=float(b.mean() - a.mean()),
                        test=res.test,
                        statistic=res.statistic,
                        p=res.p,
                        solved_first=solved["solved_b"],
                        solved_second=solved["solved_a"],
                        p_solved=solved["p_solved"],
                    )
                )
    columns = ["task", "condition", "metric", "first", "second", "difference", "test",
               "statistic", "p", "solved_first", "solved_second", "p_solved"]  # fmt: skip
    return with_holm(pd.DataFrame(rows, columns=columns), ("p", "p_solved"), by="metric")


def pooled_table(table: pd.DataFrame, strata: str) -> pd.DataFrame:
    """Per metric (and task, when strata are the variants): one stratified test of the second
    experiment against the first over `strata` ('task' or 'condition'), paired where the runs
    are; Holm over the table. Over tasks it says only whether a change is consistent in
    direction; the per-task rows are the findings."""
    keys = ["metric"] if strata == "task" else ["metric", "task"]
    rows = []
    for key, g in table.groupby(keys, sort=False):
        test, stat, p = pooled_by_seed([(r.second, r.first) for r in g.itertuples()])
        key = key if isinstance(key, tuple) else (key,)
        rows.append(
            dict(
                zip(keys, key, strict=True),
                strata=len(g),
                diff=float(np.mean(g["difference"])),
                test=test,
                statistic=stat,
                p=p,
            )
        )
    return with_holm(
        pd.DataFrame(rows, columns=[*keys, "strata", "diff", "test", "statistic", "p"])
    )


def deviation_switch(meta: dict[str, Any]) -> str | None:
    """The one switch in which an experiment's fidelity differs from the corrected default."""
    switches = meta.get("fidelity_switches")
    if not isinstance(switches, dict):
        return None
    differ = [
        k
        for k in FIDELITY_SWITCHES
        if bool(switches.get(k, CORRECTED_SWITCHES[k])) != CORRECTED_SWITCHES[k]
    ]
    return differ[0] if len(differ) == 1 else None


def free_sign_of(name: str) -> str | None:
    """The free-sign variant a positive-only one pairs with (W*D*C+ -> W*D*C); None for a
    name without the positive suffix."""
    return name.removesuffix(POSITIVE_SUFFIX) if name.endswith(POSITIVE_SUFFIX) else None


def positive_table(free: pd.DataFrame, positive: pd.DataFrame, tasks: list[str]) -> pd.DataFrame:
    """Positive-only against free sign per task and variant, each X+ of `positive` against X
    of `free` (the same seeds: paired): held-out accuracy by seed, difference, the one-sided
    test for 'positive is worse', the non-inferiority test (positive + MARGIN > free) and
    McNemar's exact test for 'positive solves less often'. Holm-corrected within the task,
    the bio-initialised variants (the claim's family, `bio`) apart from the others, so that
    adding the non-bio variants leaves the claim's tests as they were."""
    pairs = in_paper_order({n for c in set(positive["condition"]) if (n := free_sign_of(c))})
    rows = []
    for task in tasks:
        for cond in pairs:
            a, b = on_shared_seeds(
                by_seed(free, task, cond, ACCURACY),
                by_seed(positive, task, cond + POSITIVE_SUFFIX, ACCURACY),
            )
            if not len(a) or not len(b):
                continue
            worse = compare_by_seed(b, a, "less")
            solved = _solved_cells(task, ACCURACY, b, a, "less")
            rows.append(
                dict(
                    task=task,
                    condition=cond,
                    bio=cond in BIO,
                    free=a,
                    positive=b,
                    difference=float(b.mean() - a.mean()),
                    test=worse.test,
                    p_worse=worse.p,
                    p_noninferior=compare_by_seed(b, a, "greater", shift=MARGIN).p,
                    solved_free=solved["solved_b"],
                    solved_positive=solved["solved_a"],
                    p_solved_worse=solved["p_solved"],
                )
            )
    columns = ["task", "condition", "bio", "free", "positive", "difference", "test", "p_worse",
               "p_noninferior", "solved_free", "solved_positive", "p_solved_worse"]  # fmt: skip
    return with_holm(
        pd.DataFrame(rows, columns=columns),
        ("p_worse", "p_noninferior", "p_solved_worse"),
        by=["task", "bio"],
    )


def positive_verdict(table: pd.DataFrame) -> str:
    """The claim 'positive-only weights keep bio-initialised networks working', from the
    bio-initialised rows of a `positive_table` (the other variants are shown, not judged)."""
    tested = table[table["bio"].astype(bool)].dropna(subset=["p_noninferior_holm"])
    if tested.empty:
        return "not tested (no data)"
    total = len(tested)
    worse = int(((tested["p_worse_holm"] < ALPHA) | (tested["p_solved_worse_holm"] < ALPHA)).sum())
    fine = int((tested["p_noninferior_holm"] < ALPHA).sum())
    if worse:
        return (
            f"does not hold ({worse} of {total} comparisons significantly worse with positive "
            "weights)"
        )
    if fine == total:
        return (
            f"holds ({total} of {total} comparisons non-inferior within {MARGIN}, Holm-corrected p "
            f"< {ALPHA})"
        )
    return (
        f"not shown (none significantly worse, {fine} of {total} shown non-inferior within "
        f"{MARGIN})"
    )


@dataclass
class DeviationResult:
    """One switch alone against the corrected grid of its dataset."""

    switch: str
    label: str  # the deviation experiment
    base: str  # the corrected grid it is compared with
    dataset: str | None
    table: pd.DataFrame  # compare_experiments(base, label) over DEVIATION_METRICS
    pooled: pd.DataFrame  # pooled_table(table, "task")


def corrected_bases(roles: dict[str, list[str]], meta: dict[str, dict[str, Any]]) -> list[str]:
    bases = [g for g in roles["grid"] if fidelity_of(g, meta) == "corrected"]
    return sorted(
        bases, key=lambda g: g != "corrected"
    )  # the main `corrected` first, else in order


def deviation_results(
    experiments: dict[str, pd.DataFrame],
    meta: dict[str, dict[str, Any]],
    roles: dict[str, list[str]],
) -> list[DeviationResult]:
    results = []
    for base in corrected_bases(roles, meta):
        dataset = dataset_of(base, meta)
        for label in roles["deviation"]:
            if dataset_of(label, meta) != dataset:
                continue
            results.append(
                _against(
                    deviation_switch(meta.get(label, {})) or "",
                    label,
                    base,
                    dataset,
                    experiments,
                )
            )
    return results


def common_tasks(*frames: pd.DataFrame) -> list[str]:
    common = set(frames[0]["task"])
    for f in frames[1:]:
        common &= set(f["task"])
    return sorted(common)


def classify(
    experiments: dict[str, pd.DataFrame], meta: dict[str, dict[str, Any]]
) -> dict[str, list[str]]:
    """Labels by role: grids (full measure sections, claims), deviations (one switch off the
    corrected default), positive-only experiments and extensions."""
    roles: dict[str, list[str]] = {"grid": [], "deviation": [], "positive": [], "extension": []}
    for label in experiments:
        if is_positive(label, experiments[label]):
            roles["positive"].append(label)
        elif (
            label not in ("paper", "corrected")
            and deviation_switch(meta.get(label, {})) is not None
        ):
            roles["deviation"].append(label)
        elif _is_extension(label, experiments, meta):
            roles["extension"].append(label)
        else:
            roles["grid"].append(label)
    return roles


POSITIVE_LABELS = {"positive": "corrected", "positive-paper": "paper"}


def is_positive(label: str, df: pd.DataFrame) -> bool:
    """A positive-only experiment (Table 3): labelled `positive` or `positive-paper`, or every
    variant a positive-only one (paper-2026-positive's X+), whatever its label."""
    names = set(df["condition"])
    return label in POSITIVE_LABELS or (
        label not in ("paper", "corrected")
        and bool(names)
        and all(free_sign_of(str(c)) for c in names)
    )


@dataclass
class PositiveResult:
    """One positive-only experiment against the free-sign grid of its fidelity."""

    label: str  # the positive-only experiment
    base: str  # `corrected` or `paper`
    table: pd.DataFrame  # positive_table(base, label)


def positive_base(label: str, meta: dict[str, dict[str, Any]]) -> str | None:
    """The grid a positive-only experiment pairs with: the one of its fidelity, `paper` or
    `corrected` (from its meta, else from its label: `positive-paper` is at paper fidelity);
    None at any other fidelity, whose runs pair with neither."""
    fidelity = meta.get(label, {}).get("fidelity") or POSITIVE_LABELS.get(label, "corrected")
    return fidelity if fidelity in ("paper", "corrected") else None


def positive_results(
    experiments: dict[str, pd.DataFrame],
    meta: dict[str, dict[str, Any]],
    roles: dict[str, list[str]],
) -> list[PositiveResult]:
    """Each positive-only experiment whose grid is present (and on the same dataset, where both
    name theirs) against it, X+ with X, paired by seed."""
    results = []
    for label in roles["positive"]:
        base = positive_base(label, meta)
        if base is None or base not in experiments:
            continue
        datasets = {dataset_of(label, meta), dataset_of(base, meta)} - {None}
        if len(datasets) > 1:
            continue
        positive, free = experiments[label], experiments[base]
        table = positive_table(free, positive, common_tasks(positive, free))
        results.append(PositiveResult(label, base, table))
    return results


def _is_extension(
    label: str, experiments: dict[str, pd.DataFrame], meta: dict[str, dict[str, Any]]
) -> bool:
    """A corrected-fidelity experiment on some of `corrected`'s variants (by name) and its
    dataset, with the conditions changed (e.g. `override: {emd_weighting: true}`): read as a
    change to those variants and compared with them, as a deviation is."""
    if label in ("paper", "corrected") or "corrected" not in experiments:
        return False
    if fidelity_of(label, meta) != "corrected" or dataset_of(label, meta) != dataset_of(
        "corrected", meta
    ):
        return False
    own, base = set(conditions_in(experiments[label])), set(conditions_in(experiments["corrected"]))
    return own < base


def extension_results(
    experiments: dict[str, pd.DataFrame], roles: dict[str, list[str]]
) -> list[DeviationResult]:
    """Each extension against the same variants and seeds of `corrected`."""
    return [
        _against("", label, "corrected", None, experiments) for label in roles.get("extension", [])
    ]


def _against(
    switch: str,
    label: str,
    base: str,
    dataset: str | None,
    experiments: dict[str, pd.DataFrame],
) -> DeviationResult:
    """`label`'s variants against the same variants and seeds of `base`."""
    other, corrected = experiments[label], experiments[base]
    table = compare_experiments(
        corrected,
        other,
        common_tasks(other, corrected),
        [(c, c) for c in conditions_in(other)],
        DEVIATION_METRICS,
    )
    return DeviationResult(switch, label, base, dataset, table, pooled_table(table, "task"))


def fidelity_of(label: str, meta: dict[str, dict[str, Any]]) -> str | None:
    return label if label in ("paper", "corrected") else meta.get(label, {}).get("fidelity")


def dataset_of(label: str, meta: dict[str, dict[str, Any]]) -> str | None:
    return meta.get(label, {}).get("dataset")
