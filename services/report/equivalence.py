"""The precision-equivalence table as markdown for docs/benchmarks.md: one row per task x
variant, one column per metric holding the mean paired difference (e.g. bf16-mixed - fp32),
its 90 % interval and the TOST p-value, marked ✓ where equivalence is shown; then the cells
where it is not (those keep fp32). The numbers are `stats.equivalence.tost_table`'s."""

from __future__ import annotations

import math

import pandas as pd

from ..priors.presets import PAPER_2026_NAMES
from ..stats.equivalence import EQUIVALENT, TOST
from .replication_format import num, pval

LABELS = {
    "test_acc": "held-out acc.",
    "modularity_cnm": "modularity Q (CNM)",
    "modularity_louvain": "modularity Q (Louvain)",
}


def _signed(x: float) -> str:
    return "–" if not math.isfinite(x) else ("+" if x >= 0 else "−") + num(abs(x))


def _cell(row: pd.Series) -> str:
    if row["n_pairs"] < 2:
        return f"{row['n_pairs']} pairs: not tested ✗"
    mark = "✓" if row["verdict"] == EQUIVALENT else "✗"
    return (
        f"{_signed(row['mean_diff'])} [{_signed(row['ci_low'])}, {_signed(row['ci_high'])}] "
        f"p {'0' if row['p'] == 0 else pval(row['p'])} {mark}"
    )


def _order(conditions: list[str]) -> list[str]:
    """The paper's variant order first, any others after it by name."""
    known = [c for c in PAPER_2026_NAMES if c in conditions]
    return known + sorted(c for c in conditions if c not in PAPER_2026_NAMES)


def equivalence_markdown(
    table: pd.DataFrame, a_label: str = "bf16-mixed", b_label: str = "fp32", alpha: float = 0.05
) -> str:
    """The markdown of a `tost_table(a, b, ...)` result (a - b per seed)."""
    metrics = list(dict.fromkeys(table["metric"]))
    margins = table.drop_duplicates("metric").set_index("metric")["margin"]
    head = ["task", "variant", "pairs", f"{LABELS.get(metrics[0], metrics[0])}, {b_label}"]
    head += [f"Δ {LABELS.get(m, m)} (±{margins[m]:g})" for m in metrics]
    lines = [
        f"{TOST[0].upper()}{TOST[1:]} per task and variant: Δ = {a_label} − {b_label} over "
        "the seeds run in both "
        f"(mean [{1 - 2 * alpha:.0%} CI], TOST p); ✓ equivalent within the margin at "
        f"α = {alpha:g}.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + " --- |" * len(head),
    ]
    cells = table.set_index(["task", "condition", "metric"]).sort_index()
    failed: list[str] = []
    for task in sorted(set(table["task"])):
        for cond in _order(sorted(set(table.loc[table["task"] == task, "condition"]))):
            rows = [cells.loc[(task, cond, m)] for m in metrics]
            pairs = max(int(r["n_pairs"]) for r in rows)
            lone = [f"{int(r['only_a'])} {a_label} only" for r in rows[:1] if r["only_a"]]
            lone += [f"{int(r['only_b'])} {b_label} only" for r in rows[:1] if r["only_b"]]
            pairs_text = str(pairs) + (f" ({', '.join(lone)})" if lone else "")
            line = [task, cond, pairs_text, num(rows[0]["mean_b"])]
            lines.append("| " + " | ".join(line + [_cell(r) for r in rows]) + " |")
            failed += [
                f"{cond} / {task} / {LABELS.get(m, m)}"
                for m, r in zip(metrics, rows, strict=True)
                if r["verdict"] != EQUIVALENT
            ]
    total = len(table)
    lines += ["", f"Equivalence shown in {total - len(failed)} of {total} cells."]
    if failed:
        lines += [f"Not shown (keep {b_label} there): " + "; ".join(failed)]
    return "\n".join(lines) + "\n"
