"""The numbers of docs/findings.md: which experiment is which control (or sweep), each control
against the variant the paper credits and the baseline per task with a verdict, and a sweep's
best point per task and condition family. The markdown is `findings.py`'s.

Input tables are tidy [condition, task, seed, metric, value] (a sweep's add `family` and one
column per swept field), one per labelled experiment, with the meta `client/replication.py`
saves. Runs with the same seed on the same dataset are matched pairs, within an experiment and
across experiments with the same data and settings (`compatible`): a condition a control
experiment does not train itself (the baseline W of the geometry controls, the free-sign
variants of the sign controls) is taken from such an experiment, paired by seed."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..model.config import ModelConfig
from ..priors.presets import CONTROLS_FUNCTIONAL, CONTROLS_GEOMETRY, PAPER_2026_NAMES
from ..stats.inference import with_holm
from ..stats.outcomes import SOLVED_METRIC, clopper_pearson, solved
from ..stats.paired import by_seed, compare_by_seed, compare_solved
from ..stats.summary import mean_interval
from ..training.config import TrainingConfig

ACCURACY = SOLVED_METRIC
ALPHA = 0.05
# Held-out sets that differ from training (services/training/evaluation.py), beside recall.
GENERALISATION = [
    (ACCURACY, "recall"),
    ("test_acc_noisy", "input noise"),
    ("test_acc_jitter", "timing jitter"),
    ("test_acc_unseen_coherence", "unseen coherences"),
]
SIGN_SUFFIXES = {"(dale)": "Dale's law (E/I columns)", "+": "positive-only weights"}

SURVIVES = "the gain survives this control"
SPECIFIC = "the gain is specific"
NO_GAIN = "no gain to test"
UNDECIDED = "undecided"
NOT_TESTED = "not tested"

# The experiments the findings are about: label -> (spec that produces it, what it is).
EXPECTED = {
    "geometry-6_6_2": ("examples/controls/geometry-6_6_2.yaml", "geometry controls"),
    "functional-6_6_2": ("examples/controls/functional-6_6_2.yaml", "functional-init controls"),
    "dale-6_6_2": ("examples/controls/dale-6_6_2.yaml", "sign controls (Dale's law)"),
    "positive-6_6_2": (
        "examples/replication/positive-6_6_2.yaml",
        "sign controls (positive-only weights)",
    ),
    "paper-6_6_2": (
        "examples/paper-2026-corrected.yaml",
        "reference grid: the baseline W and the free-sign variants",
    ),
    "geometry-4_7_2": ("examples/controls/geometry-4_7_2.yaml", "geometry controls, field 4_7_2"),
    "functional-4_7_2": (
        "examples/controls/functional-4_7_2.yaml",
        "functional-init controls, field 4_7_2",
    ),
    "dale-4_7_2": ("examples/controls/dale-4_7_2.yaml", "sign controls (Dale's law), field 4_7_2"),
    "positive-4_7_2": (
        "examples/controls/positive-4_7_2.yaml",
        "sign controls (positive-only weights), field 4_7_2",
    ),
    "paper-4_7_2": ("examples/controls/paper-4_7_2.yaml", "reference grid, field 4_7_2"),
    "lambda-4_7_2": ("examples/sweeps/lambda-4_7_2.yaml", "λ sweep, field 4_7_2"),
    "lambda-6_6_2": ("examples/sweeps/lambda-6_6_2.yaml", "λ sweep, field 6_6_2"),
}


@dataclass(frozen=True)
class Triple:
    """One control row: the control, the variant the paper credits and the baseline."""

    control: str
    bio: str
    baseline: str


@dataclass(frozen=True)
class ControlKind:
    key: str  # "geometry", "functional", "sign"
    title: str
    question: str
    triples: tuple[Triple, ...]


def _controls_of(preset: dict[str, Any], bio: str, baseline: str) -> tuple[Triple, ...]:
    return tuple(Triple(c, bio, baseline) for c in preset if c != bio)


GEOMETRY = ControlKind(
    "geometry",
    "Geometry controls",
    "Is a real-space gain (WD\\*C: orthogonal init, true soma distances × direct "
    "communicability, over the baseline W) the cortex's geometry, any block structure, or any "
    "distances at all?",
    _controls_of(CONTROLS_GEOMETRY, "WD*C", "W"),
)
FUNCTIONAL = ControlKind(
    "functional",
    "Functional-initialisation controls",
    "Which part of the functional matrix does the work? W\\*D\\*C (functional init) against "
    "the same prior with the baseline orthogonal init (WD\\*C), and each substitute init.",
    _controls_of(CONTROLS_FUNCTIONAL, "W*D*C", "WD*C"),
)


def sign_kind(suffix: str) -> ControlKind:
    """Each paper variant X (but the baseline W) under a sign constraint: X<suffix> is the
    control of X (free sign), the baseline is W (free sign)."""
    return ControlKind(
        "sign",
        f"Sign controls: {SIGN_SUFFIXES[suffix]}",
        f"Does each variant's gain over the baseline W survive {SIGN_SUFFIXES[suffix]}? Each "
        f"variant X with free-sign weights is the credited condition, X{suffix} its control.",
        tuple(Triple(x + suffix, x, "W") for x in PAPER_2026_NAMES if x != "W"),
    )


def is_sweep(df: pd.DataFrame) -> bool:
    return "family" in df.columns and bool(df["family"].notna().any())


def control_kind(df: pd.DataFrame) -> ControlKind | None:
    """Which controls an experiment holds, from its conditions (a control condition that is
    not one of the paper's variants); None for a reference grid or a sweep."""
    if is_sweep(df):
        return None
    present = set(df["condition"].astype(str))
    paper = set(PAPER_2026_NAMES)
    for kind, preset in ((GEOMETRY, CONTROLS_GEOMETRY), (FUNCTIONAL, CONTROLS_FUNCTIONAL)):
        if (set(preset) - paper) & present:
            return kind
    for suffix in SIGN_SUFFIXES:
        if any(c.endswith(suffix) and c[: -len(suffix)] in paper for c in present):
            return sign_kind(suffix)
    return None


# What must agree for runs of two experiments to be matched pairs (as client/replication.py's
# merge of seeds; a setting a table does not name counts at its default).
SAME_RUNS = ("dataset", "sampling", "model", "training", "fidelity_switches")
_DEFAULTS = {
    "model": ModelConfig().model_dump(mode="json"),
    "training": TrainingConfig().model_dump(mode="json"),
}


def _filled(key: str, value: Any) -> Any:
    default = _DEFAULTS.get(key)
    return {**default, **value} if isinstance(value, dict) and default else value


def compatible(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two experiments' runs of one seed are matched pairs: same dataset, neurons,
    model, training and fidelity."""
    return all(_filled(k, a.get(k)) == _filled(k, b.get(k)) for k in SAME_RUNS)


@dataclass
class Source:
    """An experiment's own table and the compatible non-sweep tables its missing conditions
    come from (in label order)."""

    label: str
    df: pd.DataFrame
    references: dict[str, pd.DataFrame] = field(default_factory=dict)

    def find(self, task: str, condition: str) -> tuple[pd.Series, str | None]:
        """Held-out accuracy by seed of `condition` on `task`, and the label it came from
        (None: nowhere)."""
        for label, df in [(self.label, self.df), *self.references.items()]:
            s = by_seed(df, task, condition, ACCURACY)
            if len(s):
                return s, label
        return pd.Series(dtype=float), None

    def table(self, label: str | None) -> pd.DataFrame:
        """The table `find` named (this experiment's own for None)."""
        return self.references.get(label, self.df) if label else self.df


def sources(
    experiments: dict[str, pd.DataFrame], meta: dict[str, dict[str, Any]], label: str
) -> Source:
    refs = {
        other: df
        for other, df in sorted(experiments.items())
        if other != label
        and not is_sweep(df)
        and compatible(meta.get(label, {}), meta.get(other, {}))
    }
    return Source(label, experiments[label], refs)


def solved_count(task: str, values: pd.Series) -> tuple[int, int, float, float] | None:
    """(solved, n, low, high) with the exact interval; None where the task has no threshold."""
    hits = solved(task, values.to_numpy(float))
    if hits is None or not len(hits):
        return None
    k, n = int(hits.sum()), len(hits)
    lo, hi = clopper_pearson(k, n)
    return k, n, lo, hi


CONTROL_COLUMNS = [
    "task", "control", "bio", "baseline", "control_from", "bio_from", "baseline_from",
    "n_pairs", "test", "diff_bio", "p_specific", "diff_baseline", "p_control_gain",
    "p_gain", "p_solved_specific", "solved_test",
]  # fmt: skip


def control_table(source: Source, kind: ControlKind) -> pd.DataFrame:
    """Per task and control present: the three one-sided paired tests of held-out accuracy
    (Wilcoxon signed-rank on the seeds all three share; Mann–Whitney U where they share
    none) — bio > baseline (`p_gain`), bio > control (`p_specific`), control > baseline
    (`p_control_gain`) — and McNemar's exact test of bio solving more often than the control;
    `p_specific` and `p_control_gain` Holm-corrected over the controls of the task."""
    rows = []
    tasks = sorted(source.df["task"].astype(str).unique())
    present = set(source.df["condition"].astype(str))
    for task in tasks:
        for t in kind.triples:
            if t.control not in present:
                continue
            control, control_from = source.find(task, t.control)
            if not len(control):
                continue
            bio, bio_from = source.find(task, t.bio)
            base, base_from = source.find(task, t.baseline)
            row: dict[str, Any] = dict(
                task=task, control=t.control, bio=t.bio, baseline=t.baseline,
                control_from=control_from, bio_from=bio_from, baseline_from=base_from,
            )  # fmt: skip
            shared = control.index.intersection(bio.index).intersection(base.index)
            if len(shared):  # the three on the same seeds: every test on the same pairs
                control, bio, base = control.loc[shared], bio.loc[shared], base.loc[shared]
            # Seeds paired in the tests (where the three share none, those bio and control share).
            row["n_pairs"] = len(shared) or len(control.index.intersection(bio.index))
            if len(bio) and len(base):
                gain = compare_by_seed(bio, base, "greater")
                row.update(p_gain=gain.p, test=gain.test)
            if len(bio):
                spec = compare_by_seed(bio, control, "greater")
                row.update(
                    diff_bio=float(control.mean() - bio.mean()), p_specific=spec.p, test=spec.test
                )
                hits = compare_solved(task, bio, control, "greater")
                if hits is not None:
                    row.update(p_solved_specific=hits.p, solved_test=hits.test)
            if len(base):
                lift = compare_by_seed(control, base, "greater")
                row.update(diff_baseline=float(control.mean() - base.mean()), p_control_gain=lift.p)
            rows.append(row)
    out = pd.DataFrame(rows, columns=CONTROL_COLUMNS)
    for col in ("p_gain", "p_specific", "p_control_gain", "p_solved_specific"):
        out[col] = pd.to_numeric(out[col], errors="coerce")
    if out.empty:
        return out.assign(p_specific_holm=[], p_control_gain_holm=[], verdict=[])
    out = with_holm(out, ("p_specific", "p_control_gain"), by="task")
    out["verdict"] = [control_verdict(r) for r in out.itertuples()]
    return out


def control_verdict(row: Any) -> str:
    """The rule the document states (`findings.py`, RULE): at ALPHA, per task and control.

    1. bio > baseline not significant (or untestable): "no gain to test";
    2. else bio > control significant (Holm over the task's controls): "the gain is specific";
    3. else control > baseline significant (Holm likewise): "the gain survives this control";
    4. else: "undecided" (the control is shown neither below bio nor above the baseline)."""
    p_gain = _finite(row.p_gain)
    if p_gain is None:
        missing = row.bio if row.bio_from is None else row.baseline
        return f"{NOT_TESTED} ({missing} not fetched)"
    if p_gain >= ALPHA:
        return NO_GAIN
    specific = _finite(row.p_specific_holm)
    if specific is not None and specific < ALPHA:
        return SPECIFIC
    lift = _finite(row.p_control_gain_holm)
    if lift is not None and lift < ALPHA:
        return SURVIVES
    return UNDECIDED


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


# -- sweeps ----------------------------------------------------------------------------------

BEST_COLUMNS = [
    "task", "family", "condition", "n", "mean", "low", "high", "solved", "solved_n",
    "solved_low", "solved_high", "points",
]  # fmt: skip


def best_points(df: pd.DataFrame) -> pd.DataFrame:
    """Per task and condition family, the sweep point with the highest mean held-out accuracy
    over seeds; ties (to 1e-9) by the larger solved fraction, then by the earlier point in the
    table's order. With its bootstrap interval, solved count and exact interval, and how many
    points the family has. Families sorted by that mean, best first."""
    data = df[df["metric"] == ACCURACY].copy()
    data["value"] = pd.to_numeric(data["value"], errors="coerce")
    data = data[np.isfinite(data["value"].to_numpy(float))]
    rows = []
    for (task, family), g in data.groupby(["task", "family"], sort=True):
        points = []
        for order, (cond, h) in enumerate(g.groupby("condition", sort=False)):
            values = h["value"].to_numpy(float)
            mean, lo, hi = mean_interval(values)
            hits = solved(str(task), values)
            fraction = float(hits.mean()) if hits is not None else float("nan")
            points.append((round(mean, 9), fraction, -order, cond, mean, lo, hi, hits))
        points.sort(key=lambda p: (p[0], -1.0 if math.isnan(p[1]) else p[1], p[2]), reverse=True)
        _, _, _, cond, mean, lo, hi, hits = points[0]
        k: int | None = None
        n_hits: int | None = None
        s_lo, s_hi = math.nan, math.nan
        if hits is not None:
            k, n_hits = int(hits.sum()), len(hits)
            s_lo, s_hi = clopper_pearson(k, n_hits)
        rows.append(
            dict(
                task=task, family=family, condition=cond,
                n=int((g["condition"] == cond).sum()), mean=mean, low=lo, high=hi, solved=k,
                solved_n=n_hits, solved_low=s_lo, solved_high=s_hi,
                points=g["condition"].nunique(),
            )
        )  # fmt: skip
    out = pd.DataFrame(rows, columns=BEST_COLUMNS)
    return out.sort_values(["task", "mean"], ascending=[True, False], kind="stable").reset_index(
        drop=True
    )


def generalisation_metrics(df: pd.DataFrame) -> list[tuple[str, str]]:
    """The held-out sets an experiment reports beyond recall (empty: recall only)."""
    present = set(df["metric"].astype(str))
    extra = [(m, label) for m, label in GENERALISATION[1:] if m in present]
    return [GENERALISATION[0], *extra] if extra else []


def seeds_per_condition(df: pd.DataFrame) -> int:
    counts = df[df["metric"] == ACCURACY].groupby(["task", "condition"])["seed"].nunique()
    return int(counts.min()) if len(counts) else 0
