"""Dashboard page render time on a big experiment, against the API's plain JSON results.

Run: python benchmarks/dashboard.py [--conditions 11] [--seeds 60] [--epochs 30] [--repeats 7]

Builds, in a temporary embedded (SQLite) deployment, an experiment of conditions × seeds runs
(660 by default) with synthetic results shaped as a worker writes them: per run about 20
summary values and, per epoch, train/test loss and accuracy, held-out evaluations, four
topology series and ten optimiser steps of step_loss/step_acc (about 900 points per run).
Then times, in one process and one run, median over --repeats:

  baseline  GET /v1/experiments/{id}/results   (one row per run, every summary value)
  page      GET /experiments/{id}              (the experiment page: curves and final
                                                values aggregated over seeds, run grid)
  curves    GET /ui/experiments/{id}/curves?metric=step_loss  (binned per-step series)
  stats     GET /ui/experiments/{id}/stats     (first call computes, later calls cached)

and prints each as seconds and as a ratio to the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

SUMMARIES = [
    "test_acc", "train_acc", "final_test_acc", "steps_to_criterion", "modularity",
    "small_world", "clustering", "path_length", "density", "mean_weight", "weight_sd",
    "spectral_radius", "eval_test_acc", "eval_test_loss", "test_loss", "train_loss",
    "wiring_cost", "communicability_mean", "participation", "assortativity",
]  # fmt: skip
EPOCH_SERIES = ["train_loss", "train_acc", "reg", "test_loss", "test_acc"]
TOPO_SERIES = ["topo_modularity", "topo_small_world", "topo_density", "topo_wiring_cost"]
STEPS_PER_EPOCH = 10


def timed(call: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU seconds (CPU of the whole process: the app's threads included, so
    that the figure holds on a machine busy with other work)."""
    walls, cpus = [], []
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        call()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def build(conditions: int, seeds: int, epochs: int) -> tuple[object, dict[str, str], int]:
    from fastapi.testclient import TestClient
    from sqlalchemy import insert, select

    from cortexrnn.api.app import create_app
    from cortexrnn.services.connectome.synthetic import synthesize_cortex
    from cortexrnn.shared.auth import create_user
    from cortexrnn.shared.datasets_registry import store_and_register
    from cortexrnn.shared.db import session_scope
    from cortexrnn.shared.migrate import upgrade
    from cortexrnn.shared.models import MetricPoint, Run, RunState, RunSummary
    from cortexrnn.shared.settings import get_settings

    upgrade()
    with session_scope() as s:
        token = create_user(s, "bench")[1]
    store_and_register(synthesize_cortex(80, 3, name="tiny"))
    app = create_app(get_settings(), broker_check=lambda: "ok")
    spec = {
        "name": "dashboard-bench",
        "dataset": "tiny",
        "sampling": {"strategy": "random", "n_neurons": 16, "seed": 0},
        "tasks": ["go_no_go"],
        "training": {"epochs": epochs, "train_trials": 64, "test_trials": 64, "batch_size": 32},
        "seeds": seeds,
        "conditions": {
            f"c{i:02d}": {"init": "functional" if i % 2 else "orthogonal", "lam": 0.01 * i}
            for i in range(conditions)
        },
    }
    with TestClient(app) as http:
        r = http.post("/v1/experiments", json=spec, headers={"Authorization": f"Bearer {token}"})
        r.raise_for_status()
        experiment_id = r.json()["id"]
    rng = np.random.default_rng(0)
    with session_scope() as s:
        runs = list(s.scalars(select(Run).where(Run.experiment_id == experiment_id)))
        summaries, points = [], []
        for run in runs:
            run.transition(RunState.QUEUED)
            run.transition(RunState.RUNNING)
            run.transition(RunState.SUCCEEDED)
            run.progress = 1.0
            skill = 0.5 + 0.04 * int(run.condition[1:]) + rng.normal(0, 0.05)
            for name in SUMMARIES:
                summaries.append({"run_id": run.id, "name": name, "value": float(rng.random())})
            summaries[-len(SUMMARIES)]["value"] = float(np.clip(skill, 0, 1))
            for e in range(1, epochs + 1):
                frac = e / epochs
                for name in EPOCH_SERIES + TOPO_SERIES:
                    value = 0.5 + (skill - 0.5) * frac if name.endswith("acc") else 1 / e
                    points.append(dict(run_id=run.id, step=e * STEPS_PER_EPOCH, epoch=float(e),
                                       name=name, value=value + rng.normal(0, 0.01)))  # fmt: skip
                for name in ("eval_test_acc", "eval_test_loss"):
                    points.append(dict(run_id=run.id, step=e * STEPS_PER_EPOCH, epoch=float(e),
                                       name=name, value=float(rng.random())))  # fmt: skip
                for k in range(STEPS_PER_EPOCH):
                    step = (e - 1) * STEPS_PER_EPOCH + k + 1
                    for name in ("step_loss", "step_acc"):
                        points.append(dict(run_id=run.id, step=step, epoch=step / STEPS_PER_EPOCH,
                                           name=name, value=float(rng.random())))  # fmt: skip
        s.flush()
        s.execute(insert(RunSummary), summaries)
        s.execute(insert(MetricPoint), points)
        print(
            f"built experiment {experiment_id}: {len(runs)} runs, {len(summaries):,} summary "
            f"values, {len(points):,} metric points"
        )
    return app, {"bench": token}, experiment_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conditions", type=int, default=11)
    parser.add_argument("--seeds", type=int, default=60)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cortexrnn-dash-bench-") as home:
        os.environ["CORTEXRNN_HOME"] = home
        for var in ("CORTEXRNN_DATABASE_URL", "CORTEXRNN_STORE_DIR", "CORTEXRNN_ARTIFACTS_DIR"):
            os.environ.pop(var, None)
        t0 = time.perf_counter()
        app, tokens, experiment = build(args.conditions, args.seeds, args.epochs)
        print(f"setup: {time.perf_counter() - t0:.1f} s")
        run(app, tokens["bench"], experiment, args.repeats)


