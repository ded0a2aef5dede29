"""The dashboard against the real app on a fresh embedded database (users alice, bob and root,
the 'tiny' synthetic dataset), and helpers that log in through the form and that finish runs
by writing what a worker would (no training in these tests)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.conftest import seeded_app

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client: TestClient, token: str) -> str:
    """Log in through the form (with its login CSRF token); returns the session's CSRF token."""
    form = client.get("/login")
    assert form.status_code == 200, form.text
    response = client.post(
        "/login",
        data={"token": token, "csrf_token": csrf_of(form.text), "next": "/experiments"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = client.get("/experiments")
    assert page.status_code == 200
    return csrf_of(page.text)


@dataclass
class Browser:
    http: TestClient
    csrf: str = ""


@dataclass
class Dash:
    app: object
    tokens: dict[str, str]
    home: Path

    def browser(self, user: str | None = None) -> Browser:
        """A new client with its own cookie jar, logged in as `user` when given."""
        client = TestClient(self.app)
        return Browser(client, login(client, self.tokens[user]) if user else "")

    def submit(self, user: str = "alice", **overrides) -> int:
        with TestClient(self.app) as api:
            response = api.post(
                "/v1/experiments",
                json=spec(**overrides),
                headers={"Authorization": f"Bearer {self.tokens[user]}"},
            )
        assert response.status_code == 201, response.text
        return response.json()["id"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item, so that a fixture can tell, in its
    teardown, whether the test failed (the browser test then saves screenshots)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture()
def dash(cortexrnn_home) -> Dash:
    app, tokens = seeded_app(event_interval_s=0.05)
    return Dash(app, tokens, cortexrnn_home)


@pytest.fixture()
def dash_pg(cortexrnn_home, postgres_url, monkeypatch) -> Dash:
    """The same on a fresh PostgreSQL database (the lab's deployment)."""
    from cortexrnn.shared.db import get_engine, get_sessionmaker
    from cortexrnn.shared.settings import reset_settings_cache

    monkeypatch.setenv("CORTEXRNN_DATABASE_URL", postgres_url)
    monkeypatch.setenv("CORTEXRNN_SECRET_KEY", "dashboard-test-secret-0123456789")
    reset_settings_cache()
    get_sessionmaker.cache_clear()
    get_engine.cache_clear()
    app, tokens = seeded_app(event_interval_s=0.05)
    yield Dash(app, tokens, cortexrnn_home)
    get_engine().dispose()


def spec(**overrides) -> dict:
    base = {
        "name": "dash-test",
        "dataset": "tiny",
        "sampling": {"strategy": "random", "n_neurons": 12, "seed": 0},
        "tasks": ["go_no_go"],
        "training": {"epochs": 3, "train_trials": 64, "test_trials": 64, "batch_size": 32},
        "seeds": 4,
        "conditions": {"baseline": {"init": "orthogonal"}, "bio": {"init": "functional"}},
    }
    base.update(overrides)
    return base


def accuracy(condition: str, seed: int) -> float:
    """What the fake training reaches: 'bio' clearly above 'baseline'."""
    return (0.9 if condition == "bio" else 0.55) + 0.01 * seed


def finish_runs(
    experiment_id: int,
    artifacts: Path,
    *,
    only: int | None = None,
    epochs: int = 3,
    steps: int = 0,
    fail: frozenset[tuple[str, int]] = frozenset(),
) -> list[int]:
    """Finish the experiment's unfinished runs (or the first `only` of them) as a worker
    would: summary rows, per-epoch curves, a weights file. Returns the finished run ids."""
    from sqlalchemy import select

    from cortexrnn.shared.db import session_scope
    from cortexrnn.shared.experiments import refresh_experiment_status
    from cortexrnn.shared.models import (
        Artifact,
        Experiment,
        MetricPoint,
        Run,
        RunState,
        RunSummary,
    )

    artifacts.mkdir(parents=True, exist_ok=True)
    done = []
    with session_scope() as s:
        runs = [
            r
            for r in s.scalars(
                select(Run).where(Run.experiment_id == experiment_id).order_by(Run.id)
            )
            if not RunState(r.state).is_terminal
        ][:only]
        for run in runs:
            if run.state == RunState.PENDING.value:
                run.transition(RunState.QUEUED)
            if run.state == RunState.QUEUED.value:
                run.transition(RunState.RUNNING)
            if (run.condition, run.seed) in fail:
                run.transition(RunState.FAILED)
                run.error = "diverged: the loss became NaN or infinite at step 1"
                continue
            acc = accuracy(run.condition, run.seed)
            run.progress, run.step, run.total_steps = 1.0, epochs, epochs
            run.transition(RunState.SUCCEEDED)
            s.add_all(
                [
                    RunSummary(run_id=run.id, name="test_acc", value=acc),
                    RunSummary(run_id=run.id, name="modularity", value=0.3 + 0.02 * run.seed),
                    RunSummary(
                        run_id=run.id, name="small_world", value=None, reason="disconnected"
                    ),
                ]
            )
            for epoch in range(1, epochs + 1):
                for name, value in (
                    ("test_acc", 0.5 + (acc - 0.5) * epoch / epochs),
                    ("train_loss", 1.0 / epoch),
                ):
                    s.add(
                        MetricPoint(
                            run_id=run.id,
                            step=10 * epoch,
                            epoch=float(epoch),
                            name=name,
                            value=value,
                        )
                    )
            s.add_all(
                MetricPoint(
                    run_id=run.id,
                    step=k,
                    epoch=k / 10,
                    name="step_loss",
                    value=1.0 / k + 0.01 * run.seed,
                )
                for k in range(1, steps + 1)
            )
            path = artifacts / f"run-{run.id}.npz"
            rng = np.random.default_rng(run.id)
            np.savez(path, w_init=rng.normal(size=(12, 12)), W=rng.normal(size=(12, 12)))
            s.add(
                Artifact(
                    run_id=run.id,
                    kind="weights",
                    path=str(path),
                    sha256="0" * 64,
                    size_bytes=path.stat().st_size,
                )
            )
            done.append(run.id)
        refresh_experiment_status(s, s.get_one(Experiment, experiment_id))
    return done
