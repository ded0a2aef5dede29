"""The statistics of the replication document: the paper's claims as explicit tests, each
experiment against another (per task and variant, pooled van Elteren), the deviation and
positive-only comparisons, and which experiment plays which role. Numbers only; the
markdown is `replication.py`'s.

Longer than 400 lines on purpose: one family of tests (the claims, the matched
comparisons, the pooled van Elteren statistic and the roles they apply to) that share their
helpers; each test is its own function."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sst

from ..priors.conditions import CORRECTED_SWITCHES, FIDELITY_SWITCHES
from ..priors.presets import PAPER_2026_NAMES
from ..stats.inference import holm, van_elteren

ACCURACY = "test_acc"
TRAIN_ACCURACY = "train_acc"
MEASURES = [
    ("test_acc", "held-out acc."),
    ("train_acc", "training acc."),
    ("entropy_kde", "entropy (bits)"),
    ("modularity_cnm", "modularity Q"),
    ("small_world_sigma", "small-world σ"),
    ("assortativity", "assortativity"),
]
MEASURE_LABEL = dict(MEASURES)
DEVIATION_METRICS = ["test_acc", "entropy_kde", "modularity_cnm", "small_world_sigma"]
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
    sel = df[(df["task"] == task) & (df["condition"] == condition) & (df["metric"] == metric)][
        "value"
    ]
    v = sel.to_numpy(dtype=float)
    return v[np.isfinite(v)]


def mwu(a: np.ndarray, b: np.ndarray, alternative: str) -> tuple[float, float]:
    """(U, p) of scipy's Mann–Whitney U for a against b; p = 1 where all values are equal,
    NaN where a side is empty."""
    if not len(a) or not len(b):
        return float("nan"), float("nan")
    if np.ptp(np.concatenate([a, b])) == 0:
        return len(a) * len(b) / 2.0, 1.0
    res = sst.mannwhitneyu(a, b, alternative=alternative)
    return float(res.statistic), float(res.pvalue)


def with_holm(
    table: pd.DataFrame, columns: tuple[str, ...] = ("p",), by: str | None = None
) -> pd.DataFrame:
    """Holm-adjusted copies (`<col>_holm`) of p-value columns over the table's finite rows,
    separately within each value of column `by` when given."""
    groups = (
        [table.index]
        if by is None or table.empty
        else [g.index for _, g in table.groupby(by, sort=False)]
    )
    for col in columns:
        out = pd.Series(np.nan, index=table.index)
        for idx in groups:
            p = table.loc[idx, col].to_numpy(float)
            ok = np.isfinite(p)
            out.loc[idx[ok]] = holm(p[ok])
        table[f"{col}_holm"] = out.to_numpy()
    return table


def conditions_in(df: pd.DataFrame) -> list[str]:
    present = set(df["condition"])
    return [c for c in PAPER_ORDER if c in present] + sorted(present - set(PAPER_ORDER))


def seeds_per_variant(df: pd.DataFrame) -> int:
    counts = df[df["metric"] == ACCURACY].groupby(["task", "condition"])["seed"].nunique()
    return int(counts.min()) if len(counts) else 0


def claim_table(df: pd.DataFrame, claim: Claim, tasks: list[str]) -> pd.DataFrame:
    """One row per task x comparison: n, means, U and p of the claim's test, Holm p (within
    the claim). Equivalence claims also carry the two-sided difference test (p_diff) and the
    TOST p (larger of the two one-sided tests against -MARGIN and +MARGIN)."""
    rows = []
    for task in tasks:
        for c in claim.comparisons:
            a, b = values_of(df, task, c.a, c.metric), values_of(df, task, c.b, c.metric)
            row: dict[str, Any] = dict(
                task=task,
                a=c.a,
                b=c.b,
                metric=c.metric,
                n_a=len(a),
                n_b=len(b),
                mean_a=float(a.mean()) if len(a) else float("nan"),
                mean_b=float(b.mean()) if len(b) else float("nan"),
            )
            if claim.kind == "greater":
                row["U"], row["p"] = mwu(a, b, "greater")
            else:
                row["U"], row["p_diff"] = mwu(a, b, "two-sided")
                _, p_low = mwu(a + MARGIN, b, "greater")  # a - b > -MARGIN
                _, p_high = mwu(a - MARGIN, b, "less")  # a - b < +MARGIN
                row["p"] = max(p_low, p_high)
            rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    return with_holm(out, ("p", "p_diff") if claim.kind == "equal" else ("p",))


def pooled_claim_test(df: pd.DataFrame, claim: Claim, tasks: list[str]) -> tuple[float, float]:
    """(z, p) of one van Elteren test over every task x comparison of the claim as strata:
    one-sided (a > b) for 'greater' claims, two-sided (any difference) for 'equal' ones."""
    strata = [
        (values_of(df, t, c.a, c.metric), values_of(df, t, c.b, c.metric))
        for t in tasks
        for c in claim.comparisons
    ]
    return van_elteren(strata, "greater" if claim.kind == "greater" else "two-sided")


def verdict(claim: Claim, table: pd.DataFrame, pooled_p: float | None = None) -> str:
    """'holds' / 'partly holds' / 'holds when pooled' / 'does not hold' / 'not shown' /
    'not tested', over all tasks and comparisons of a claim. `pooled_p` (the claim's van
    Elteren test) decides where no comparison is significant alone: at 5 seeds a single
    comparison needs near-complete separation, the pooled test does not."""
    tested = table.dropna(subset=["p_holm"]) if len(table) else table
    if tested.empty:
        return "not tested (no data)"
    total = len(tested)
    pooled = pooled_p is not None and math.isfinite(pooled_p) and pooled_p < ALPHA
    if claim.kind == "equal":
        differ = int((tested["p_diff_holm"] < ALPHA).sum())
        equivalent = int((tested["p_holm"] < ALPHA).sum())
        if differ:
            return (
                f"does not hold ({differ} of {total} comparisons differ, Holm-corrected p < "
                f"{ALPHA})"
            )
        if pooled:
            return (
                f"does not hold when pooled (0 of {total} comparisons differ alone; the pooled "
                f"van Elteren test finds a difference, p < {ALPHA})"
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
    if significant == 0 and pooled:
        return (
            f"holds when pooled (0 of {total} comparisons significant alone; pooled van Elteren p "
            f"< {ALPHA})"
        )
    if significant == 0:
        return f"does not hold (0 of {total} comparisons significant)"
    return f"partly holds ({significant} of {total} comparisons significant)"


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    table: pd.DataFrame
    z: float  # pooled van Elteren test over the claim's comparisons
    p: float

    @property
    def verdict(self) -> str:
        return verdict(self.claim, self.table, self.p)


def claim_results(df: pd.DataFrame) -> list[ClaimResult]:
    """Every claim tested on one experiment's table, over all its tasks."""
    tasks = sorted(df["task"].unique())
    return [
        ClaimResult(c, claim_table(df, c, tasks), *pooled_claim_test(df, c, tasks)) for c in CLAIMS
    ]


