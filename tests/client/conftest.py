"""The client against the real app in-process: a fresh embedded database, three users, a
small dataset, and helpers to run the CLI and to finish runs by writing their results into
the database (no worker trains in these tests)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from cortexrnn.client import cli as client_cli
from cortexrnn.client.api import Client

URL = "http://testserver"


@dataclass
class Server:
    http: TestClient
    tokens: dict[str, str]

    def client(self, user: str = "alice", **kw) -> Client:
        return Client(URL, self.tokens[user], http_client=self.http, backoff=0.01, **kw)


@pytest.fixture()
def server(cortexrnn_home, tmp_path, monkeypatch) -> Server:
    from tests.conftest import seeded_app

    # Never read or write the real user's login file.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    for var in (
        "CORTEXRNN_URL",
        "CORTEXRNN_TOKEN",
        "CORTEXRNN_CLIENT_CONFIG",
        "CORTEXRNN_API_HOST",
        "CORTEXRNN_API_PORT",
    ):
        monkeypatch.delenv(var, raising=False)
    app, tokens = seeded_app(event_interval_s=0.02)
    with TestClient(app) as http:
        yield Server(http, tokens)


@pytest.fixture()
def cli(server: Server, monkeypatch) -> Callable[..., Result]:
    """Run `cortexrnn-client ARGS` as USER against the in-process server."""
    monkeypatch.setitem(client_cli.CLIENT_OPTIONS, "http_client", server.http)
    monkeypatch.setitem(client_cli.CLIENT_OPTIONS, "backoff", 0.01)
    runner = CliRunner()

    def run(*args: str, user: str | None = "alice", input: str | None = None) -> Result:
        env = {
            "CORTEXRNN_URL": URL,
            "COLUMNS": "220",
            "CORTEXRNN_TOKEN": server.tokens[user] if user else None,
        }
        return runner.invoke(client_cli.app, list(args), env=env, input=input)

    return run


def small_spec(**overrides) -> dict:
    spec = {
        "name": "client-test",
        "dataset": "tiny",
        "sampling": {"strategy": "random", "n_neurons": 16, "seed": 0},
        "tasks": ["go_no_go"],
        "training": {"epochs": 1, "train_trials": 64, "test_trials": 64, "batch_size": 32},
        "seeds": 3,
        "conditions": {"baseline": {"init": "orthogonal"}, "bio": {"init": "functional"}},
    }
    spec.update(overrides)
    return spec


def write_spec(path: Path, **overrides) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(small_spec(**overrides), sort_keys=False))
    return path


# What the fake "training" leaves behind: test accuracy per (condition, seed).
ACCURACY = {
    ("baseline", 0): 0.61,
    ("baseline", 1): 0.64,
    ("baseline", 2): 0.58,
    ("bio", 0): 0.83,
    ("bio", 1): 0.88,
    ("bio", 2): 0.86,
}


def finish_runs(
    experiment_id: int,
    *,
    fail: set[tuple[str, int]] = frozenset(),
    artifacts_dir: Path,
    error: str = "loss became NaN at step 3",
) -> None:
    """Mark every run of the experiment finished, writing what a worker would: summary rows,
    metric series (two evaluations) and a weights file; runs in `fail` fail with `error`."""
    from sqlalchemy import select

    from cortexrnn.shared.db import session_scope
    from cortexrnn.shared.experiments import refresh_experiment_status
    from cortexrnn.shared.models import Artifact, Experiment, MetricPoint, Run, RunState, RunSummary

    artifacts_dir.mkdir(parents=True, exist_ok=True)
    with session_scope() as s:
        for run in s.scalars(
            select(Run).where(Run.experiment_id == experiment_id).order_by(Run.id)
        ):
            if RunState(run.state).is_terminal:
                continue
            if run.state == RunState.PENDING.value:
                run.transition(RunState.QUEUED)
            if run.state == RunState.QUEUED.value:
                run.transition(RunState.RUNNING)
            if (run.condition, run.seed) in fail:
                run.transition(RunState.FAILED)
                run.error = error
                continue
            acc = ACCURACY[(run.condition, run.seed)]
            run.progress, run.step, run.total_steps = 1.0, 2, 2
            run.transition(RunState.SUCCEEDED)
            s.add_all(
                [
                    RunSummary(run_id=run.id, name="test_acc", value=acc),
                    RunSummary(
                        run_id=run.id,
                        name="modularity_cnm",
                        value=None,
                        reason="graph is disconnected",
                    ),
                ]
            )
            for step, frac in ((1, 0.5), (2, 1.0)):
                s.add(
                    MetricPoint(
                        run_id=run.id,
                        step=step,
                        epoch=float(step),
                        name="test_acc",
                        value=acc * frac,
                    )
                )
            path = artifacts_dir / f"run-{run.id}.npz"
            w = np.full((2, 3, 3), float(run.id))
            np.savez(path, w=w)
            s.add(
                Artifact(
                    run_id=run.id,
                    kind="weights",
                    path=str(path),
                    sha256="0" * 64,
                    size_bytes=path.stat().st_size,
                )
            )
        refresh_experiment_status(s, s.get(Experiment, experiment_id))