def run(app: object, token: str, experiment: int, repeats: int) -> None:
    from fastapi.testclient import TestClient

    with TestClient(app) as api, TestClient(app) as browser:  # type: ignore[arg-type]
        form = browser.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert csrf is not None
        browser.post("/login", data={"token": token, "csrf_token": csrf.group(1)})

        def get(client: TestClient, path: str, **kw: object) -> None:
            r = client.get(path, **kw)  # type: ignore[arg-type]
            if r.status_code != 200:
                sys.exit(f"{path}: {r.status_code} {r.text[:300]}")

        auth = {"Authorization": f"Bearer {token}"}
        e = experiment
        rows = [
            ("baseline: GET /v1/.../results",
             lambda: get(api, f"/v1/experiments/{e}/results", headers=auth)),
            ("experiment page", lambda: get(browser, f"/experiments/{e}")),
            ("curves, step_loss (binned)",
             lambda: get(browser, f"/ui/experiments/{e}/curves?metric=step_loss")),
        ]  # fmt: skip
        for _, call in rows:
            call()  # warm: imports, first-query planning
        results = [(label, timed(call, repeats)) for label, call in rows]

        def stats() -> None:
            get(browser, f"/ui/experiments/{experiment}/stats")

        results.append(("statistics (first, computed)", timed(stats, 1)))
        results.append(("statistics (cached)", timed(stats, repeats)))
        size = len(browser.get(f"/experiments/{experiment}").content)
    wall0, cpu0 = results[0][1]
    print(f"\nmedian of {repeats} (statistics first call: once); page size {size / 1e3:.0f} kB")
    print(f"{'request':34s} {'wall s':>8s} {'× base':>7s} {'CPU s':>8s} {'× base':>7s}")
    for label, (wall, cpu) in results:
        print(f"{label:34s} {wall:8.3f} {wall / wall0:7.2f} {cpu:8.3f} {cpu / cpu0:7.2f}")


if __name__ == "__main__":
    main()
