"""Statistics across runs against scipy.stats and statsmodels, on fabricated tidy tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import statsmodels.formula.api as smf
from statsmodels.stats.anova import anova_lm
from statsmodels.stats.multitest import multipletests

from cortexrnn.services.stats import (
    PAIRED,
    UNPAIRED,
    describe,
    holm,
    omnibus,
    pairwise_tests,
    parse_condition,
    rank_anova,
    summarise,
)

PAPER = [
    "W*D*C",
    "WD*C",
    "WDC",
    "WD*",
    "WD",
    "W",
    "W*D*C*",
    "WD*C*",
    "W*DC*",
    "W!D*C",
    "W!D*C*",
]


def fabricate(conditions: list[str], seeds: int = 8, seed: int = 0) -> pd.DataFrame:
    """Accuracy and modularity per run; functional init (W*) and real space (D*) help."""
    rng = np.random.default_rng(seed)
    rows = []
    for cond in conditions:
        f = parse_condition(cond) if cond[0] == "W" else {"W": "W", "D": "none", "C": "none"}
        for task in ("go_nogo", "perceptual"):
            for s in range(seeds):
                acc = 0.7 + 0.1 * (f["W"] == "W*") + 0.04 * (f["D"] == "D*") + rng.normal(0, 0.03)
                mod = 0.2 + 0.05 * (f["C"] != "none") + rng.gamma(2, 0.02)
                rows += [
                    {
                        "condition": cond,
                        "task": task,
                        "seed": s,
                        "metric": "test_acc",
                        "value": acc,
                    },
                    {
                        "condition": cond,
                        "task": task,
                        "seed": s,
                        "metric": "modularity",
                        "value": mod,
                    },
                ]
    return pd.DataFrame(rows)


def test_parse_condition_paper_names() -> None:
    assert parse_condition("W*D*C") == {"W": "W*", "D": "D*", "C": "C"}
    assert parse_condition("WD*C*") == {"W": "W", "D": "D*", "C": "C*"}
    assert parse_condition("W!D*C") == {"W": "W!", "D": "D*", "C": "C"}
    assert parse_condition("W") == {"W": "W", "D": "none", "C": "none"}
    assert parse_condition("WD") == {"W": "W", "D": "D", "C": "none"}
    assert parse_condition("W*DC*") == {"W": "W*", "D": "D", "C": "C*"}
    assert len({tuple(parse_condition(c).values()) for c in PAPER}) == 11
    with pytest.raises(ValueError, match="baseline"):
        parse_condition("baseline")


def test_describe_matches_scipys_percentile_bootstrap() -> None:
    df = fabricate(["W", "W*D*C"], seeds=12)
    out = describe(df, n_boot=20_000, seed=1)
    assert len(out) == 2 * 2 * 2
    assert not {"t_low", "t_high"} & set(out.columns)  # no t intervals: they leave the range
    for _, r in out.iterrows():
        v = df[(df.condition == r.condition) & (df.task == r.task) & (df.metric == r.metric)][
            "value"
        ].to_numpy()
        assert r.n == len(v)
        assert r["mean"] == pytest.approx(v.mean(), rel=1e-12)
        assert r.sd == pytest.approx(v.std(ddof=1), rel=1e-12)
        ref = scipy.stats.bootstrap(
            (v,), np.mean, n_resamples=20_000, method="percentile", random_state=0
        )
        width = ref.confidence_interval.high - ref.confidence_interval.low
        assert r.boot_low == pytest.approx(ref.confidence_interval.low, abs=0.05 * width)
        assert r.boot_high == pytest.approx(ref.confidence_interval.high, abs=0.05 * width)
        assert v.min() <= r.boot_low <= r["mean"] <= r.boot_high <= v.max()


def test_describe_is_seeded_and_drops_undefined_values() -> None:
    df = fabricate(["W", "WD*"], seeds=6)
    df.loc[0, "value"] = np.nan  # an undefined metric (None in the record)
    a, b = describe(df, seed=3), describe(df, seed=3)
    pd.testing.assert_frame_equal(a, b)
    first = df.iloc[0]
    n = a[
        (a.condition == first.condition) & (a.task == first.task) & (a.metric == first.metric)
    ].n.item()
    assert n == 5
    # A group's interval depends on its values only: adding other groups does not move it.
    alone = describe(df[df.condition == "W"], seed=3)
    both = a[a.condition == "W"].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, both)


def test_omnibus_is_friedman_on_shared_seeds_and_kruskal_otherwise() -> None:
    df = fabricate(PAPER[:5], seeds=7)
    out = omnibus(df)
    for _, r in out.iterrows():
        g = df[(df.task == r.task) & (df.metric == r.metric)]
        wide = g.pivot(index="seed", columns="condition", values="value")
        stat, p = scipy.stats.friedmanchisquare(*(wide[c] for c in wide.columns))
        assert r.test.startswith("Friedman") and r.k == 5 and r.df == 4
        assert r.statistic == pytest.approx(stat, rel=1e-12) and r.p == pytest.approx(p, rel=1e-12)
    # One run missing: the seeds are no longer complete blocks, so Kruskal–Wallis.
    out = omnibus(df.iloc[1:])
    r = out[(out.task == df.task.iloc[0]) & (out.metric == df.metric.iloc[0])].iloc[0]
    g = df.iloc[1:]
    g = g[(g.task == r.task) & (g.metric == r.metric)]
    h, p = scipy.stats.kruskal(*(x.value.to_numpy() for _, x in g.groupby("condition")))
    assert r.test.startswith("Kruskal") and r.statistic == pytest.approx(h, rel=1e-12)
    assert r.p == pytest.approx(p, rel=1e-12)
    # Every seed tied across the conditions: no difference, not a division by zero.
    flat = df.assign(value=df.seed.astype(float))
    assert (omnibus(flat).p == 1.0).all()


def test_pairwise_tests_are_paired_on_shared_seeds_and_match_scipy_statsmodels() -> None:
    df = fabricate(["W", "W*D*C", "WD*", "W!D*C"], seeds=9)
    out = pairwise_tests(df)
    assert len(out) == 2 * 2 * 6 and set(out.test) == {PAIRED}
    for (task, metric), block in out.groupby(["task", "metric"]):
        g = df[(df.task == task) & (df.metric == metric)]
        ps = []
        for _, r in block.iterrows():
            a = g[g.condition == r.a].sort_values("seed").value.to_numpy()
            b = g[g.condition == r.b].sort_values("seed").value.to_numpy()
            ref = scipy.stats.wilcoxon(a, b, method="exact")  # continuous values: no ties
            assert r.n_pairs == 9 and r.p == pytest.approx(ref.pvalue, rel=1e-12)
            t_plus = scipy.stats.rankdata(np.abs(a - b))[a > b].sum()
            assert r.statistic == pytest.approx(t_plus)
            # Matched-pairs rank-biserial: (T+ - T-) / (T+ + T-).
            assert r.rank_biserial == pytest.approx((2 * t_plus - 45) / 45, abs=1e-12)
            sp = np.sqrt(
                ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1))
                / (len(a) + len(b) - 2)
            )
            assert r.cohens_d == pytest.approx((a.mean() - b.mean()) / sp, rel=1e-12)
            ps.append(ref.pvalue)
        ref = multipletests(ps, method="holm")[1]
        np.testing.assert_allclose(block.p_holm.to_numpy(), ref, rtol=1e-12)


def test_pairwise_tests_fall_back_to_mann_whitney_without_shared_seeds() -> None:
    df = fabricate(["W", "W*D*C"], seeds=6)
    df.loc[df.condition == "W", "seed"] += 100  # another experiment's seeds: not matched
    out = pairwise_tests(df)
    assert set(out.test) == {UNPAIRED} and (out.n_pairs == 0).all()
    for _, r in out.iterrows():
        g = df[(df.task == r.task) & (df.metric == r.metric)]
        a, b = g[g.condition == r.a].value, g[g.condition == r.b].value
        u, p = scipy.stats.mannwhitneyu(a, b, alternative="two-sided")
        assert r.statistic == pytest.approx(u) and r.p == pytest.approx(p, rel=1e-12)
        diff = np.sign(a.to_numpy()[:, None] - b.to_numpy()[None, :]).mean()
        assert r.rank_biserial == pytest.approx(diff, abs=1e-12)


def test_holm_matches_statsmodels_on_random_pvalues() -> None:
    p = np.random.default_rng(0).random(17) ** 3
    np.testing.assert_allclose(holm(p), multipletests(p, method="holm")[1], rtol=1e-12)


def _statsmodels_rank_anova(g: pd.DataFrame, formula: str) -> pd.DataFrame:
    g = g.copy()
    g["r"] = scipy.stats.rankdata(g.value)
    fit = smf.ols(formula, data=g).fit()
    return anova_lm(fit, typ=2)


def test_rank_anova_full_factorial_matches_statsmodels_type2() -> None:
    conds = [w + d + c for w in ("W", "W*") for d in ("", "D*") for c in ("", "C")]
    df = fabricate(conds, seeds=5)
    df = df[~((df.condition == "W*D*C") & (df.seed == 4))]  # unbalanced
    out = rank_anova(df)
    g = df[(df.task == "go_nogo") & (df.metric == "test_acc")].copy()
    f = pd.DataFrame([parse_condition(c) for c in g.condition], index=g.index)
    g[["Wf", "Df", "Cf"]] = f[["W", "D", "C"]].to_numpy()
    ref = _statsmodels_rank_anova(g, "r ~ C(Wf) * C(Df) * C(Cf)")
    mine = out[(out.task == "go_nogo") & (out.metric == "test_acc")].set_index("term")
    names = {"W": "C(Wf)", "D": "C(Df)", "C": "C(Cf)", "W:D": "C(Wf):C(Df)",
             "W:C": "C(Wf):C(Cf)", "D:C": "C(Df):C(Cf)", "W:D:C": "C(Wf):C(Df):C(Cf)",
             "Residual": "Residual"}  # fmt: skip
    for term, sm in names.items():
        assert mine.loc[term, "sum_sq"] == pytest.approx(ref.loc[sm, "sum_sq"], rel=1e-8)
        assert mine.loc[term, "df"] == ref.loc[sm, "df"]
        if term != "Residual":
            assert mine.loc[term, "p"] == pytest.approx(ref.loc[sm, "PR(>F)"], rel=1e-6)
    assert mine.loc["W", "p"] < 1e-4  # the fabricated W* effect is found


def test_rank_anova_on_the_papers_eleven_variants_uses_estimable_terms() -> None:
    df = fabricate([*PAPER, "baseline-unlabelled"], seeds=6)
    out = rank_anova(df)
    block = out[(out.task == "perceptual") & (out.metric == "test_acc")]
    assert set(block.term) >= {"W", "D", "C", "Residual"}
    assert block.n.iloc[0] == 11 * 6  # the unlabelled condition is left out
    g = df[
        (df.task == "perceptual")
        & (df.metric == "test_acc")
        & (df.condition != "baseline-unlabelled")
    ].copy()
    f = pd.DataFrame([parse_condition(c) for c in g.condition], index=g.index)
    g[["Wf", "Df", "Cf"]] = f[["W", "D", "C"]].to_numpy()
    model = block.model.iloc[0].replace("rank(value) ~ ", "")
    formula = "r ~ " + " + ".join(
        ":".join(f"C({x}f)" for x in t.split(":")) for t in model.split(" + ")
    )
    ref = _statsmodels_rank_anova(g, formula)
    for term in ("W", "D", "C"):
        row = block[block.term == term].iloc[0]
        assert row.sum_sq == pytest.approx(ref.loc[f"C({term}f)", "sum_sq"], rel=1e-8)
        assert row.p == pytest.approx(ref.loc[f"C({term}f)", "PR(>F)"], rel=1e-6)


def test_rank_anova_accepts_an_explicit_factor_mapping() -> None:
    df = fabricate(["W", "W*D*C"], seeds=6)
    df["condition"] = df.condition.map({"W": "baseline", "W*D*C": "bio"})
    mapping = {
        "baseline": {"W": "W", "D": "none", "C": "none"},
        "bio": {"W": "W*", "D": "D*", "C": "C"},
    }
    out = rank_anova(df, mapping)
    assert not out.empty and "W" in set(out.term)
    with pytest.raises(ValueError, match="lacks"):
        rank_anova(df, {"bio": {"W": "W*"}})


def test_summarise_returns_all_tables_and_bad_input_names_the_column() -> None:
    tables = summarise(fabricate(["W", "WD*"], seeds=4), n_boot=500)
    assert set(tables) == {"summary", "solved", "omnibus", "pairwise", "anova"}
    with pytest.raises(ValueError, match="seed"):
        describe(pd.DataFrame({"condition": [], "task": [], "metric": [], "value": []}))


def test_topology_records_feed_the_statistics() -> None:
    """records_to_frame → summarise: undefined metrics (None) drop out of n."""
    from cortexrnn.services.topology import compute_metrics, records_to_frame

    rng = np.random.default_rng(0)
    records = {}
    for cond, scale in (("W", 1.0), ("W*D*C", 3.0)):
        for s in range(4):
            w = rng.normal(size=(30, 30))
            w[:10, :10] *= scale  # a denser module in W*D*C
            records[(cond, "go_nogo", s)] = compute_metrics(w, n_nulls=10, seed=s)
    df = records_to_frame(records)
    assert set(df.columns) >= {"condition", "task", "seed", "metric", "value", "reason"}
    assert df[df.value.isna()].reason.notna().all()
    summary = describe(df, n_boot=200)
    row = summary[(summary.metric == "modularity_cnm") & (summary.condition == "W")].iloc[0]
    assert row.n == 4
    assert "wiring_cost" not in set(summary.metric)  # no distance given: None for every run
