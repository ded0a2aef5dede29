"""The replication document: claims tested as stated and per task, paired by seed, numbers
from the tables, checked against scipy directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon

from cortexrnn.services.report.replication import render
from cortexrnn.services.report.replication_stats import CLAIMS, PAPER_ORDER, claim_table, verdict


def _fake(
    effects: dict[str, float], seeds: int = 6, seed: int = 0, released_sigma: bool = False
) -> pd.DataFrame:
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
                if released_sigma:
                    rows.append(
                        dict(
                            condition=cond,
                            task=task,
                            seed=s,
                            metric="small_world_sigma_released",
                            value=0.25 + rng.normal(0, 0.01),
                        )
                    )
    return pd.DataFrame(rows)


BIO_WINS = {"W*D*C": 0.3, "W*D*C*": 0.3, "W!D*C": 0.3, "W!D*C*": 0.3, "W*DC*": 0.3}


def _values(df: pd.DataFrame, task: str, cond: str, metric: str = "test_acc") -> np.ndarray:
    sel = df[(df.task == task) & (df.condition == cond) & (df.metric == metric)]
    return sel.sort_values("seed")["value"].to_numpy()


def test_a_clear_effect_holds_per_task_and_matches_scipys_paired_test() -> None:
    df = _fake(BIO_WINS)
    claim = next(c for c in CLAIMS if c.key == "w_star_beats_w")
    table = claim_table(df, claim, ["go_no_go", "perceptual_decision_making"])
    assert len(table) == 4 and set(table.test) == {"Wilcoxon signed-rank, paired"}
    row = table.iloc[0]
    a, b = _values(df, row.task, row.a), _values(df, row.task, row.b)
    ref = wilcoxon(a, b, alternative="greater", method="exact")
    assert row.p == ref.pvalue == 1 / 64 and ref.statistic == row.statistic and row.n_pairs == 6
    # Holm within each task (two comparisons), not over all tasks.
    assert (table["p_holm"] == 2 / 64).all()
    for _, rows in table.groupby("task"):
        assert verdict(claim, rows).startswith("holds")
    # Solved counts come with the accuracy rows (go/no-go: solved at 0.9; b stays at 0.6),
    # with McNemar's exact p: k discordant pairs all one way give 1 / 2^k.
    go = table[table.task == "go_no_go"].iloc[0]
    k = int((_values(df, "go_no_go", go.a) >= 0.9).sum())
    assert (go.solved_a, go.solved_b, go.p_solved) == (f"{k}/6", "0/6", 0.5**k)


def test_no_effect_is_not_shown_and_equality_holds() -> None:
    df = _fake({})
    greater = next(c for c in CLAIMS if c.key == "w_star_beats_w")
    assert verdict(greater, claim_table(df, greater, ["go_no_go"])).startswith("not shown")
    equal = next(c for c in CLAIMS if c.key == "w_star_equals_w_perm")
    assert verdict(equal, claim_table(df, equal, ["go_no_go"])).startswith("holds")
    assert verdict(
        equal, claim_table(_fake({"W*D*C": 0.3, "W*D*C*": 0.3}, seeds=8), equal, ["go_no_go"])
    ).startswith("does not hold")


def test_direct_communicability_claim_on_modularity() -> None:
    claim = next(c for c in CLAIMS if c.key == "direct_c_modular")
    table = claim_table(_fake({}), claim, ["go_no_go"])
    assert verdict(claim, table).startswith("holds")
    assert table.solved_a.isna().all()  # solved is about accuracy only


def test_render_writes_every_section_from_the_tables() -> None:
    paper, corrected = _fake(BIO_WINS, seed=1), _fake({}, seed=2)
    text = render(
        {"paper": paper, "corrected": corrected},
        {
            "paper": {
                "experiment_id": 1,
                "experiment_ids": [1, 3, 1],
                "dataset": "microns-6_6_2",
                "fidelity": "paper",
                "wall_s": 600,
                # merged from three servers; vm-9's workers had left before the fetch
                "device": "cpu (local-0@vm-1), cpu (local-1@vm-1); cpu (local-0@vm-1); "
                "? (local-0@vm-9), ? (local-1@vm-9)",
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
        "### The deviations together",
        "## How the numbers are tested",
        "| one_choice_inference | 0.25 | 0.625 | 1.0 | 0.925 |",
    ):
        assert heading in text, heading
    mean = paper[
        (paper.task == "go_no_go") & (paper.condition == "W*D*C") & (paper.metric == "test_acc")
    ]["value"].mean()
    assert f"| W*D*C | 6 | {mean:.3f} [" in text
    # The solved fraction follows the held-out accuracy (0.9 on go/no-go: 6 of 6 solved).
    assert "| W*D*C | 6 | 0.9" in text and "| 6/6 [0.54, 1.00] |" in text
    assert "holds when pooled" not in text and "σ (released code's nulls)" not in text
    assert (
        "| paper | 1+3+1 | microns-6_6_2 | paper | 11 | 6 | 132 | – | "
        "cpu (2 workers on 1 host), not recorded (2 workers on 1 host) | 10.0 min | – |"
    ) in text


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
    from cortexrnn.services.report.replication_deviations import reported_accuracy_lines

    paper = _with_train(_fake({}), 0.04)
    lines = reported_accuracy_lines(paper, ["go_no_go"])
    g = paper[paper.task == "go_no_go"].pivot_table(
        index=["condition", "seed"], columns="metric", values="value"
    )
    diff = (g["train_acc"] - g["test_acc"]).to_numpy()
    # Every run's reported accuracy is above its held-out one: of the 2^n sign patterns only
    # that one and its mirror are as extreme (scipy's exact test underflows to 0 at this n).
    assert (diff > 0).all()
    ref = 2 * 0.5 ** len(diff)
    assert wilcoxon(diff[:20], method="exact").pvalue == pytest.approx(2 * 0.5**20)
    row = lines[2].split(" | ")
    assert (
        row[0] == "| go_no_go"
        and row[1] == str(len(g))
        and row[4].startswith(f"{(g['train_acc'] - g['test_acc']).mean():.3f}")
    )
    assert row[5] == (f"{ref:.1e}" if ref < 1e-4 else f"{ref:.2g}")


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

    corrected = _fake({}, seed=2, seeds=8)
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
    # The glance table, one row per task: the accuracy change (switch minus corrected) and
    # its paired p, Holm over the tasks within the measure; the row's pipes escaped.
    from cortexrnn.services.stats.inference import holm

    glance = text.split("## The deviations at a glance")[1].split("\n## ")[0]
    rows = [line for line in glance.splitlines() if line.startswith("| §5.2")]
    assert len(rows) == 2 and all("sum \\|W\\|" in r and r.count(" | ") == 2 for r in rows)
    tasks = ["go_no_go", "perceptual_decision_making"]
    ps = [
        wilcoxon(_values(dev, t, "W") - _values(corrected, t, "W"), method="exact").pvalue
        for t in tasks
    ]
    (go,) = [r for r in rows if "| go_no_go |" in r]
    assert f"**held-out acc. +0.200 (p = {holm(ps)[0]:.2g})**; solved 0/8 → 0/8" in go


def test_figure_is_a_png_of_every_variant() -> None:
    from cortexrnn.services.report.figures import variant_points

    png = variant_points(
        {"paper": _fake(BIO_WINS), "corrected": _fake({}, seed=1)}, "test_acc", PAPER_ORDER, "t"
    )
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_overview_cells_keep_the_counts_of_each_verdict() -> None:
    from cortexrnn.services.report.replication import short_verdict

    assert short_verdict("partly holds (2 of 6 comparisons significant)") == "partly holds (2/6)"
    assert short_verdict("not shown (0 of 2 comparisons significant)") == "not shown (0/2)"
    assert short_verdict("holds (2 of 2 comparisons, Holm-corrected p < 0.05)") == "holds (2/2)"
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


def test_pooling_over_tasks_is_direction_only_never_a_verdict() -> None:
    """A small consistent effect: no task shows it, the pooled test over tasks and pairs does.
    The tasks' verdicts stay 'not shown'; the pooled p appears only as the direction line."""
    from cortexrnn.services.report.replication_stats import claim_results, direction
    from cortexrnn.services.stats import pooled_signed_rank

    claim = next(c for c in CLAIMS if c.key == "w_star_beats_w")
    tasks = ["go_no_go", "perceptual_decision_making"]
    small = _fake({k: 0.01 for k in ("W*D*C", "W*D*C*", "W*DC*")}, seeds=5)
    d = direction(small, claim, tasks)
    diffs = [
        _values(small, t, c.a) - _values(small, t, c.b) for t in tasks for c in claim.comparisons
    ]
    assert (d.statistic, d.p) == pooled_signed_rank(diffs, "greater") and d.p < 0.05
    assert d.test == "stratified Wilcoxon signed-rank, paired"
    result = next(r for r in claim_results(small) if r.claim.key == claim.key)
    assert all(v.startswith("not shown") for v in result.verdicts.values())
    text = render({"corrected": small}, {})
    glance = text.split("## The claims at a glance")[1].split("\n## ")[0]
    (line,) = [
        x for x in glance.splitlines() if x.startswith(f"| {claim.text} | all tasks: direction")
    ]
    assert f"pooled one-sided p = {d.p:.2g}" in line or f"{d.p:.1e}" in line
    assert "holds when pooled" not in text