def compare_experiments(
    first: pd.DataFrame,
    second: pd.DataFrame,
    tasks: list[str],
    pairs: list[tuple[str, str]],
    metrics: list[str],
) -> pd.DataFrame:
    """Per task x (condition in first, condition in second) x metric: means, second minus
    first, two-sided Mann–Whitney U; Holm within each metric."""
    rows = []
    for task in tasks:
        for cond_a, cond_b in pairs:
            for metric in metrics:
                a, b = (
                    values_of(first, task, cond_a, metric),
                    values_of(second, task, cond_b, metric),
                )
                if not len(a) or not len(b):
                    continue
                u, p = mwu(b, a, "two-sided")
                rows.append(
                    dict(
                        task=task,
                        condition=cond_a,
                        metric=metric,
                        first=a,
                        second=b,
                        difference=float(b.mean() - a.mean()),
                        U=u,
                        p=p,
                    )
                )
    return with_holm(
        pd.DataFrame(
            rows, columns=["task", "condition", "metric", "first", "second", "difference", "U", "p"]
        ),
        by="metric",
    )


def pooled_table(table: pd.DataFrame, strata: str) -> pd.DataFrame:
    """Per metric (and task, when strata are the variants): one van Elteren test of the
    second experiment against the first, stratified by `strata` ('task' or 'condition');
    Holm over the table."""
    keys = ["metric"] if strata == "task" else ["metric", "task"]
    rows = []
    for key, g in table.groupby(keys, sort=False):
        z, p = van_elteren([(r.second, r.first) for r in g.itertuples()])
        key = key if isinstance(key, tuple) else (key,)
        rows.append(
            dict(
                zip(keys, key, strict=True),
                strata=len(g),
                diff=float(np.mean(g["difference"])),
                z=z,
                p=p,
            )
        )
    return with_holm(pd.DataFrame(rows, columns=[*keys, "strata", "diff", "z", "p"]))


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


