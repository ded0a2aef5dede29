"""The HTML report from fabricated tables: valid HTML, the required sections, every figure a
decodable PNG of non-trivial size, and a headless-browser screenshot where Chromium exists."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cortexrnn.services.report import build_report, write_report

CONDITIONS = ["W", "W*D*C", "WD*C*"]
TASKS = ["go_nogo", "perceptual"]
SEEDS = 3
N = 40


def fabricate(seed: int = 0):
    rng = np.random.default_rng(seed)
    final_rows, curve_rows, weights = [], [], {}
    pos = rng.random((N, 3)) * 100
    for ci, cond in enumerate(CONDITIONS):
        for task in TASKS:
            for s in range(SEEDS):
                acc, loss = 0.5, 0.7
                for epoch in range(1, 6):
                    acc = min(0.99, acc + 0.05 * (1 + ci) * rng.uniform(0.5, 1.5))
                    loss = max(0.05, loss * 0.8)
                    for name, v in (("train_acc", acc + 0.02), ("test_acc", acc),
                                    ("train_loss", loss), ("test_loss", loss * 1.1),
                                    ("topo_modularity_cnm", 0.1 + 0.03 * epoch * ci),
                                    ("topo_entropy_kde", 6.0 - 0.1 * epoch)):  # fmt: skip
                        curve_rows.append({"condition": cond, "task": task, "seed": s,
                                           "step": epoch * 40, "epoch": epoch, "name": name,
                                           "value": v + rng.normal(0, 0.01)})  # fmt: skip
                for metric, v in (("test_acc", acc),
                                  ("entropy_kde", 6 - ci * 0.3 + rng.normal(0, 0.1)),
                                  ("modularity_cnm", 0.2 + 0.1 * ci + rng.normal(0, 0.02)),
                                  ("small_world_sigma",
                                   None if s == 0 and ci == 0 else 1.2 + 0.2 * ci),
                                  ("steps_to_criterion",
                                   None if s == 0 else 40 * (5 - ci))):  # fmt: skip
                    final_rows.append(
                        {
                            "condition": cond,
                            "task": task,
                            "seed": s,
                            "metric": metric,
                            "value": v,
                        }
                    )
                w0 = rng.normal(0, 0.1, (N, N))
                weights[(cond, task, s)] = {
                    "initial": w0,
                    "final": w0 + rng.normal(0, 0.2, (N, N)) * (rng.random((N, N)) < 0.2),
                }
    spec = {
        "name": "fabricated <test> & spec",
        "conditions": CONDITIONS,
        "tasks": TASKS,
        "seeds": SEEDS,
    }
    return pd.DataFrame(final_rows), pd.DataFrame(curve_rows), weights, pos, spec


class _Collector(HTMLParser):
    VOID = frozenset({"meta", "img", "br", "hr", "input", "link", "col"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.ids: set[str] = set()
        self.imgs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
        else:
            self.stack.pop()


@pytest.fixture(scope="module")
def report_html() -> str:
    final, curves, weights, pos, spec = fabricate()
    return build_report(final, curves, weights, pos, spec, n_boot=500, max_runs_shown=2)


def test_report_is_well_formed_html_with_required_sections(report_html: str) -> None:
    assert report_html.startswith("<!DOCTYPE html>")
    p = _Collector()
    p.feed(report_html)
    p.close()
    assert p.errors == []
    assert p.stack == []
    assert {"verdict", "spec", "statistics", "figures"} <= p.ids
    # The verdict, then figures first, the spec (reference) last.
    assert (
        report_html.index('id="verdict"')
        < report_html.index('id="figures"')
        < report_html.index('id="statistics"')
        < report_html.index('id="spec"')
    )
    for heading in (
        "Summary by condition",
        "Seeds that solved the task",
        "Omnibus test",
        "Pairwise tests (paired where runs share seeds",
        "Rank-based factorial ANOVA",
    ):
        assert heading in report_html
    assert "Learning speed, go_nogo: seeds at the criterion by optimiser step" in report_html
    assert "fabricated &lt;test&gt; &amp; spec" in report_html  # spec shown, escaped
    assert "<test>" not in report_html
    assert not re.search(r"(src|href)=\"https?://", report_html)  # self-contained


def test_every_figure_is_a_decodable_png_of_non_trivial_size(report_html: str) -> None:
    p = _Collector()
    p.feed(report_html)
    # 2 learning curves + 2 learning speeds + 2 bars + 2 trajectories + 2 runs × (heatmap + space)
    assert len(p.imgs) == 12
    for src in p.imgs:
        assert src.startswith("data:image/png;base64,")
        raw = base64.b64decode(src.split(",", 1)[1], validate=True)
        img = Image.open(io.BytesIO(raw))
        img.verify()
        img = Image.open(io.BytesIO(raw)).convert("L")
        assert img.size[0] >= 300 and img.size[1] >= 200
        assert len(raw) > 10_000
        assert np.asarray(img).std() > 5  # not a blank canvas


def test_report_without_curves_or_weights_still_has_tables_and_bars(
    tmp_path: Path,
) -> None:
    final, *_ = fabricate(1)
    out = write_report(tmp_path / "r" / "report.html", final, n_boot=200)
    text = out.read_text(encoding="utf-8")
    assert text.count("data:image/png;base64,") == 2 * len(TASKS)  # learning speed and bars
    assert "Summary by condition" in text


def test_bad_curves_table_names_the_missing_column() -> None:
    final, curves, *_ = fabricate(2)
    with pytest.raises(ValueError, match="epoch"):
        build_report(final, curves.drop(columns=["epoch"]), n_boot=100)


def test_statistics_in_report_match_the_fabricated_means(report_html: str) -> None:
    final, *_ = fabricate()
    v = final[
        (final.condition == "W*D*C")
        & (final.task == "go_nogo")
        & (final.metric == "modularity_cnm")
    ].value
    assert f"{v.mean():.4g}" in report_html


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "headless_shell"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_report_renders_in_headless_chromium(tmp_path: Path, report_html: str) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip(
            "no Chromium on this machine (`which chromium` is empty); the HTML and PNG tests cover "
            "validity"
        )
    page = tmp_path / "report.html"
    page.write_text(report_html, encoding="utf-8")
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1200,3000",
         page.as_uri()], check=True, timeout=120, capture_output=True,
    )  # fmt: skip
    img = np.asarray(Image.open(shot).convert("L"))
    assert img.shape[0] >= 1000 and img.std() > 10


def test_a_metric_undefined_for_every_seed_does_not_break_the_report() -> None:
    """Small-world omega is null on disconnected graphs: its trajectory has nothing to draw."""
    import numpy as np
    import pandas as pd

    from cortexrnn.services.report import build_report

    rows, curves = [], []
    for cond in ("W", "W*D*C"):
        for seed in range(3):
            rows.append(
                dict(
                    condition=cond,
                    task="go_no_go",
                    seed=seed,
                    metric="test_acc",
                    value=0.5 + 0.1 * seed,
                )
            )
            for epoch in range(3):
                curves.append(
                    dict(
                        condition=cond,
                        task="go_no_go",
                        seed=seed,
                        step=epoch * 10,
                        epoch=epoch,
                        name="topo_small_world_omega",
                        value=np.nan,
                    )
                )
                curves.append(
                    dict(
                        condition=cond,
                        task="go_no_go",
                        seed=seed,
                        step=epoch * 10,
                        epoch=epoch,
                        name="test_acc",
                        value=0.5,
                    )
                )
    html = build_report(pd.DataFrame(rows), pd.DataFrame(curves), n_boot=200)
    assert html.startswith("<!DOCTYPE html>") and "data:image/png;base64," in html


def _accuracy_table(seeds: int = 6) -> pd.DataFrame:
    """go/no-go: W stays at chance, W*D*C learns (every seed), WD*C* learns in half."""
    rows = []
    for cond, values in (
        ("W", [0.5, 0.49, 0.51, 0.5, 0.52, 0.48]),
        ("W*D*C", [1.0, 0.99, 1.0, 0.98, 1.0, 0.97]),
        ("WD*C*", [1.0, 0.5, 1.0, 0.51, 0.5, 0.99]),
    ):
        for s, v in enumerate(values[:seeds]):
            rows.append(dict(condition=cond, task="go_no_go", seed=s, metric="test_acc", value=v))
            rows.append(
                dict(condition=cond, task="go_no_go", seed=s, metric="modularity_cnm",
                     value=0.1 + 0.1 * v + 0.001 * s)
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_verdict_table_names_who_beats_the_baseline_with_solved_fractions() -> None:
    from cortexrnn.services.report.html import against_baseline

    data = _accuracy_table()
    table = against_baseline(data, "W")
    best = table[table.condition == "W*D*C"].iloc[0]
    # Six pairs, all better: exact one-sided signed-rank p = 1/64, Holm over two conditions.
    assert (best.test, best.n_pairs, best.p, best.p_holm) == (
        "Wilcoxon signed-rank, paired",
        6,
        1 / 64,
        2 / 64,
    )
    assert (best.solved, best["baseline solved"]) == ("6/6", "0/6")
    html = build_report(data, n_boot=200)
    verdict = html.split('id="verdict"')[1].split("</section>")[0]
    beat_cell = verdict.split("<td>go_no_go</td>")[1].split("</td>")[1]
    assert "W*D*C (6/6, p = 0.031)" in beat_cell and "WD*C*" not in beat_cell
    assert "W (0/6)" in verdict
    # At six seeds and three pairs no two-sided comparison survives Holm: nothing is marked.
    assert "class=sig" not in html.split("Pairwise tests")[1].split("</table>")[0]
    # Ten seeds: W*D*C against W is significant (2/1024), and its row is marked.
    ten = pd.DataFrame(
        [dict(condition=c, task="go_no_go", seed=s, metric="test_acc", value=v + 0.001 * s)
         for c, v in (("W", 0.5), ("W*D*C", 0.9)) for s in range(10)]
    )  # fmt: skip
    pairwise = build_report(ten, n_boot=200).split("Pairwise tests")[1].split("</table>")[0]
    assert "<tr class=sig><td>*</td><td>go_no_go</td><td>test_acc</td><td>W</td>" in pairwise


def test_a_named_baseline_must_exist_and_none_means_no_verdict() -> None:
    data = _accuracy_table()
    with pytest.raises(ValueError, match="baseline"):
        build_report(data, n_boot=200, baseline="chess")
    html = build_report(data[data.condition != "W"], n_boot=200)
    assert 'id="verdict"' not in html and "No verdict table" in html
    html = build_report(data, n_boot=200, baseline="WD*C*")
    assert "beat WD*C*" in html


def test_collapsed_weights_are_flagged_and_every_run_can_have_heatmaps() -> None:
    final, _, weights, _, _ = fabricate(3)
    keys = list(weights)[:4]  # few runs: each heatmap finds modules (CNM), which takes time
    weights = {k: weights[k] for k in keys}
    weights[keys[1]] = {**weights[keys[1]], "final": weights[keys[1]]["final"] * 1e-6}
    some = build_report(final, weights=weights, n_boot=200, max_runs_shown=2)
    assert "Collapsed networks" in some and "final weights collapsed (max |W| =" in some
    assert f"{len(keys) - 2} more runs have weights" in some
    every = build_report(final, weights=weights, n_boot=200, max_runs_shown=2, all_runs=True)
    assert every.count("<details><summary>Weights of ") == len(keys) - 2
    p = _Collector()
    p.feed(every)
    assert p.errors == [] and len(p.imgs) == 2 * len(TASKS) + len(keys)
    assert "Collapsed networks" not in build_report(final, weights={keys[0]: weights[keys[0]]})


def test_every_panel_has_axis_labels_seeds_as_points_and_a_chance_line(monkeypatch) -> None:
    """Figures are inspected before they become PNGs."""
    from cortexrnn.services.report import figures
    from cortexrnn.services.stats import describe

    drawn: list = []
    monkeypatch.setattr(figures, "_png", lambda fig: drawn.append(fig) or b"")
    data = _accuracy_table()
    summary = describe(data, n_boot=200)
    figures.metric_bars(summary, data, "go_no_go", ["test_acc", "modularity_cnm"],
                        {("test_acc", "W*D*C")})  # fmt: skip
    _, curves, weights, pos, _ = fabricate(4)
    curves = curves.assign(task=curves.task.replace({"go_nogo": "go_no_go"}))
    figures.learning_curves(curves, "go_no_go")
    figures.trajectories(curves, "go_no_go", ["topo_modularity_cnm", "topo_entropy_kde"])
    figures.variant_points({"x": data}, "test_acc", ["W", "W*D*C", "WD*C*"], "t")
    run = next(iter(weights.values()))
    figures.weight_heatmaps(run["initial"], run["final"], "run")
    figures.neurons_in_space(pos, run["final"], "run")
    for fig in drawn:
        for ax in fig.axes:
            if not ax.axison or ax.get_label() == "<colorbar>":
                continue
            assert ax.get_xlabel() and ax.get_ylabel(), (fig._suptitle, ax.get_title())
    bars = drawn[0].axes
    acc = next(ax for ax in bars if ax.get_title() == "test_acc")
    assert [line.get_label() for line in acc.lines if line.get_label().startswith("chance")] == [
        "chance 0.5"
    ]
    from matplotlib.collections import PathCollection

    seeds = sum(len(c.get_offsets()) for c in acc.collections if isinstance(c, PathCollection))
    assert seeds == len(data[data.metric == "test_acc"])  # every seed a dot
    assert any(t.get_text() == "*" for t in acc.texts)
    modularity = next(ax for ax in bars if ax.get_title() == "modularity_cnm")
    assert not [line for line in modularity.lines if line.get_label().startswith("chance")]
    assert any(line.get_label().startswith("chance") for line in drawn[1].axes[1].lines)