def test_released_sigma_column_appears_only_when_measured() -> None:
    with_released = render({"corrected": _fake({}, released_sigma=True)}, {})
    head = next(x for x in with_released.splitlines() if x.startswith("| variant | n |"))
    assert "small-world σ (density-matched nulls)" in head
    assert "small-world σ (released code's nulls)" in head
    without = render({"corrected": _fake({})}, {})
    assert "released code's nulls" not in without


def test_claims_table_names_the_test_of_each_row_and_unpaired_runs_get_mann_whitney() -> None:
    from scipy.stats import mannwhitneyu

    df = _fake(BIO_WINS)
    df.loc[df.condition == "WD*C", "seed"] += 100  # no seed in common with W*D*C
    claim = next(c for c in CLAIMS if c.key == "w_star_beats_w")
    table = claim_table(df, claim, ["go_no_go"])
    row = table[table.b == "WD*C"].iloc[0]
    ref = mannwhitneyu(_values(df, "go_no_go", "W*D*C"), _values(df, "go_no_go", "WD*C"),
                       alternative="greater")  # fmt: skip
    assert row.test == "Mann–Whitney U, unpaired" and row.p == ref.pvalue and row.n_pairs == 0
    assert table[table.b == "WD*C*"].test.iloc[0] == "Wilcoxon signed-rank, paired"
    text = render({"corrected": df}, {})
    assert "| Mann–Whitney U, unpaired |" in text and "| Wilcoxon signed-rank, paired |" in text


