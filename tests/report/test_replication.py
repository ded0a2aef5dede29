"""The replication document: claims tested as stated, numbers from the tables, checked
against scipy directly."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from cortexrnn.services.report.replication import CLAIMS, PAPER_ORDER, render, claim_table, verdict


def _fake(effects: dict[str, float], seeds: int = 6, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for task in ("go_no_go", "perceptual_decision_making"):
        for cond in PAPER_ORDER:
            for s in range(seeds):
                acc = 0.6 + effects.get(cond, 0.0) + rng.normal(0, 0.01)
                rows.append(dict(condition=cond, task=task, seed=s, metric="test_acc", value=acc))
                rows.append(dict(condition=cond, task=task, seed=s, metric="modularity_cnm",
                                 value=0.3 + (0.1 if cond.endswith("C") and not cond.endswith("C*") else 0) + rng.normal(0, 0.01)))
                rows.append(dict(condition=cond, task=task, seed=s, metric="small_world_sigma", value=1.0 + rng.normal(0, 0.05)))
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
    assert row.p == ref.pvalue and row.U == ref.statistic
    assert (table["p_holm"] >= table["p"]).all() and table["p_holm"].max() <= 1
    assert verdict(claim, table).startswith("holds")


def test_no_effect_does_not_hold_and_equality_holds() -> None:
    df = _fake({})
    greater = next(c for c in CLAIMS if c.key == "w_star_beats_w")
    assert verdict(greater, claim_table(df, greater, ["go_no_go"])).startswith("does not hold")
    equal = next(c for c in CLAIMS if c.key == "w_star_equals_w_perm")
    assert verdict(equal, claim_table(df, equal, ["go_no_go"])).startswith("holds")
    assert verdict(equal, claim_table(_fake({"W*D*C": 0.3, "W*D*C*": 0.3}), equal, ["go_no_go"])).startswith("does not hold")


def test_direct_communicability_claim_on_modularity() -> None:
    claim = next(c for c in CLAIMS if c.key == "direct_c_modular")
    assert verdict(claim, claim_table(_fake({}), claim, ["go_no_go"])).startswith("holds")


def test_render_writes_every_section_from_the_tables() -> None:
    paper, corrected = _fake(BIO_WINS, seed=1), _fake({}, seed=2)
    text = render({"paper": paper, "corrected": corrected},
                  {"paper": {"experiment_id": 1, "dataset": "microns-6_6_2", "fidelity": "paper", "wall_s": 600,
                             "device": "cpu"}})
    for heading in ("## Experiments", "## paper: measures per task and variant", "### go_no_go",
                    "## corrected: measures per task and variant", "Functional init (W*) beats the baseline init (W)",
                    "## Corrected defaults against the released code's behaviour"):
        assert heading in text, heading
    mean = paper[(paper.task == "go_no_go") & (paper.condition == "W*D*C") & (paper.metric == "test_acc")]["value"].mean()
    assert f"| W*D*C | 6 | {mean:.3f} [" in text
    assert "| paper | 1 | microns-6_6_2 | paper | 6 | 132 | cpu | 10.0 min |" in text
