"""The report of a sweep: a metric-vs-parameter figure per task, one line per condition
family, on a log axis for a log range; none for an experiment without a sweep."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pandas as pd
from PIL import Image

from cortexrnn.services.report import build_report
from cortexrnn.services.report.sweep_figures import sweep_curves, swept_fields

LAMS = [0.001, 0.01, 0.1, 1.0]
CAPTION = "Metrics against the swept fields"


def _sweep_metrics() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for family, slope in (("W*D*C", 0.1), ("WD*C", -0.05)):
        for lam in LAMS:
            for seed in range(3):
                acc = 0.7 + slope * np.log10(lam) / 3 + rng.normal(0, 0.02)
                for task in ("go_no_go", "perceptual_decision_making"):
                    rows.append(
                        {
                            "condition": f"{family} lam={lam:g}",
                            "task": task,
                            "seed": seed,
                            "metric": "test_acc",
                            "value": acc,
                            "family": family,
                            "condition.lam": lam,
                            "training.lr": 0.001,  # one value: not an axis
                        }
                    )
    return pd.DataFrame(rows)


def test_the_swept_fields_are_the_numeric_paths_with_several_values() -> None:
    assert swept_fields(_sweep_metrics()) == ["condition.lam"]


def test_a_sweep_report_has_one_sweep_figure_per_task() -> None:
    metrics = _sweep_metrics()
    html = build_report(metrics, n_boot=200, sweep=metrics)
    for task in ("go_no_go", "perceptual_decision_making"):
        assert f"{CAPTION}, {task}: one line per condition family" in html
    # The figure is a real image of plausible size.
    png = sweep_curves(metrics, "go_no_go", ["test_acc"])
    assert png is not None
    image = Image.open(io.BytesIO(png))
    assert image.size[0] > 300 and image.size[1] > 200
    embedded = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert any(base64.b64decode(e) == png for e in embedded)


def test_no_sweep_figure_without_a_sweep() -> None:
    metrics = _sweep_metrics()
    plain = metrics.drop(columns=["family", "condition.lam", "training.lr"])
    assert CAPTION not in build_report(plain, n_boot=200)
    assert sweep_curves(plain, "go_no_go", ["test_acc"]) is None
    one_value = metrics[metrics["condition.lam"] == 0.1]
    assert sweep_curves(one_value, "go_no_go", ["test_acc"]) is None