def positive_table(free: pd.DataFrame, positive: pd.DataFrame, tasks: list[str]) -> pd.DataFrame:
    """Positive-only against free sign per task and bio-initialised variant: held-out means,
    difference, one-sided MWU for 'positive is worse' and the non-inferiority test
    (positive + MARGIN > free), each Holm-corrected over the table."""
    rows = []
    for task in tasks:
        for cond in BIO:
            a, b = (
                values_of(free, task, cond, ACCURACY),
                values_of(positive, task, cond + POSITIVE_SUFFIX, ACCURACY),
            )
            if not len(a) or not len(b):
                continue
            _, p_worse = mwu(b, a, "less")
            _, p_noninf = mwu(b + MARGIN, a, "greater")
            rows.append(
                dict(
                    task=task,
                    condition=cond,
                    free=a,
                    positive=b,
                    difference=float(b.mean() - a.mean()),
                    p_worse=p_worse,
                    p_noninferior=p_noninf,
                )
            )
    return with_holm(
        pd.DataFrame(
            rows,
            columns=[
                "task",
                "condition",
                "free",
                "positive",
                "difference",
                "p_worse",
                "p_noninferior",
            ],
        ),
        ("p_worse", "p_noninferior"),
    )


def positive_verdict(table: pd.DataFrame) -> str:
    tested = table.dropna(subset=["p_noninferior_holm"])
    if tested.empty:
        return "not tested (no data)"
    total = len(tested)
    worse = int((tested["p_worse_holm"] < ALPHA).sum())
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
            dev, corrected = experiments[label], experiments[base]
            table = compare_experiments(
                corrected,
                dev,
                common_tasks(dev, corrected),
                [(c, c) for c in conditions_in(dev)],
                DEVIATION_METRICS,
            )
            results.append(
                DeviationResult(
                    deviation_switch(meta.get(label, {})) or "",
                    label,
                    base,
                    dataset,
                    table,
                    pooled_table(table, "task"),
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
    corrected default), and positive."""
    roles: dict[str, list[str]] = {"grid": [], "deviation": [], "positive": []}
    for label in experiments:
        if label == "positive":
            roles["positive"].append(label)
        elif (
            label not in ("paper", "corrected")
            and deviation_switch(meta.get(label, {})) is not None
        ):
            roles["deviation"].append(label)
        else:
            roles["grid"].append(label)
    return roles


def fidelity_of(label: str, meta: dict[str, dict[str, Any]]) -> str | None:
    return label if label in ("paper", "corrected") else meta.get(label, {}).get("fidelity")


def dataset_of(label: str, meta: dict[str, dict[str, Any]]) -> str | None:
    return meta.get(label, {}).get("dataset")
