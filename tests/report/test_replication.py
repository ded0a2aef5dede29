"""The replication document: claims tested as stated, numbers from the tables, checked
against scipy directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from cortexrnn.services.report.replication import render
from cortexrnn.services.report.replication_stats import CLAIMS, PAPER_ORDER, claim_table, verdict


def _fake(effects: dict[str, float], seeds: int = 6, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for task in ("go_no_go", "perceptual_decision_making"):
        for cond in PAPER_ORDER:
            for s in range(seeds):
                acc = 0.6 + effects.get(cond, 0.0) + rng.normal(0, 0.01)
                rows.append(dict(condition=cond, task=task, seed=s, metric="test_acc", value=acc))
                rows.append(
                    dict(
                        condition=cond,
                        task=task,
                        seed=s,
                        metric="modularity_cnm",
                        value=0.3
                        + (0.1 if cond.endswith("C") and not cond.endswith("C*") else 0)
                        + rng.normal(0, 0.01),
                    )
                )
                rows.append(
                    dict(
                        condition=cond,
                        task=task,
                        seed=s,
                        metric="small_world_sigma",
                        value=1.0 + rng.normal(0, 0.05),
                    )
                )
    return pd.DataFrame(rows)


BIO_WINS = {"W*D*C": 0.3, "W*D*C*": 0.3, "W!D*C": 0.3, "W!D*C*": 0.3, "W*DC*": 0.3}


def test_a_clear_effect_holds_and_matches_scipy() -> None:
    df = _fake(BIO_WINS)
    claim = next(c for c in CLAIMS if c.key == "w_star_beats_w")
    table = claim_table(df, claim, ["go_no_go", "perceptual_decision_making"])
    assert len(table) == 4
    row = table.iloc[0]
    a = df[(df.task == row.task) & (df.condition == row.a) & (df.metric == "test_acc")]["value"]
    b = df[(df.task == row.task) & (df.condition == row.b) & (df.metric == "test_acc")]["value"]
    ref = mannwhitneyu(a, b, alternative="greater")
    assert row.p == ref.pvalue and ref.statistic == row.U
    assert (table["p_holm"] >= table["p"]).all() and table["p_holm"].max() <= 1
    assert verdict(claim, table).startswith("holds")


def test_no_effect_does_not_hold_and_equality_holds() -> None:
    df = _fake({})
    greater = next(c for c in CLAIMS if c.key == "w_star_beats_w")
    assert verdict(greater, claim_table(df, greater, ["go_no_go"])).startswith("does not hold")
    equal = next(c for c in CLAIMS if c.key == "w_star_equals_w_perm")
    assert verdict(equal, claim_table(df, equal, ["go_no_go"])).startswith("holds")
    assert verdict(
        equal, claim_table(_fake({"W*D*C": 0.3, "W*D*C*": 0.3}), equal, ["go_no_go"])
    ).startswith("does not hold")


def test_direct_communicability_claim_on_modularity() -> None:
    claim = next(c for c in CLAIMS if c.key == "direct_c_modular")
    assert verdict(claim, claim_table(_fake({}), claim, ["go_no_go"])).startswith("holds")


def test_render_writes_every_section_from_the_tables() -> None:
    paper, corrected = _fake(BIO_WINS, seed=1), _fake({}, seed=2)
    text = render(
        {"paper": paper, "corrected": corrected},
        {
            "paper": {
                "experiment_id": 1,
                "dataset": "microns-6_6_2",
                "fidelity": "paper",
                "wall_s": 600,
                "device": "cpu",
            }
        },
    )
    for heading in (
        "## Experiments",
        "## paper: measures per task and variant",
        "### go_no_go",
        "## corrected: measures per task and variant",
        "Functional init (W*) beats the baseline init (W)",
        "## What the released code's deviations change on microns-6_6_2",
        "### All six together",
    ):
        assert heading in text, heading
    mean = paper[
        (paper.task == "go_no_go") & (paper.condition == "W*D*C") & (paper.metric == "test_acc")
    ]["value"].mean()
    assert f"| W*D*C | 6 | {mean:.3f} [" in text
    assert "| paper | 1 | microns-6_6_2 | paper | 11 | 6 | 132 | – | cpu | 10.0 min | – |" in text


def test_van_elteren_reduces_to_scipys_asymptotic_mwu_and_pools_strata() -> None:
    from scipy.stats import mannwhitneyu, norm

    from cortexrnn.services.stats.inference import van_elteren

    rng = np.random.default_rng(3)
    a, b = rng.normal(0.4, 1, 7).round(1), rng.normal(0, 1, 9).round(1)  # rounded: ties
    for alt in ("greater", "less", "two-sided"):
        ref = mannwhitneyu(a, b, alternative=alt, method="asymptotic", use_continuity=False)
        assert np.isclose(van_elteren([(a, b)], alt)[1], ref.pvalue)
    # Two strata by hand: U = 4 of 4 (a all above) in a 2+2 stratum and U = 0 of 2 in a 1+2 one,
    # no ties: weights 1/5 and 1/4; E = 2/5 + 1/4; Var = (1/25) 4 5/12 + (1/16) 2 4/12.
    z, p = van_elteren(
        [(np.array([3.0, 4.0]), np.array([1.0, 2.0])), (np.array([0.0]), np.array([1.0, 2.0]))],
        "greater",
    )
    t, e = 4 / 5 + 0 / 4, 2 / 5 + 1 / 4
    var = (1 / 25) * 4 * 5 / 12 + (1 / 16) * 2 * 4 / 12
    assert np.isclose(z, (t - e) / np.sqrt(var)) and np.isclose(p, norm.sf(z))
    assert np.isnan(van_elteren([(np.array([]), b)])[0])


def _with_train(df: pd.DataFrame, gap: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    train = df[df.metric == "test_acc"].assign(metric="train_acc")
    train["value"] = train["value"] + gap + rng.normal(0, 0.005, len(train))
    return pd.concat([df, train], ignore_index=True)


def test_reported_accuracy_is_tested_paired_against_held_out() -> None:
    from scipy.stats import wilcoxon

    from cortexrnn.services.report.replication import reported_accuracy_lines

    paper = _with_train(_fake({}), 0.04)
    lines = reported_accuracy_lines(paper, ["go_no_go"])
    g = paper[paper.task == "go_no_go"].pivot_table(
        index=["condition", "seed"], columns="metric", values="value"
    )
    ref = wilcoxon(g["train_acc"] - g["test_acc"]).pvalue
    row = lines[2].split(" | ")
    assert (
        row[0] == "| go_no_go"
        and row[1] == str(len(g))
        and row[4].startswith(f"{(g['train_acc'] - g['test_acc']).mean():.3f}")
    )
    assert row[5] == f"{ref:.1e}" if ref < 1e-4 else f"{ref:.2g}"


def test_equivalence_needs_evidence_not_only_absence_of_a_difference() -> None:
    equal = next(c for c in CLAIMS if c.key == "w_star_equals_w_perm")
    noisy = _fake({}, seeds=3)
    rng = np.random.default_rng(5)
    noisy.loc[noisy.metric == "test_acc", "value"] += rng.normal(
        0, 0.1, int((noisy.metric == "test_acc").sum())
    )
    assert verdict(equal, claim_table(noisy, equal, ["go_no_go"])).startswith(
        ("not shown", "does not hold")
    )
    assert verdict(equal, claim_table(_fake({}, seeds=8), equal, ["go_no_go"])).startswith("holds")


def test_deviation_and_positive_experiments_are_compared_with_corrected() -> None:
    from cortexrnn.services.report.replication_stats import (
        deviation_switch,
        positive_table,
        positive_verdict,
    )

    corrected = _fake({}, seed=2)
    dev = corrected[corrected.condition == "W"].copy()
    dev.loc[dev.metric == "test_acc", "value"] += 0.2
    switches = {"l1_without_lambda": True, "keep_functional_diagonal": True}
    assert deviation_switch({"fidelity_switches": switches}) == "l1_without_lambda"
    assert deviation_switch({"fidelity_switches": {**switches, "reshape_positions": True}}) is None
    assert (
        deviation_switch({"fidelity_switches": {"keep_functional_diagonal": False}})
        == "keep_functional_diagonal"
    )
    good = corrected[corrected.condition.isin(["W*D*C", "W!D*C"])].copy()
    good["condition"] += "+"
    table = positive_table(corrected, good, ["go_no_go", "perceptual_decision_making"])
    assert len(table) == 4 and positive_verdict(table).startswith("holds")
    bad = good.copy()
    bad.loc[bad.metric == "test_acc", "value"] -= 0.3
    assert positive_verdict(
        positive_table(corrected, bad, ["go_no_go", "perceptual_decision_making"])
    ).startswith("does not hold")
    text = render(
        {"corrected": corrected, "l1": dev, "positive": good},
        {"l1": {"fidelity_switches": switches}},
    )
    section = text.split("### §5.2")[1].split("###")[0]
    assert (
        "Experiment `l1`" in section
        and "2 up, 0 down" in section
        and "seeds of `corrected`" in section
    )
    assert "## l1: measures" not in text and "## Positive-only recurrent weights (Table 3)" in text
    assert "No experiment with this switch alone" in text.split("### §5.1")[1].split("###")[0]
    # The glance table: the switch's pooled accuracy change (switch minus corrected) and its
    # van Elteren p over the tasks, Holm over the measures; the row's pipes escaped.
    from cortexrnn.services.stats.inference import holm, van_elteren

    glance = text.split("## The deviations at a glance")[1].split("\n## ")[0]
    (row,) = [line for line in glance.splitlines() if line.startswith("| §5.2")]
    assert "sum \\|W\\|" in row and row.count(" | ") == 1
    tasks = ["go_no_go", "perceptual_decision_making"]

    def strata(metric: str) -> list[tuple[np.ndarray, np.ndarray]]:
        def pick(df, t):
            rows = df[(df.task == t) & (df.condition == "W") & (df.metric == metric)]
            return rows["value"].to_numpy()

        return [(pick(dev, t), pick(corrected, t)) for t in tasks]

    ps = [
        van_elteren(strata(m))[1]
        for m in ("test_acc", "entropy_kde", "modularity_cnm", "small_world_sigma")
        if len(strata(m)[0][0])
    ]
    p_acc = holm(ps)[0]
    assert f"**held-out acc. +0.200 (p = {p_acc:.2g})**" in row


def test_figure_is_a_png_of_every_variant() -> None:
    from cortexrnn.services.report.figures import variant_points

    png = variant_points(
        {"paper": _fake(BIO_WINS), "corrected": _fake({}, seed=1)}, "test_acc", PAPER_ORDER, "t"
    )
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_overview_cells_keep_the_counts_of_each_verdict() -> None:
    from cortexrnn.services.report.replication import short_verdict

    assert short_verdict("partly holds (2 of 6 comparisons significant)") == "partly holds (2/6)"
    assert (
        short_verdict("does not hold (2 of 6 comparisons differ, Holm-corrected p < 0.05)")
        == "does not hold (2/6 differ)"
    )
    assert (
        short_verdict("holds (all 6 comparisons equivalent within ±0.05, TOST Holm p < 0.05)")
        == "holds (6/6 equivalent)"
    )
    assert (
        short_verdict("not shown (none significantly worse, 1 of 4 shown non-inferior within 0.05)")
        == "not shown (1/4 non-inferior)"
    )
    assert short_verdict("not tested (no data)") == "not tested"


def test_a_small_consistent_effect_holds_only_when_pooled() -> None:
    """At 5 seeds no single comparison of a 0.01 effect survives Holm, but the pooled van
    Elteren test over the tasks and pairs does: the verdict says so instead of 'does not hold'."""
    from cortexrnn.services.report.replication import short_verdict
    from cortexrnn.services.report.replication_stats import pooled_claim_test
    from cortexrnn.services.stats.inference import van_elteren

    claim = next(c for c in CLAIMS if c.key == "w_star_beats_w")
    tasks = ["go_no_go", "perceptual_decision_making"]
    small = _fake({k: 0.01 for k in ("W*D*C", "W*D*C*", "W*DC*")}, seeds=5)
    table = claim_table(small, claim, tasks)
    z, p = pooled_claim_test(small, claim, tasks)
    strata = [
        (
            small[(small.task == t) & (small.condition == c.a) & (small.metric == "test_acc")][
                "value"
            ].to_numpy(),
            small[(small.task == t) & (small.condition == c.b) & (small.metric == "test_acc")][
                "value"
            ].to_numpy(),
        )
        for t in tasks
        for c in claim.comparisons
    ]
    assert (z, p) == van_elteren(strata, "greater")
    assert (table["p_holm"] >= 0.05).all() and p < 0.05
    text = verdict(claim, table, p)
    assert (
        text.startswith("holds when pooled")
        and short_verdict(text) == "holds when pooled (0/4 alone)"
    )
    assert verdict(claim, table).startswith("does not hold")  # without the pooled test
    none = _fake({}, seeds=5)
    assert verdict(
        claim, claim_table(none, claim, tasks), pooled_claim_test(none, claim, tasks)[1]
    ).startswith("does not hold")