def test_an_experiment_changing_some_corrected_variants_is_compared_with_them() -> None:
    """c-star-weighted: W*D*C* and WD*C* with `emd_weighting`, corrected fidelity, same
    dataset: compared per variant with `corrected` (paired by seed), not given a grid section."""
    corrected = _fake({}, seed=3, seeds=8)
    weighted = corrected[corrected.condition.isin(["W*D*C*", "WD*C*"])].copy()
    weighted.loc[weighted.metric == "test_acc", "value"] += 0.25
    meta = {
        "corrected": {"fidelity": "corrected", "dataset": "microns-6_6_2"},
        "c-star-weighted": {"fidelity": "corrected", "dataset": "microns-6_6_2"},
    }
    text = render({"corrected": corrected, "c-star-weighted": weighted}, meta)
    assert "## c-star-weighted: measures" not in text
    section = text.split("## Extensions against the corrected grid")[1]
    assert "### c-star-weighted" in section and "4 up, 0 down" in section
    rows = [r for r in section.splitlines() if r.startswith("| go_no_go | W*D*C* | held-out")]
    expected = wilcoxon(
        _values(weighted, "go_no_go", "W*D*C*") - _values(corrected, "go_no_go", "W*D*C*"),
        method="exact",
    ).pvalue
    assert len(rows) == 1 and f"{expected:.2g}" in rows[0]
    # on another dataset, or with every variant, it stays a grid of its own
    meta["c-star-weighted"]["dataset"] = "microns-4_7_2"
    assert "## c-star-weighted: measures" in render(
        {"corrected": corrected, "c-star-weighted": weighted}, meta
    )


