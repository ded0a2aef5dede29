"""docs/replication.md from tidy results: how the numbers are tested; per task and variant,
the paper's measures with 95 % bootstrap intervals and the solved fractions; omnibus tests;
the paper's claims tested per task; what each of the released code's deviations changes
(`replication_deviations.py`). The tests themselves are in `replication_stats.py`.

Input tables are tidy [condition, task, seed, metric, value] (one row per run x metric), one
per experiment, labelled. Labels `paper` and `corrected` are the two fidelity modes on the
paper's field; `positive` and `positive-paper` (or any experiment whose variants are all
positive-only X+) are Table 3, each X+ compared with X of the grid of its fidelity; an
experiment whose meta `fidelity_switches` differ from the corrected default in exactly one
switch is that deviation's experiment, compared with the corrected grid on its dataset; any
other label is a full grid (another dataset or fidelity), and a paper-fidelity grid is
compared with the corrected grid on the same dataset. Every number in the output is
computed here from those tables; the prose around them is fixed text."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from ..stats.inference import omnibus
from ..stats.outcomes import (
    DIVERGED_SCORING,
    OUTCOMES,
    SOLVED_DEFINITION,
    SOLVED_METRIC,
    diverged_count,
    solved_text,
)
from ..stats.summary import N_BOOT, check_tidy
from .replication_deviations import (
    deviation_section,
    deviations_overview_lines,
    extension_section,
    positive_section,
)
from .replication_format import devices, experiment_ids, mean_ci, num, pval
from .replication_stats import (
    ACCURACY,
    ALPHA,
    CLAIMS,
    MARGIN,
    MEASURE_LABEL,
    POSITIVE_CLAIM,
    ClaimResult,
    PositiveResult,
    claim_results,
    classify,
    conditions_in,
    deviation_results,
    extension_results,
    measures_in,
    positive_results,
    positive_verdict,
    seeds_per_variant,
    values_of,
)

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
    words = ("non-inferior", "equivalent", "differ", "worse")
    word = next((f" {w}" for w in words if w in rest and head != "holds"), "")
    return f"{head} ({m.group(1)}/{m.group(2)}{word})"


def direction_text(result: ClaimResult) -> str:
    d = result.direction
    if not d.total:
        return "no data"
    if result.claim.kind == "greater":
        return f"{d.agree}/{d.total} with a > b; pooled one-sided p = {pval(d.p)}"
    return f"{d.agree}/{d.total} within ±{MARGIN}; pooled two-sided p = {pval(d.p)}"


def claim_lines(results: list[ClaimResult]) -> list[str]:
    lines = []
    for result in results:
        claim, table, d = result.claim, result.table, result.direction
        lines += [f"#### {claim.text}", ""]
        lines += [f"- {task}: **{text}**" for task, text in result.verdicts.items()]
        lines += [
            "",
            f"Across tasks, direction only (not a verdict): {direction_text(result)} ({d.test}, "
            f"statistic {num(d.statistic, 2)}).",
            "",
        ]
        if table.empty:
            continue
        if claim.kind == "greater":
            lines += [
                "One-sided (a > b) per task and matched pair, Holm-corrected within the task; on "
                "accuracy also the solved counts with McNemar's exact one-sided p.",
                "",
                "| task | a | b | metric | test | n a/b (pairs) | mean a | mean b | statistic | p "
                "(Holm) | solved a → b | p solved (Holm) |",
                "|" + " --- |" * 12,
            ]
            for r in table.itertuples():
                lines.append(
                    f"| {r.task} | {r.a} | {r.b} | {r.metric} | {r.test} | "
                    f"{r.n_a}/{r.n_b} ({r.n_pairs}) | {num(r.mean_a)} | {num(r.mean_b)} | "
                    f"{num(r.statistic, 1)} | {pval(r.p)} ({pval(r.p_holm)}) | "
                    f"{_solved(r.solved_a, r.solved_b)} | {pval(r.p_solved)} "
                    f"({pval(r.p_solved_holm)}) |"
                )
        else:
            lines += [
                f"Two-sided test for a difference, and equivalence within ±{MARGIN} (TOST: two "
                "one-sided tests of a ± margin against b), each Holm-corrected within the task.",
                "",
                "| task | a | b | metric | test | n a/b (pairs) | mean a | mean b | p difference "
                "(Holm) | p equivalence (Holm) | solved a, b |",
                "|" + " --- |" * 11,
            ]
            for r in table.itertuples():
                lines.append(
                    f"| {r.task} | {r.a} | {r.b} | {r.metric} | {r.test} | "
                    f"{r.n_a}/{r.n_b} ({r.n_pairs}) | {num(r.mean_a)} | {num(r.mean_b)} | "
                    f"{pval(r.p_diff)} ({pval(r.p_diff_holm)}) | {pval(r.p)} ({pval(r.p_holm)}) | "
                    f"{_solved(r.solved_a, r.solved_b, ', ')} |"
                )
        lines.append("")
    return lines


def _solved(a: Any, b: Any, sep: str = " → ") -> str:
    return "–" if a is None or b is None or a != a else f"{a}{sep}{b}"


# -- per experiment: measures and omnibus ----------------------------------------------------
def variant_table(df: pd.DataFrame, task: str) -> list[str]:
    """Per variant: n, each measure the experiment has as mean [bootstrap CI], and after the
    held-out accuracy the solved fraction with its exact interval."""
    measures = measures_in(df)
    labels = [MEASURE_LABEL[m] for m in measures]
    solved_at = ACCURACY in measures and task in OUTCOMES
    if solved_at:
        labels.insert(measures.index(ACCURACY) + 1, "solved [95 % CI]")
    lines = ["| variant | n | " + " | ".join(labels) + " |", "|" + " --- |" * (len(labels) + 2)]
    for cond in conditions_in(df):
        n = len(values_of(df, task, cond, ACCURACY))
        diverged = diverged_count(df, task, cond)
        shown_n = f"{n} ({diverged} diverged)" if diverged else str(n)
        cells = [mean_ci(values_of(df, task, cond, m)) for m in measures]
        if solved_at:
            acc = values_of(df, task, cond, ACCURACY)
            cells.insert(measures.index(ACCURACY) + 1, solved_text(task, acc))
        lines.append(f"| {cond} | {shown_n} | " + " | ".join(cells) + " |")
    return lines


def omnibus_lines(df: pd.DataFrame) -> list[str]:
    """Do the variants differ at all, per task and measure (Friedman where they share seeds)."""
    table = omnibus(df[df["metric"].isin(MEASURE_LABEL)])
    if table.empty:
        return []
    lines = [
        "| task | measure | test | variants | runs | statistic | p |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.task} | {MEASURE_LABEL[r.metric]} | {r.test} | {r.k} | {r.n} | "
            f"{num(r.statistic, 1)} | {pval(r.p)} |"
        )
    return lines


# -- the document ----------------------------------------------------------------------------


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
    positives = positive_results(experiments, meta, roles)
    deviations = deviation_results(experiments, meta, roles)
    out += experiments_lines(experiments, meta)
    out += methods_lines(experiments, roles)
    out += overview_lines(roles, claims, positives)
    out += deviations_overview_lines(deviations)
    for label in roles["grid"]:
        df = experiments[label]
        tasks = sorted(df["task"].unique())
        out += [
            f"## {label}: measures per task and variant",
            "",
            f"Dataset {meta.get(label, {}).get('dataset', '–')}, fidelity "
            f"{meta.get(label, {}).get('fidelity', '–')}. Mean [95 % percentile-bootstrap CI] "
            "over seeds; accuracy on held-out trials (noise off) and on the last training epoch "
            "(noise on); solved: seeds that solved the task [95 % Clopper–Pearson CI].",
            "",
        ]
        if label in figures:
            out += [f"![{label}: held-out accuracy per variant]({figures[label]})", ""]
        for task in tasks:
            out += [f"### {task}", "", *variant_table(df, task), ""]
        omnibus_table = omnibus_lines(df)
        if omnibus_table:
            out += [
                f"### {label}: omnibus test across the variants",
                "",
                "Per task and measure: do the variants differ at all? Friedman's test with the "
                "seeds as blocks where every variant has the same seeds, else Kruskal–Wallis.",
                "",
                *omnibus_table,
                "",
            ]
        out += [f"### {label}: the paper's claims", "", *claim_lines(claims[label])]
    out += deviation_section(experiments, meta, roles, deviations)
    out += extension_section(extension_results(experiments, roles))
    out += positive_section(positives)
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
            f"| {label} | {experiment_ids(m)} | {m.get('dataset', '–')} | "
            f"{m.get('fidelity', '–')} | {df['condition'].nunique()} | {seeds_per_variant(df)} | "
            f"{df[df['metric'] == ACCURACY].shape[0]} | {failed} | {devices(m)} | "
            f"{_minutes(m.get('wall_s'))} | {_minutes(m.get('worker_s'))} |"
        )
    return [*out, ""]


def methods_lines(experiments: dict[str, pd.DataFrame], roles: dict[str, list[str]]) -> list[str]:
    """How every number below is computed: intervals, 'solved', the tests and their power."""
    grids = roles["grid"] or list(experiments)
    n = min((seeds_per_variant(experiments[label]) for label in grids), default=0)
    power = (
        f" With {n} seeds per variant the smallest one-sided signed-rank p of one comparison is "
        f"1/2^{n} = {pval(0.5**n)}, and a claim's two comparisons per task are Holm-corrected "
        f"together, so a comparison can pass only if p ≤ {pval(ALPHA / 2)}"
        + (
            " — which no comparison can reach at this number of seeds."
            if 0.5**n > ALPHA / 2
            else "."
        )
        if n
        else ""
    )
    out = [
        "## How the numbers are tested",
        "",
        f"- Intervals respect the values' range: a mean over seeds comes with its 95 % percentile-"
        f"bootstrap interval ({N_BOOT} resamples of the seeds, seeded by the values, so the same "
        "table gives the same interval), which lies within the seeds' own range; accuracies are "
        "bimodal (a seed learns or stays at chance), so each table also gives the fraction of "
        "seeds that solved the task with its exact 95 % Clopper–Pearson interval.",
        f"- Solved: {SOLVED_DEFINITION}, per task:",
        "",
        "| task | chance | floor | ceiling | solved at held-out accuracy ≥ | why |",
        "| --- | --- | --- | --- | --- | --- |",
        *[
            f"| {t} | {o.chance} | {o.floor} | {o.ceiling} | {o.threshold} | {o.why} |"
            for t, o in OUTCOMES.items()
        ],
        "",
        f"- {DIVERGED_SCORING}",
        "- Runs with the same seed on the same dataset share the training data, the noise and "
        "(for the same init) the initial matrix, so variants of one experiment, and experiments "
        f"on one dataset that differ in fidelity, are matched pairs: they are compared with "
        "the Wilcoxon signed-rank test on the per-seed differences (exact, with ties and zeros) "
        f"and with McNemar's exact test on solved / not solved (`{SOLVED_METRIC}` only). "
        "Mann–Whitney U and Fisher's exact test are used only where two sets of runs share no "
        "seed. Every table names its test.",
        "- A claim is judged per task (each task is its own claim), its comparisons "
        f"Holm-corrected within the task at p < {ALPHA}. Across tasks only a secondary line is "
        f"given: how many comparisons point the claimed way and one stratified signed-rank test "
        f"over all of them; it never makes a claim hold.{power}",
        "",
    ]
    return out


def overview_lines(
    roles: dict[str, list[str]],
    claims: dict[str, list[ClaimResult]],
    positives: list[PositiveResult],
) -> list[str]:
    grids = roles["grid"]
    if not grids:
        return []
    tasks = sorted({t for label in grids for r in claims[label] for t in r.verdicts})
    out = [
        "## The claims at a glance",
        "",
        "Per claim and task, the verdict over that task's matched comparisons (significant of "
        f"those tested, Holm-corrected p < {ALPHA}); the claim's last row, across tasks, is "
        "direction only: comparisons pointing the claimed way and the pooled p. Details per "
        "experiment below.",
        "",
        "| claim | task | " + " | ".join(grids) + " |",
        "|" + " --- |" * (len(grids) + 2),
    ]
    for i, claim in enumerate(CLAIMS):
        for task in tasks:
            cells = [
                short_verdict(claims[label][i].verdicts.get(task, "not tested")) for label in grids
            ]
            out.append(f"| {claim.text} | {task} | " + " | ".join(cells) + " |")
        cells = [direction_text(claims[label][i]) for label in grids]
        out.append(f"| {claim.text} | all tasks: direction only | " + " | ".join(cells) + " |")
    for result in positives:
        for task, rows in result.table.groupby("task", sort=True):
            cells = [
                short_verdict(positive_verdict(rows)) if label == result.base else "–"
                for label in grids
            ]
            out.append(
                f"| {POSITIVE_CLAIM} (against `{result.label}`) | {task} | "
                + " | ".join(cells)
                + " |"
            )
    return [*out, ""]
