"""The replication document's comparisons of one experiment with another: what the released
code's deviations change (all together against the paper-fidelity grid, each switch alone from
its own experiment), the reported accuracy of §5.4, and the positive-only variants. Runs are
paired by seed (same dataset and seeds); findings are per task, pooling over tasks only says
whether a change is consistent in direction."""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..priors.conditions import CORRECTED_SWITCHES, FIDELITY_SWITCHES
from ..stats.inference import with_holm
from ..stats.paired import PAIRED, signed_rank
from .replication_format import mean_ci, num, pval, solved_change
from .replication_stats import (
    ACCURACY,
    ALPHA,
    MARGIN,
    MEASURE_LABEL,
    POSITIVE_CLAIM,
    TRAIN_ACCURACY,
    DeviationResult,
    PositiveResult,
    common_tasks,
    compare_experiments,
    conditions_in,
    corrected_bases,
    dataset_of,
    fidelity_of,
    pooled_table,
    positive_verdict,
)


def pooled_lines(pooled: pd.DataFrame, strata: str) -> list[str]:
    """A `pooled_table` as markdown."""
    head = (
        "| measure | "
        + ("task | " if strata != "task" else "")
        + f"{'tasks' if strata == 'task' else 'variants'} | "
        "mean difference | test | statistic | p | p (Holm) |"
    )
    lines = [head, "|" + " --- |" * (7 if strata == "task" else 8)]
    for r in pooled.itertuples():
        task = f"{r.task} | " if strata != "task" else ""
        lines.append(
            f"| {MEASURE_LABEL.get(r.metric, r.metric)} | {task}{r.strata} | {num(r.diff)} | "
            f"{r.test} | {num(r.statistic, 2)} | {pval(r.p)} | {pval(r.p_holm)} |"
        )
    return lines