def test_positive_only_at_both_fidelities_pairs_every_variant_with_its_free_sign() -> None:
    """Table 3 with all eleven variants: `positive` against `corrected` and `positive-paper`
    against `paper`, each X+ paired by seed with X of its own fidelity's grid. The claim about
    bio-initialised networks is judged on those variants alone (their own Holm family), the
    other pairs are shown and tested beside them."""
    from cortexrnn.services.report.replication_stats import (
        BIO,
        classify,
        positive_results,
    )

    seeds = 7  # smallest one-sided p 1/128: passes Holm over the 5 bio pairs, not over all 11
    corrected, paper = _fake({}, seed=2, seeds=seeds), _fake({}, seed=5, seeds=seeds)

    def positive_of(grid: pd.DataFrame) -> pd.DataFrame:
        """Every X+ as X, seed by seed, except the non-bio variants, about 0.3 worse."""
        pos = grid.copy()
        hurt = ~pos.condition.isin(BIO) & (pos.metric == "test_acc")
        rng = np.random.default_rng(9)
        pos.loc[hurt, "value"] -= 0.3 + rng.uniform(0, 0.01, int(hurt.sum()))
        pos["condition"] += "+"
        return pos

    experiments = {
        "paper": paper,
        "corrected": corrected,
        "positive": positive_of(corrected),
        "positive-paper": positive_of(paper),
    }
    meta = {"paper": {"fidelity": "paper"}, "corrected": {"fidelity": "corrected"}}
    roles = classify(experiments, meta)
    assert roles["positive"] == ["positive", "positive-paper"]
    results = {r.label: r for r in positive_results(experiments, meta, roles)}
    assert {k: r.base for k, r in results.items()} == {
        "positive": "corrected",
        "positive-paper": "paper",
    }
    table = results["positive-paper"].table
    assert len(table) == 2 * 11 and set(table.condition) == set(PAPER_ORDER)
    # paired with paper's own runs: the bio variants differ from them by exactly nothing
    assert (table[table.bio].difference == 0).all()
    row = table[(table.task == "go_no_go") & (table.condition == "WD")].iloc[0]
    expected = wilcoxon(
        _values(experiments["positive-paper"], "go_no_go", "WD+")
        - _values(paper, "go_no_go", "WD"),
        alternative="less",
        method="exact",
    ).pvalue
    assert row.test == "Wilcoxon signed-rank, paired" and row.p_worse == pytest.approx(expected)

    text = render(experiments, meta)
    section = text.split("## Positive-only recurrent weights (Table 3)")[1]
    assert "### `positive` against `corrected`" in section
    paper_part = section.split("### `positive-paper` against `paper`")[1]
    assert paper_part.count("**holds (5 of 5 comparisons non-inferior") == 2
    assert "counts only the bio-initialised variants" in paper_part
    for cond in ("W", "WD", "WD*", "WDC", "WD*C", "WD*C*", "W!D*C*"):
        assert f"| go_no_go | {cond} |" in paper_part, cond
    # the glance table: each positive experiment's verdict under its own grid's column
    head = next(r for r in text.splitlines() if r.startswith("| claim | task |"))
    assert head.startswith("| claim | task | paper | corrected |")
    glance = [r for r in text.splitlines() if "(against `positive-paper`) | go_no_go |" in r]
    assert len(glance) == 1 and glance[0].endswith("| holds (5/5) | – |")
    # any label: an experiment of X+ variants only, at paper fidelity, pairs with `paper`
    renamed = {k: v for k, v in experiments.items() if k != "positive-paper"}
    renamed["table-3-paper"] = experiments["positive-paper"]
    meta["table-3-paper"] = {"fidelity": "paper"}
    assert "### `table-3-paper` against `paper`" in render(renamed, meta)


def test_a_grid_with_more_seeds_is_shown_on_the_seeds_the_other_side_ran() -> None:
    """A free-sign grid of 10 seeds against positive-only runs of its first 5 (Table 3 as
    gathered): the free column, the difference and the solved counts are over the 5 paired
    seeds, as the tests are; the grid's seeds 5-9 (here all solved) do not enter them. The
    same for a deviation of 5 seeds against `corrected` of 10."""
    from cortexrnn.services.report.replication_stats import (
        classify,
        deviation_results,
        positive_results,
    )

    grid = _fake({}, seed=3, seeds=10)
    late = (grid.seed >= 5) & (grid.metric == "test_acc")
    grid.loc[late, "value"] = 1.0  # seeds 5-9 solve go/no-go; seeds 0-4 stay near 0.6
    first = grid[grid.seed < 5]
    positive = first.assign(condition=first.condition + "+")
    experiments = {"corrected": grid, "positive": positive}
    meta = {"corrected": {"fidelity": "corrected"}, "positive": {"fidelity": "corrected"}}
    table = positive_results(experiments, meta, classify(experiments, meta))[0].table
    row = table[(table.task == "go_no_go") & (table.condition == "W*D*C")].iloc[0]
    assert list(row.free.index) == [0, 1, 2, 3, 4]
    assert row.difference == 0.0
    assert row.solved_free == row.solved_positive == "0/5"

    deviation = first[first.condition == "W"]
    switches = {"l1_without_lambda": True, "keep_functional_diagonal": True}
    experiments = {"corrected": grid, "l1": deviation}
    meta = {"corrected": {"fidelity": "corrected"}, "l1": {"fidelity_switches": switches}}
    results = deviation_results(experiments, meta, classify(experiments, meta))
    rows = results[0].table
    acc = rows[(rows.task == "go_no_go") & (rows.metric == "test_acc")]
    assert len(acc) and (acc.difference == 0.0).all()
    assert all(list(r.first.index) == [0, 1, 2, 3, 4] for r in acc.itertuples())
