"""`client.curves(experiment)`: the learning curves as one tidy DataFrame, a row per point,
and `client.metrics` / `download_weights` as documented."""

from __future__ import annotations

import numpy as np

from tests.client.conftest import ACCURACY, finish_runs, small_spec


def test_curves_are_a_tidy_frame_of_every_point(server, cortexrnn_home, tmp_path) -> None:
    client = server.client()
    exp = client.submit(small_spec())
    finish_runs(exp.id, fail={("bio", 2)}, artifacts_dir=tmp_path / "art")
    df = client.curves(exp)
    assert list(df.columns) == [
        "run_id",
        "condition",
        "seed",
        "task",
        "metric",
        "step",
        "epoch",
        "value",
    ]
    # 5 succeeded runs x 2 evaluations; the failed run has no points.
    assert len(df) == 10 and set(df["metric"]) == {"test_acc"}
    last = df[df["step"] == 2].set_index(["condition", "seed"])["value"]
    assert last.to_dict() == {k: v for k, v in ACCURACY.items() if k != ("bio", 2)}
    means = df[df["step"] == 2].groupby("condition")["value"].mean()
    assert means["bio"] > means["baseline"]
    assert client.curves(exp.id, ["no_such_metric"]).empty
    assert len(exp.curves(["test_acc"])) == 10


def test_metrics_and_download_weights_as_documented(server, cortexrnn_home, tmp_path) -> None:
    client = server.client()
    exp = client.submit(small_spec(seeds=1))
    finish_runs(exp.id, artifacts_dir=tmp_path / "art")
    run = exp.runs()[0]
    (series,) = client.metrics(run.id).series
    assert series.name == "test_acc" and series.steps == [1, 2]
    path = client.download_weights(run.id, tmp_path / "w" / "w.npz")
    assert np.load(path)["w"].shape == (2, 3, 3)