def comparison_lines(table: pd.DataFrame, header: tuple[str, str], holm_label: str) -> list[str]:
    lines = [
        f"| task | variant | measure | {header[0]} | {header[1]} | difference | test | p "
        f"(two-sided) | p (Holm {holm_label}) | solved (McNemar p) |",
        "|" + " --- |" * 10,
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.task} | {r.condition} | {MEASURE_LABEL.get(r.metric, r.metric)} | "
            f"{mean_ci(r.first)} | {mean_ci(r.second)} | {num(r.difference)} | {r.test} | "
            f"{pval(r.p)} | {pval(r.p_holm)} | "
            f"{solved_change(r.solved_first, r.solved_second, r.p_solved, r.p_solved_holm)} |"
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
    epoch, noise on) against held-out accuracy of the same run; exact Wilcoxon signed-rank
    over all runs of a task, Holm over tasks."""
    rows = []
    for task in tasks:
        sel = paper[(paper["task"] == task) & paper["metric"].isin([ACCURACY, TRAIN_ACCURACY])]
        wide = sel.pivot_table(
            index=["condition", "seed"], columns="metric", values="value"
        ).dropna()
        if wide.empty or ACCURACY not in wide or TRAIN_ACCURACY not in wide:
            continue
        diff = (wide[TRAIN_ACCURACY] - wide[ACCURACY]).to_numpy(float)
        rows.append(
            dict(
                task=task,
                n=len(diff),
                train=wide[TRAIN_ACCURACY].to_numpy(float),
                test=wide[ACCURACY].to_numpy(float),
                diff=diff,
                p=signed_rank(diff)[1],
            )
        )
    table = with_holm(pd.DataFrame(rows, columns=["task", "n", "train", "test", "diff", "p"]))
    lines = [
        "| task | runs | reported (training, noise on) | held-out | reported − held-out | "
        f"p ({PAIRED}) | p (Holm) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.task} | {r.n} | {mean_ci(r.train)} | {mean_ci(r.test)} | {mean_ci(r.diff)} | "
            f"{pval(r.p)} | {pval(r.p_holm)} |"
        )
    return lines


def positive_lines(table: pd.DataFrame) -> list[str]:
    lines = [
        "| task | variant | free sign | positive only | difference | test | p worse (Holm) | p "
        "non-inferior (Holm) | solved free → positive (McNemar p worse) |",
        "|" + " --- |" * 9,
    ]
    for r in table.itertuples():
        solved = solved_change(
            r.solved_free, r.solved_positive, r.p_solved_worse, r.p_solved_worse_holm
        )
        lines.append(
            f"| {r.task} | {r.condition} | {mean_ci(r.free)} | {mean_ci(r.positive)} | "
            f"{num(r.difference)} | {r.test} | {pval(r.p_worse)} ({pval(r.p_worse_holm)}) | "
            f"{pval(r.p_noninferior)} ({pval(r.p_noninferior_holm)}) | {solved} |"
        )
    return lines


def positive_section(results: list[PositiveResult]) -> list[str]:
    """Table 3: each positive-only experiment against the free-sign grid of its fidelity
    (`positive` against `corrected`, `positive-paper` against `paper`), one subsection each
    when there are several."""
    if not results:
        return []
    out = ["## Positive-only recurrent weights (Table 3)", ""]
    for r in results:
        if len(results) > 1:
            out += [f"### `{r.label}` against `{r.base}`", ""]
        bio_only = bool(r.table["bio"].astype(bool).all())
        which = (
            ""
            if bio_only
            else " The verdict counts only the bio-initialised variants (`W*…`, `W!…`), "
            "Holm-corrected together; the other variants are shown beside them as a Holm family "
            "of their own within the task."
        )
        out += [
            f"{POSITIVE_CLAIM}, per task:",
            "",
            *[
                f"- {task}: **{positive_verdict(rows)}**"
                for task, rows in r.table.groupby("task", sort=True)
            ],
            "",
            f"Held-out accuracy of the {'bio-initialised ' if bio_only else ''}variants with "
            f"non-negative recurrent weights (`{r.label}`) against the same variants and seeds "
            f"with free signs (`{r.base}`). Tests, paired by seed: one-sided for 'positive is "
            "worse' (on accuracy, and McNemar's exact test on solved), and non-inferiority within "
            f"{MARGIN} (positive + {MARGIN} > free sign), each Holm-corrected within the task."
            + which,
            "",
            *positive_lines(r.table),
            "",
        ]
    return out


def deviations_overview_lines(results: list[DeviationResult]) -> list[str]:
    """One row per switch and task, one column per dataset: the change in held-out accuracy,
    in the solved count and in modularity when only that switch is set as in the released
    code (paired by seed, Holm over the tasks and variants within each measure)."""
    if not results:
        return []
    datasets = list(dict.fromkeys(r.dataset or r.base for r in results))
    cell = {(r.switch, r.dataset or r.base): r for r in results}
    tasks = sorted({t for r in results for t in r.table["task"]})
    out = [
        "## The deviations at a glance",
        "",
        "Each switch of SCIENCE.md §5 changed alone from the corrected default (turned on as in "
        "the released code; switches the corrected default keeps on are turned off), against "
        "the corrected grid on the same dataset, variants and seeds (the variants it acts on are "
        "in the sections below). Per task: mean change (switch minus corrected, over the "
        "variants run) with the paired test's p, Holm-corrected within the measure, and the "
        f"solved counts. Bold: p < {ALPHA}. §5.4 changes only what is reported; see its section.",
        "",
        "| deviation | task | " + " | ".join(datasets) + " |",
        "|" + " --- |" * (len(datasets) + 2),
    ]
    for switch in FIDELITY_SWITCHES:
        if not any((switch, d) in cell for d in datasets):
            continue
        turned = " (turned off)" if CORRECTED_SWITCHES[switch] else ""
        name = f"{_section(switch)} {_describe_switch(switch)}{turned}".replace("|", "\\|")
        for task in tasks:
            cells = [_glance_cell(cell.get((switch, d)), task) for d in datasets]
            out.append(f"| {name} | {task} | " + " | ".join(cells) + " |")
    return [*out, ""]


def _glance_cell(result: DeviationResult | None, task: str) -> str:
    if result is None:
        return "–"
    parts = []
    for metric in (ACCURACY, "modularity_cnm"):
        rows = result.table[(result.table["metric"] == metric) & (result.table["task"] == task)]
        for r in rows.itertuples():
            variant = f" {r.condition}" if len(rows) > 1 else ""
            text = f"{MEASURE_LABEL[metric]}{variant} {r.difference:+.3f} (p = {pval(r.p_holm)})"
            parts.append(f"**{text}**" if r.p_holm < ALPHA else text)
            if metric == ACCURACY and r.solved_first is not None:
                parts.append(f"solved {r.solved_first} → {r.solved_second}")
    return "; ".join(parts) or "–"


def _section(switch: str) -> str:
    return FIDELITY_SWITCHES[switch].split(" ", 1)[0]


def _describe_switch(switch: str) -> str:
    return FIDELITY_SWITCHES[switch].split(" ", 1)[1]


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
            out += _joint_lines(
                experiments[paper_label], corrected, base, paper_label, meta.get(paper_label, {})
            )
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
            out += _switch_lines(title, switch, result, experiments[result.label], base)
    return out


def _joint_lines(
    paper: pd.DataFrame,
    corrected: pd.DataFrame,
    base: str,
    paper_label: str,
    paper_meta: dict[str, Any],
) -> list[str]:
    tasks = common_tasks(paper, corrected)
    present = conditions_in(pd.concat([paper, corrected]))
    joint = compare_experiments(paper, corrected, tasks, [(c, c) for c in present], [ACCURACY])
    # The switches that paper's own run set apart from the corrected default: tables fetched
    # before a switch existed do not carry it, and it was not part of their difference.
    recorded = paper_meta.get("fidelity_switches")
    differ = [
        _section(k)
        for k in FIDELITY_SWITCHES
        if isinstance(recorded, dict)
        and k in recorded
        and bool(recorded[k]) != CORRECTED_SWITCHES[k]
    ]
    which = f" ({', '.join(differ)})" if differ else ""
    return [
        f"### The deviations together: `{base}` against `{paper_label}`",
        "",
        f"`{paper_label}` differs from the corrected default in every deviation it recorded"
        f"{which}, so this is their joint effect on held-out accuracy. Per task, one test "
        "stratified by variant (corrected against paper, paired by seed), Holm over the tasks:",
        "",
        *pooled_lines(pooled_table(joint, "condition"), "condition"),
        "",
        f"Per variant (paired by seed, Holm over the table): {changed_summary(joint)}.",
        "",
        *comparison_lines(joint, ("paper fidelity", "corrected"), "over the table"),
        "",
    ]


def _switch_lines(
    title: str, switch: str, result: DeviationResult, dev: pd.DataFrame, base: str
) -> list[str]:
    on = "off" if CORRECTED_SWITCHES[switch] else "on"
    return [
        title,
        "",
        f"Experiment `{result.label}`: the corrected default with only this switch {on}, on "
        f"{', '.join(conditions_in(dev))}, against the same variants and seeds of `{base}`: "
        f"{changed_summary(result.table)}. Per task (paired by seed, Holm over the tasks within "
        "each measure):",
        "",
        *comparison_lines(result.table, ("corrected", f"switch {on}"), "within measure"),
        "",
        "Across tasks, direction only (per measure, one test stratified by task; Holm over the "
        "measures):",
        "",
        *pooled_lines(result.pooled, "task"),
        "",
    ]


def extension_section(results: list[DeviationResult]) -> list[str]:
    """Condition-level changes (not fidelity switches) against the corrected grid."""
    if not results:
        return []
    out = [
        "## Extensions against the corrected grid",
        "",
        "Experiments on some of the corrected grid's variants with a condition changed (their "
        "specs in `docs/replication-data/README.md`), against the same variants and seeds of "
        "`corrected`.",
        "",
    ]
    for r in results:
        out += [
            f"### {r.label}",
            "",
            f"Against `{r.base}`: {changed_summary(r.table)}. Per task (paired by seed, Holm "
            "over the tasks within each measure):",
            "",
            *comparison_lines(r.table, ("corrected", r.label), "within measure"),
            "",
            "Across tasks, direction only:",
            "",
            *pooled_lines(r.pooled, "task"),
            "",
        ]
    return out
