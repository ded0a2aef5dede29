"""docs/replication.md from tidy results: per task and variant, the paper's measures with
95 % CIs; the paper's claims as explicit tests; the corrected-vs-paper differences.

Input tables are tidy [condition, task, seed, metric, value] (one row per run x metric), one
per experiment, labelled ("paper", "corrected", or a dataset label). Every number in the
output is computed here from those tables; the prose around them is fixed text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sst

from ..stats.inference import holm
from ..stats.summary import check_tidy, t_interval

ACCURACY = "test_acc"
MEASURES = [("test_acc", "held-out acc."), ("train_acc", "training acc."), ("entropy_kde", "entropy (bits)"),
            ("modularity_cnm", "modularity Q"), ("small_world_sigma", "small-world σ"),
            ("assortativity", "assortativity")]
PAPER_ORDER = ["W*D*C", "WD*C", "WDC", "WD*", "WD", "W", "W*D*C*", "WD*C*", "W*DC*", "W!D*C", "W!D*C*"]
ALPHA = 0.05


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
    kind: str = "greater"  # "greater": a > b one-sided; "equal": no difference, two-sided


CLAIMS = (
    Claim("w_star_beats_w", "Functional init (W*) beats the baseline init (W)",
          (Comparison("W*D*C", "WD*C"), Comparison("W*D*C*", "WD*C*"))),
    Claim("w_perm_beats_w", "Permuted functional init (W!) beats the baseline init (W)",
          (Comparison("W!D*C", "WD*C"), Comparison("W!D*C*", "WD*C*"))),
    Claim("w_star_equals_w_perm", "W* and W! do not differ", (Comparison("W*D*C", "W!D*C"),
                                                            Comparison("W*D*C*", "W!D*C*")), kind="equal"),
    Claim("real_space_beats_grid", "Real space (D*) beats grid space (D)",
          (Comparison("WD*C", "WDC"), Comparison("WD*", "WD"))),
    Claim("direct_c_modular", "Direct communicability (C) makes networks more modular",
          (Comparison("WD*C", "WD*", "modularity_cnm"), Comparison("WDC", "WD", "modularity_cnm"))),
    Claim("direct_c_small_world", "Direct communicability (C) makes networks more small-world",
          (Comparison("WD*C", "WD*", "small_world_sigma"), Comparison("WDC", "WD", "small_world_sigma"))),
)


def _values(df: pd.DataFrame, task: str, condition: str, metric: str) -> np.ndarray:
    sel = df[(df["task"] == task) & (df["condition"] == condition) & (df["metric"] == metric)]["value"]
    v = sel.to_numpy(dtype=float)
    return v[np.isfinite(v)]


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{digits}f}"


def _p(x: float) -> str:
    if not math.isfinite(x):
        return "–"
    return f"{x:.2g}" if x >= 1e-4 else f"{x:.1e}"


def mean_ci(v: np.ndarray) -> str:
    if len(v) == 0:
        return "–"
    lo, hi = t_interval(v) if len(v) > 1 else (float("nan"), float("nan"))
    return f"{_fmt(float(v.mean()))} [{_fmt(lo)}, {_fmt(hi)}]"


def claim_table(df: pd.DataFrame, claim: Claim, tasks: list[str]) -> pd.DataFrame:
    """One row per task x comparison: n, means, U, raw p, Holm p (within the claim), verdict."""
    rows = []
    for task in tasks:
        for c in claim.comparisons:
            a, b = _values(df, task, c.a, c.metric), _values(df, task, c.b, c.metric)
            u = p = float("nan")
            if len(a) and len(b) and np.ptp(np.concatenate([a, b])) > 0:
                alt = "greater" if claim.kind == "greater" else "two-sided"
                u, p = (float(x) for x in sst.mannwhitneyu(a, b, alternative=alt))
            elif len(a) and len(b):
                p = 1.0
            rows.append(dict(task=task, a=c.a, b=c.b, metric=c.metric, n_a=len(a), n_b=len(b),
                             mean_a=float(a.mean()) if len(a) else float("nan"),
                             mean_b=float(b.mean()) if len(b) else float("nan"), U=u, p=p))
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    finite = out["p"].notna()
    out["p_holm"] = float("nan")
    out.loc[finite, "p_holm"] = holm(out.loc[finite, "p"].to_numpy())
    return out


def verdict(claim: Claim, table: pd.DataFrame) -> str:
    """'holds' / 'does not hold' / 'not tested', over all tasks and comparisons of a claim."""
    tested = table.dropna(subset=["p_holm"])
    if tested.empty:
        return "not tested (no data)"
    significant = int((tested["p_holm"] < ALPHA).sum())
    total = len(tested)
    if claim.kind == "equal":
        return ("holds (no comparison differs" if significant == 0 else
                f"does not hold ({significant} of {total} comparisons differ") + f" at Holm-corrected p < {ALPHA})"
    if significant == total:
        return f"holds ({total} of {total} comparisons, Holm-corrected p < {ALPHA})"
    if significant == 0:
        return f"does not hold (0 of {total} comparisons significant)"
    return f"partly holds ({significant} of {total} comparisons significant)"


def variant_table(df: pd.DataFrame, task: str) -> list[str]:
    conds = [c for c in PAPER_ORDER if c in set(df["condition"])] + sorted(set(df["condition"]) - set(PAPER_ORDER))
    head = "| variant | n | " + " | ".join(label for _, label in MEASURES) + " |"
    lines = [head, "|" + " --- |" * (len(MEASURES) + 2)]
    for cond in conds:
        n = len(_values(df, task, cond, ACCURACY))
        cells = [mean_ci(_values(df, task, cond, m)) for m, _ in MEASURES]
        lines.append(f"| {cond} | {n} | " + " | ".join(cells) + " |")
    return lines


def claim_lines(df: pd.DataFrame, tasks: list[str]) -> list[str]:
    lines = []
    for claim in CLAIMS:
        table = claim_table(df, claim, tasks)
        lines += [f"#### {claim.text}", "", f"Verdict: **{verdict(claim, table)}**.", ""]
        test = "one-sided Mann–Whitney U (a > b)" if claim.kind == "greater" else "two-sided Mann–Whitney U"
        lines += [f"Test: {test} per task and matched pair, Holm-corrected within the claim.", "",
                  "| task | a | b | metric | n a/b | mean a | mean b | U | p | p (Holm) |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in table.itertuples():
            lines.append(f"| {r.task} | {r.a} | {r.b} | {r.metric} | {r.n_a}/{r.n_b} | {_fmt(r.mean_a)} | "
                         f"{_fmt(r.mean_b)} | {_fmt(r.U, 1)} | {_p(r.p)} | {_p(r.p_holm)} |")
        lines.append("")
    return lines


def _two_experiment_lines(first: pd.DataFrame, second: pd.DataFrame, tasks: list[str], conditions: list[str],
                          header: tuple[str, str]) -> list[str]:
    """Per task and variant: held-out accuracy in two experiments, second minus first, and a
    two-sided Mann–Whitney U test between them."""
    lines = [f"| task | variant | {header[0]} | {header[1]} | difference | p (two-sided MWU) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for task in tasks:
        for cond in conditions:
            a, b = _values(first, task, cond, ACCURACY), _values(second, task, cond, ACCURACY)
            if not len(a) or not len(b):
                continue
            p = float(sst.mannwhitneyu(b, a, alternative="two-sided").pvalue) if np.ptp(np.concatenate([a, b])) else 1.0
            lines.append(f"| {task} | {cond} | {mean_ci(a)} | {mean_ci(b)} | {_fmt(float(b.mean() - a.mean()))} | {_p(p)} |")
    return lines


def positive_lines(free: pd.DataFrame, positive: pd.DataFrame, tasks: list[str]) -> list[str]:
    """Positive-only recurrent weights (the paper's Table 3) against free signs, bio-initialised variants."""
    bio = [c for c in PAPER_ORDER if c.startswith(("W*", "W!"))]
    return _two_experiment_lines(free, positive, tasks, bio, ("free sign", "positive only"))


def deviation_lines(paper: pd.DataFrame, corrected: pd.DataFrame, tasks: list[str]) -> list[str]:
    """Corrected minus paper fidelity, per task and variant, on held-out accuracy."""
    present = set(paper["condition"]) | set(corrected["condition"])
    return _two_experiment_lines(paper, corrected, tasks, [c for c in PAPER_ORDER if c in present],
                                 ("paper fidelity", "corrected"))


def seeds_per_variant(df: pd.DataFrame) -> int:
    counts = df[df["metric"] == ACCURACY].groupby(["task", "condition"])["seed"].nunique()
    return int(counts.min()) if len(counts) else 0


def render(experiments: dict[str, pd.DataFrame], meta: dict[str, dict[str, object]]) -> str:
    """The replication document. `experiments` maps labels to tidy tables; labels 'paper' and
    'corrected' are the two fidelity modes on the paper's field; 'positive' (optional) the
    positive-only preset; any other label is another dataset at corrected fidelity."""
    for label, df in experiments.items():
        check_tidy(df, f"results of {label}")
    out = ["# Replication of Shakiba et al. (2026)", "",
           "Generated by `cortexrnn-client replication` from the results listed below; regenerate it with the",
           "command in each section. No number here is typed by hand.", ""]
    out += ["## Experiments", "", "| label | experiment | dataset | fidelity | seeds per variant | runs | device | wall time |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for label, df in experiments.items():
        m = meta.get(label, {})
        wall = m.get("wall_s")
        wall_txt = f"{float(wall) / 60:.1f} min" if isinstance(wall, (int, float)) else "–"
        out.append(f"| {label} | {m.get('experiment_id', '–')} | {m.get('dataset', '–')} | {m.get('fidelity', '–')} | "
                   f"{seeds_per_variant(df)} | {df[df['metric'] == ACCURACY].shape[0]} | {m.get('device', '–')} | {wall_txt} |")
    out.append("")
    for label, df in experiments.items():
        tasks = sorted(df["task"].unique())
        out += [f"## {label}: measures per task and variant", "",
                "Mean [95 % t CI] over seeds; accuracy on held-out trials (noise off) and on the last training "
                "epoch (noise on).", ""]
        for task in tasks:
            out += [f"### {task}", ""] + variant_table(df, task) + [""]
        out += [f"### {label}: the paper's claims", ""] + claim_lines(df, tasks)
    if "paper" in experiments and "corrected" in experiments:
        tasks = sorted(set(experiments["paper"]["task"]) & set(experiments["corrected"]["task"]))
        out += ["## Corrected defaults against the released code's behaviour", "",
                "The `paper` experiment switches on all six deviations of SCIENCE.md §5 at once (§5.5, the "
                "functional diagonal, is also kept by the corrected default), so the difference below is their "
                "joint effect per variant; experiments with single switches separate them.", ""]
        out += deviation_lines(experiments["paper"], experiments["corrected"], tasks) + [""]
    if "positive" in experiments and "corrected" in experiments:
        tasks = sorted(set(experiments["positive"]["task"]) & set(experiments["corrected"]["task"]))
        out += ["## Positive-only recurrent weights (Table 3)", ""]
        out += positive_lines(experiments["corrected"], experiments["positive"], tasks) + [""]
    return "\n".join(out) + "\n"
