"""The whole service in real processes: submit -> trained -> metrics, summary, report and
weights served; a resubmission is answered from the cache; cancel stops a running pack."""

from __future__ import annotations

import io
import re
import time

import numpy as np
import pytest

from tests.integration.conftest import tiny_spec

pytestmark = pytest.mark.slow


def test_submit_train_and_serve_results(deployment) -> None:
    with deployment.client as c:
        sub = c.post("/v1/experiments", json=tiny_spec())
        assert sub.status_code == 201, sub.text
        eid = sub.json()["id"]
        done = deployment.wait(eid)
        assert done["status"] == "succeeded", done
        assert done["progress"] == 100.0
        runs = c.get(f"/v1/experiments/{eid}/runs").json()
        assert len(runs) == 4 and {r["state"] for r in runs} == {"succeeded"}
        run = c.get(f"/v1/runs/{runs[0]['id']}").json()
        assert 0.0 <= run["summary"]["test_acc"] <= 1.0
        assert "modularity_cnm" in run["summary"] and "entropy_kde" in run["summary"]
        metrics = c.get(
            f"/v1/runs/{runs[0]['id']}/metrics", params={"name": ["test_acc", "train_loss"]}
        ).json()
        series = {s["name"]: s for s in metrics["series"]}
        assert set(series) == {"test_acc", "train_loss"} and series["test_acc"]["epochs"] == [
            1.0,
            2.0,
        ]
        weights = c.get(f"/v1/runs/{runs[0]['id']}/weights")
        assert weights.status_code == 200
        with np.load(io.BytesIO(weights.content), allow_pickle=False) as z:
            assert z["W"].shape == (24, 24) and z["snapshots"].shape == (3, 24, 24)
        summary = c.get(f"/v1/experiments/{eid}/summary", params={"metric": ["test_acc"]}).json()
        conditions = {row["condition"] for row in summary["summary"]}
        assert conditions == {"W", "W*D*C"} and all(row["n"] == 2 for row in summary["summary"])
        report = c.get(f"/v1/experiments/{eid}/report")
        assert report.status_code == 200 and report.text.startswith("<!DOCTYPE html>")
        assert "data:image/png;base64," in report.text

        again = c.post("/v1/experiments", json=tiny_spec(name="second time")).json()
        assert again["n_cached"] == 4 and again["status"] == "succeeded"
        cached_run = c.get(f"/v1/experiments/{again['id']}/runs").json()[0]
        assert cached_run["cached_from_id"] is not None
        assert c.get(f"/v1/runs/{cached_run['id']}").json()["summary"]["test_acc"] is not None


def test_cancel_stops_a_running_pack_and_frees_the_slot(deployment) -> None:
    long = tiny_spec(
        name="long",
        training={"epochs": 200, "train_trials": 256, "test_trials": 64, "batch_size": 32},
        sampling={"strategy": "random", "n_neurons": 48, "seed": 2},
    )
    with deployment.client as c:
        eid = c.post("/v1/experiments", json=long).json()["id"]
        deadline = time.monotonic() + 120
        while c.get(f"/v1/experiments/{eid}").json()["counts"].get("running", 0) == 0:
            assert time.monotonic() < deadline, "the pack never started"
            time.sleep(0.3)
        time.sleep(1.0)
        reached = max(r["step"] for r in c.get(f"/v1/experiments/{eid}/runs").json())
        c.post(f"/v1/experiments/{eid}/cancel").raise_for_status()
        done = deployment.wait(eid, timeout=60)
        assert done["status"] == "cancelled"
        runs = c.get(f"/v1/experiments/{eid}/runs").json()
        # Event order, not a wall-clock limit: training stopped after the step it had reached
        # when the cancel came, and long before its last step.
        for r in runs:
            stopped = re.fullmatch(
                r"cancelled at step (\d+) of (\d+); retry resumes it", r["error"]
            )
            assert stopped, r["error"]
            step, total = int(stopped[1]), int(stopped[2])
            assert reached <= step < total // 2, (reached, step, total)
        # The slot is free again: a small experiment now runs to the end.
        small = c.post("/v1/experiments", json=tiny_spec(seeds=[7])).json()["id"]
        assert deployment.wait(small)["status"] == "succeeded"
