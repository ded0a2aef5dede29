"""docs/replication.md from tidy results: per task and variant, the paper's measures with
95 % CIs; omnibus tests; the paper's claims as explicit tests; what each of the released
code's deviations changes. The tests themselves are in `replication_stats.py`.

Input tables are tidy [condition, task, seed, metric, value] (one row per run x metric), one
per experiment, labelled. Labels `paper` and `corrected` are the two fidelity modes on the
paper's field, `positive` the positive-only variants (Table 3); an experiment whose meta
`fidelity_switches` differ from the corrected default in exactly one switch is that
deviation's experiment, compared with the corrected grid on its dataset; any other label is
a full grid (another dataset or fidelity), and a paper-fidelity grid is compared with the
corrected grid on the same dataset. Every number in the output is computed here from those
tables; the prose around them is fixed text.

Longer than 400 lines on purpose: it is one document, written top to bottom in the order a
reader meets it; each section is its own function.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sst

from ..priors.conditions import CORRECTED_SWITCHES, FIDELITY_SWITCHES
from ..stats.inference import kruskal_wallis
from ..stats.summary import check_tidy, t_interval
from .replication_stats import (
    ACCURACY,
    ALPHA,
    CLAIMS,
    MARGIN,
    MEASURE_LABEL,
    MEASURES,
    POSITIVE_CLAIM,
    TRAIN_ACCURACY,
    ClaimResult,
    DeviationResult,
    claim_results,
    classify,
    common_tasks,
    compare_experiments,
    conditions_in,
    corrected_bases,
    dataset_of,
    deviation_results,
    fidelity_of,
    pooled_table,
    positive_table,
    positive_verdict,
    seeds_per_variant,
    values_of,
    with_holm,
)

# -- small helpers ---------------------------------------------------------------------------


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


# -- the paper's claims ----------------------------------------------------------------------


def short_verdict(text: str) -> str:
    """'holds (3 of 3 comparisons, ...)' -> 'holds (3/3)' for the overview table; equivalence
    and difference counts keep their word."""
    head, _, rest = text.partition(" (")
    m = re.search(r"(\d+) of (\d+)", rest)
    if "all" in rest.split(" ")[:1] and "equivalent" in rest:
        n = re.search(r"all (\d+)", rest)
        return f"{head} ({n.group(1)}/{n.group(1)} equivalent)" if n else head
    if not m:
        return head
    word = ""
    if head.endswith("when pooled"):
        word = " differ alone" if "differ" in rest else " alone"
    elif head == "does not hold" and "differ" in rest:
        word = " differ"
    elif head == "not shown":
        word = " non-inferior" if "non-inferior" in rest else " equivalent"
    return f"{head} ({m.group(1)}/{m.group(2)}{word})"


def claim_lines(results: list[ClaimResult]) -> list[str]:
    lines = []
    for result in results:
        claim, table, z, p = result.claim, result.table, result.z, result.p
        pooled = "a > b" if claim.kind == "greater" else "any difference"
        lines += [
            f"#### {claim.text}",
            "",
            f"Verdict: **{result.verdict}**. Pooled over all its tasks and pairs "
            f"(van Elteren stratified Mann–Whitney, {pooled}): z = {_fmt(z, 2)}, p = {_p(p)}.",
            "",
        ]
        if claim.kind == "greater":
            lines += [
                "Test: one-sided Mann–Whitney U (a > b) per task and matched pair, Holm-corrected "
                "within the claim.",
                "",
                "| task | a | b | metric | n a/b | mean a | mean b | U | p | p (Holm) |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            ]
            for r in table.itertuples():
                lines.append(
                    f"| {r.task} | {r.a} | {r.b} | {r.metric} | {r.n_a}/{r.n_b} | {_fmt(r.mean_a)} "
                    f"| {_fmt(r.mean_b)} | {_fmt(r.U, 1)} | {_p(r.p)} | {_p(r.p_holm)} |"
                )
        else:
            lines += [
                "Tests: two-sided Mann–Whitney U for a difference, and equivalence within "
                f"±{MARGIN} (TOST: two one-sided Mann–Whitney U tests of a ± margin against b), "
                "each Holm-corrected within the claim.",
                "",
                "| task | a | b | metric | n a/b | mean a | mean b | p difference (Holm) | p "
                "equivalence (Holm) |",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            ]
            for r in table.itertuples():
                lines.append(
                    f"| {r.task} | {r.a} | {r.b} | {r.metric} | {r.n_a}/{r.n_b} | {_fmt(r.mean_a)} "
                    f"| {_fmt(r.mean_b)} | {_p(r.p_diff)} ({_p(r.p_diff_holm)}) | {_p(r.p)} "
                    f"({_p(r.p_holm)}) |"
                )
        lines.append("")
    return lines


# -- per experiment: measures and omnibus ----------------------------------------------------
def variant_table(df: pd.DataFrame, task: str) -> list[str]:
    head = "| variant | n | " + " | ".join(label for _, label in MEASURES) + " |"
    lines = [head, "|" + " --- |" * (len(MEASURES) + 2)]
    for cond in conditions_in(df):
        n = len(values_of(df, task, cond, ACCURACY))
        cells = [mean_ci(values_of(df, task, cond, m)) for m, _ in MEASURES]
        lines.append(f"| {cond} | {n} | " + " | ".join(cells) + " |")
    return lines


def omnibus_lines(df: pd.DataFrame) -> list[str]:
    """Kruskal–Wallis across the variants, per task and measure."""
    kw = kruskal_wallis(df[df["metric"].isin(MEASURE_LABEL)])
    if kw.empty:
        return []
    lines = [
        "| task | measure | variants | runs | H | p |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in kw.itertuples():
        lines.append(
            f"| {r.task} | {MEASURE_LABEL[r.metric]} | {r.k} | {r.n} | {_fmt(r.H, 1)} | {_p(r.p)} |"
        )
    return lines


# -- two experiments against each other ------------------------------------------------------


def pooled_lines(pooled: pd.DataFrame, strata: str) -> list[str]:
    """A `pooled_table` as markdown."""
    head = (
        "| measure | "
        + ("task | " if strata != "task" else "")
        + f"{'tasks' if strata == 'task' else 'variants'} | "
        "mean difference | z | p | p (Holm) |"
    )
    lines = [head, "|" + " --- |" * (6 if strata == "task" else 7)]
    for r in pooled.itertuples():
        task = f"{r.task} | " if strata != "task" else ""
        lines.append(
            f"| {MEASURE_LABEL.get(r.metric, r.metric)} | {task}{r.strata} | {_fmt(r.diff)} | "
            f"{_fmt(r.z, 2)} | {_p(r.p)} | {_p(r.p_holm)} |"
        )
    return lines


def comparison_lines(table: pd.DataFrame, header: tuple[str, str], holm_label: str) -> list[str]:
    lines = [
        f"| task | variant | measure | {header[0]} | {header[1]} | difference | p (two-sided MWU) "
        f"| p (Holm {holm_label}) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.task} | {r.condition} | {MEASURE_LABEL.get(r.metric, r.metric)} | "
            f"{mean_ci(r.first)} | {mean_ci(r.second)} | {_fmt(r.difference)} | {_p(r.p)} | "
            f"{_p(r.p_holm)} |"
        )
    return lines


def changed_summary(table: pd.DataFrame, metric: str = ACCURACY) -> str:
    sub = table[table["metric"] == metric].dropna(subset=["p_holm"])
    if sub.empty:
        return "not tested (no data)"
    sig = sub[sub["p_holm"] < ALPHA]
    label = MEASURE_LABEL.get(metric, metric)
    if sig.empty:
        return f"no significant change in {label} (0 of {len(sub)} task × variant comparisons)"
    ups, downs = int((sig["difference"] > 0).sum()), int((sig["difference"] < 0).sum())
    return (
        f"{label} changes in {len(sig)} of {len(sub)} task × variant comparisons "
        f"({ups} up, {downs} down, Holm-corrected p < {ALPHA})"
    )


def reported_accuracy_lines(paper: pd.DataFrame, tasks: list[str]) -> list[str]:
    """§5.4 from the paper-fidelity runs themselves: the reported accuracy (last training
    epoch, noise on) against held-out accuracy of the same run; Wilcoxon signed-rank over all
    runs of a task, Holm over tasks."""
    rows = []
    for task in tasks:
        sel = paper[(paper["task"] == task) & paper["metric"].isin([ACCURACY, TRAIN_ACCURACY])]
        wide = sel.pivot_table(
            index=["condition", "seed"], columns="metric", values="value"
        ).dropna()
        if wide.empty or ACCURACY not in wide or TRAIN_ACCURACY not in wide:
            continue
        diff = (wide[TRAIN_ACCURACY] - wide[ACCURACY]).to_numpy(float)
        p = float(sst.wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0
        rows.append(
            dict(
                task=task,
                n=len(diff),
                train=wide[TRAIN_ACCURACY].to_numpy(float),
                test=wide[ACCURACY].to_numpy(float),
                diff=diff,
                p=p,
            )
        )
    table = with_holm(pd.DataFrame(rows, columns=["task", "n", "train", "test", "diff", "p"]))
    lines = [
        "| task | runs | reported (training, noise on) | held-out | reported − held-out | "
        "p (Wilcoxon signed-rank) | p (Holm) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.task} | {r.n} | {mean_ci(r.train)} | {mean_ci(r.test)} | {mean_ci(r.diff)} | "
            f"{_p(r.p)} | {_p(r.p_holm)} |"
        )
    return lines


def positive_lines(table: pd.DataFrame) -> list[str]:
    lines = [
        "| task | variant | free sign | positive only | difference | p worse (Holm) | p "
        "non-inferior (Holm) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.task} | {r.condition} | {mean_ci(r.free)} | {mean_ci(r.positive)} | "
            f"{_fmt(r.difference)} | {_p(r.p_worse)} ({_p(r.p_worse_holm)}) | "
            f"{_p(r.p_noninferior)} ({_p(r.p_noninferior_holm)}) |"
        )
    return lines


# -- the document ----------------------------------------------------------------------------


def deviations_overview_lines(results: list[DeviationResult]) -> list[str]:
    """One row per switch, one column per dataset: the pooled change in held-out accuracy and
    modularity when only that switch is set as in the released code."""
    if not results:
        return []
    datasets = list(dict.fromkeys(r.dataset or r.base for r in results))
    cell = {(r.switch, r.dataset or r.base): r for r in results}
    out = [
        "## The deviations at a glance",
        "",
        "Each switch of SCIENCE.md §5 changed alone from the corrected default (turned on as in "
        "the released code; §5.5 turned off, since the corrected default keeps the released "
        "code's diagonal), against the corrected grid on the same dataset, variants and seeds "
        "(the variants it acts on are in the sections below): mean change (switch minus "
        "corrected) pooled over the tasks, van Elteren p Holm-corrected over the measures. Bold: "
        f"p < {ALPHA}. §5.4 changes only what is reported; see its section.",
        "",
        "| deviation | " + " | ".join(datasets) + " |",
        "|" + " --- |" * (len(datasets) + 1),
    ]
    for switch in FIDELITY_SWITCHES:
        if not any((switch, d) in cell for d in datasets):
            continue
        cells = []
        for d in datasets:
            r = cell.get((switch, d))
            if r is None:
                cells.append("–")
                continue
            parts = []
            for metric in (ACCURACY, "modularity_cnm"):
                row = r.pooled[r.pooled["metric"] == metric]
                if row.empty:
                    continue
                diff, p = float(row["diff"].iloc[0]), float(row["p_holm"].iloc[0])
                text = f"{MEASURE_LABEL[metric]} {diff:+.3f} (p = {_p(p)})"
                parts.append(f"**{text}**" if p < ALPHA else text)
            cells.append("; ".join(parts) or "–")
        turned = " (turned off)" if CORRECTED_SWITCHES[switch] else ""
        name = f"{_section(switch)} {_describe_switch(switch)}{turned}".replace("|", "\\|")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    return [*out, ""]


def _section(switch: str) -> str:
    return FIDELITY_SWITCHES[switch].split(" ", 1)[0]


def _describe_switch(switch: str) -> str:
    return FIDELITY_SWITCHES[switch].split(" ", 1)[1]


def render(
    experiments: dict[str, pd.DataFrame],
    meta: dict[str, dict[str, Any]],
    figures: dict[str, str] | None = None,
) -> str:
    """The replication document. `figures` maps an experiment label to a relative image path
    to show in its section."""
    for label, df in experiments.items():
        check_tidy(df, f"results of {label}")
    figures = figures or {}
    roles = classify(experiments, meta)
    out = [
        "# Replication of Shakiba et al. (2026)",
        "",
        "Generated by `cortexrnn-client replication` from the results tables in "
        "`docs/replication-data/`;",
        "`cortexrnn-client replication` without `-e` re-renders it from those tables. No number "
        "here is",
        "typed by hand. How the experiments were run: `docs/replication-data/README.md`.",
        "",
    ]
    claims = {label: claim_results(experiments[label]) for label in roles["grid"]}
    positive = (
        positive_table(
            experiments["corrected"],
            experiments["positive"],
            common_tasks(experiments["positive"], experiments["corrected"]),
        )
        if {"positive", "corrected"} <= set(experiments)
        else None
    )
    deviations = deviation_results(experiments, meta, roles)
    out += experiments_lines(experiments, meta)
    out += overview_lines(experiments, roles, claims, positive)
    out += deviations_overview_lines(deviations)
    for label in roles["grid"]:
        df = experiments[label]
        tasks = sorted(df["task"].unique())
        out += [
            f"## {label}: measures per task and variant",
            "",
            f"Dataset {meta.get(label, {}).get('dataset', '–')}, fidelity "
            f"{meta.get(label, {}).get('fidelity', '–')}. Mean [95 % t CI] over seeds; accuracy on "
            "held-out trials (noise off) and on the last training epoch (noise on).",
            "",
        ]
        if label in figures:
            out += [f"![{label}: held-out accuracy per variant]({figures[label]})", ""]
        for task in tasks:
            out += [f"### {task}", "", *variant_table(df, task), ""]
        omnibus = omnibus_lines(df)
        if omnibus:
            out += [
                f"### {label}: omnibus test across the variants",
                "",
                "Kruskal–Wallis H per task and measure (do the variants differ at all?).",
                "",
                *omnibus,
                "",
            ]
        out += [f"### {label}: the paper's claims", "", *claim_lines(claims[label])]
    out += deviation_section(experiments, meta, roles, deviations)
    if positive is not None:
        out += [
            "## Positive-only recurrent weights (Table 3)",
            "",
            f"{POSITIVE_CLAIM}: **{positive_verdict(positive)}**.",
            "",
            "Held-out accuracy of the bio-initialised variants with non-negative recurrent "
            "weights (`positive`) against the same variants and seeds with free signs "
            "(`corrected`). Tests: one-sided Mann–Whitney U for 'positive is worse', and "
            f"non-inferiority within {MARGIN} (positive + {MARGIN} > free sign), each "
            "Holm-corrected over the table.",
            "",
        ]
        out += [*positive_lines(positive), ""]
    return "\n".join(out) + "\n"


def _minutes(seconds: Any) -> str:
    return f"{float(seconds) / 60:.1f} min" if isinstance(seconds, (int, float)) else "–"


def experiments_lines(
    experiments: dict[str, pd.DataFrame], meta: dict[str, dict[str, Any]]
) -> list[str]:
    out = [
        "## Experiments",
        "",
        "Wall time runs from the first run's start to the last run's finish (experiments that "
        "share workers overlap); worker time is the sum of the experiment's pack trainings.",
        "",
        "| label | experiment | dataset | fidelity | variants | seeds per variant | runs | failed "
        "| device | wall time | worker time |",
        "|" + " --- |" * 11,
    ]
    for label, df in experiments.items():
        m = meta.get(label, {})
        counts = m.get("counts") or {}
        failed = counts.get("failed", 0) if isinstance(counts, dict) and counts else "–"
        out.append(
            f"| {label} | {m.get('experiment_id', '–')} | {m.get('dataset', '–')} | "
            f"{m.get('fidelity', '–')} | {df['condition'].nunique()} | {seeds_per_variant(df)} | "
            f"{df[df['metric'] == ACCURACY].shape[0]} | {failed} | {m.get('device', '–')} | "
            f"{_minutes(m.get('wall_s'))} | {_minutes(m.get('worker_s'))} |"
        )
    return [*out, ""]


def overview_lines(
    experiments: dict[str, pd.DataFrame],
    roles: dict[str, list[str]],
    claims: dict[str, list[ClaimResult]],
    positive: pd.DataFrame | None,
) -> list[str]:
    grids = roles["grid"]
    if not grids:
        return []
    n = min(seeds_per_variant(experiments[label]) for label in grids)
    power = (
        (
            f" With {n} seeds per variant the smallest one-sided Mann–Whitney p between two "
            f"variants is 1/C({2 * n}, {n}) = {_p(1 / math.comb(2 * n, n))}, so a per-comparison "
            "verdict needs nearly complete separation of the seeds; the pooled test combines all "
            "of a claim's comparisons."
        )
        if n
        else ""
    )
    out = [
        "## The claims at a glance",
        "",
        "Each cell: the verdict over all tasks and matched pairs of that claim (comparisons "
        f"significant of those tested, Holm-corrected p < {ALPHA}) and the pooled van Elteren p "
        "over the same comparisons; the seeds per "
        f'variant are in the table above.{power} "Holds when pooled": no comparison is significant '
        "alone but the pooled test is (the claim holds on average over tasks and pairs, not in "
        "any one of them). Details per experiment below.",
        "",
        "| claim | " + " | ".join(grids) + " |",
        "|" + " --- |" * (len(grids) + 1),
    ]
    for i, claim in enumerate(CLAIMS):
        cells = [
            f"{short_verdict(claims[label][i].verdict)}; pooled p = {_p(claims[label][i].p)}"
            for label in grids
        ]
        out.append(f"| {claim.text} | " + " | ".join(cells) + " |")
    if positive is not None:
        cells = [
            short_verdict(positive_verdict(positive)) if label == "corrected" else "–"
            for label in grids
        ]
        out.append(f"| {POSITIVE_CLAIM} (against `positive`) | " + " | ".join(cells) + " |")
    return [*out, ""]


def deviation_section(
    experiments: dict[str, pd.DataFrame],
    meta: dict[str, dict[str, Any]],
    roles: dict[str, list[str]],
    deviations: list[DeviationResult],
) -> list[str]:
    """Per corrected grid (the main `corrected` first): the joint effect against the paper
    grid on the same dataset, then each switch alone from the deviation experiments on that
    dataset (and §5.4 from the paper grid's own runs)."""

    def on_dataset(candidates: list[str], fidelity: str, dataset: str | None) -> str | None:
        found = [
            x
            for x in candidates
            if fidelity_of(x, meta) == fidelity and dataset_of(x, meta) == dataset
        ]
        return fidelity if fidelity in found else (found[0] if found else None)

    out: list[str] = []
    for base in corrected_bases(roles, meta):
        dataset = dataset_of(base, meta)
        paper_label = (
            "paper"
            if base == "corrected" and "paper" in experiments
            else on_dataset(
                [g for g in roles["grid"] if g not in ("paper", "corrected")], "paper", dataset
            )
        )
        devs = {d.switch: d for d in deviations if d.base == base}
        if paper_label is None and not devs:
            continue
        corrected = experiments[base]
        shown = dataset or (dataset_of(paper_label, meta) if paper_label else None) or base
        out += [f"## What the released code's deviations change on {shown}", ""]
        if paper_label is not None:
            paper = experiments[paper_label]
            tasks = common_tasks(paper, corrected)
            present = conditions_in(pd.concat([paper, corrected]))
            joint = compare_experiments(
                paper, corrected, tasks, [(c, c) for c in present], [ACCURACY]
            )
            out += [
                f"### All six together: `{base}` against `{paper_label}`",
                "",
                f"`{paper_label}` switches on all six deviations of SCIENCE.md §5 at once (§5.5, "
                "the functional diagonal, is kept by the corrected default too), so this is their "
                "joint effect on held-out accuracy. Per task, one van Elteren test stratified by "
                "variant (corrected against paper), Holm over the tasks:",
                "",
            ]
            out += [*pooled_lines(pooled_table(joint, "condition"), "condition"), ""]
            out += [
                "Per variant (two-sided Mann–Whitney U, Holm over the table): "
                f"{changed_summary(joint)}.",
                "",
            ]
            out += [*comparison_lines(joint, ("paper fidelity", "corrected"), "over the table"), ""]
        for switch in FIDELITY_SWITCHES:
            title = f"### {_section(switch)} {_describe_switch(switch)}"
            if switch == "report_train_accuracy":
                if paper_label is not None:
                    out += [
                        title,
                        "",
                        "This deviation changes what is reported, not what is trained: the runs "
                        f"of `{paper_label}` carry both numbers. Reported accuracy against "
                        "held-out accuracy of the same runs:",
                        "",
                    ]
                    out += [
                        *reported_accuracy_lines(
                            experiments[paper_label], common_tasks(experiments[paper_label])
                        ),
                        "",
                    ]
                continue
            result = devs.get(switch)
            if result is None:
                out += [
                    title,
                    "",
                    "No experiment with this switch alone was included on this dataset; its share "
                    "of the joint effect is not separated here.",
                    "",
                ]
                continue
            label, table, dev = result.label, result.table, experiments[result.label]
            on = "off" if CORRECTED_SWITCHES[switch] else "on"
            out += [
                title,
                "",
                f"Experiment `{label}`: the corrected default with only this switch {on}, on "
                f"{', '.join(conditions_in(dev))}, against the same variants and seeds of "
                f"`{base}`: {changed_summary(table)}. Per measure, pooled over the tasks (van "
                "Elteren, stratified by task; Holm over the measures):",
                "",
            ]
            out += [*pooled_lines(result.pooled, "task"), ""]
            out += [
                "Per task (two-sided Mann–Whitney U, Holm over the tasks within each measure):",
                "",
            ]
            out += [*comparison_lines(table, ("corrected", f"switch {on}"), "within measure"), ""]
    return out
