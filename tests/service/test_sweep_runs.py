"""Sweeps through the service: a swept training or sampling field trains runs with those
settings (their own packs), results carry one column per swept field, and extending a sweep
answers the earlier points from cache."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import select

from cortexrnn.services.runner import pack as pack_module
from cortexrnn.services.spec import parse_spec
from cortexrnn.shared.db import session_scope
from cortexrnn.shared.experiments import Submission, create_experiment, resolve_selection
from cortexrnn.shared.migrate import upgrade
from cortexrnn.shared.models import Artifact, Run, User
from cortexrnn.shared.results import load_results
from cortexrnn.shared.settings import get_settings
from cortexrnn.worker.execution import execute_pack
from cortexrnn.worker.scheduler import schedule_once
from tests.service.test_scheduler import SETTINGS

TINY = {
    "sampling": {"strategy": "random", "n_neurons": 12, "seed": 0},
    "training": {"epochs": 1, "train_trials": 32, "batch_size": 32, "test_trials": 32},
    "conditions": {"W": {}},
}


def _submit(spec_data: dict[str, Any]) -> Submission:
    spec = parse_spec(spec_data)
    with session_scope() as s:
        resolved = resolve_selection(s, spec)
        user = s.scalar(select(User).where(User.name == "alice"))
        if user is None:
            user = User(name="alice")
            s.add(user)
            s.flush()
        sub = create_experiment(
            s, user, spec, dataset_sha=resolved.row.content_sha256, selection=resolved.selection
        )
        s.expunge(sub.experiment)
        return sub


def _train_all() -> int:
    """Schedule and execute packs one at a time until none is left; returns how many."""
    n = 0
    while True:
        with session_scope() as s:
            dispatched = schedule_once(s, lambda *a: None, slots=1, **SETTINGS).dispatched
        if not dispatched:
            return n
        for pack_id in dispatched:
            assert execute_pack(pack_id, "w1", settings=get_settings()) == "done"
            n += 1


def test_a_swept_lr_and_n_neurons_train_runs_with_those_settings(
    cortexrnn_home, monkeypatch
) -> None:
    trained: list[tuple[float, int, int]] = []  # lr, units, networks of each pack
    real = pack_module.train_population

    def spy(
        priors: list[Any], seeds: list[int], task: Any, model: Any, training: Any, *a: Any, **k: Any
    ):
        trained.append((training.lr, priors[0].w_init.shape[0], len(priors)))
        return real(priors, seeds, task, model, training, *a, **k)

    monkeypatch.setattr(pack_module, "train_population", spy)
    upgrade()
    sub = _submit(
        {
            **TINY,
            "seeds": 2,
            "sweep": {"fields": {"training.lr": [0.001, 0.01], "sampling.n_neurons": [8, 12]}},
        }
    )
    assert sub.n_runs == 8 and sub.n_cached == 0
    assert _train_all() == 4
    # One pack per point, each with its own lr and number of units, two seeds in each.
    assert sorted(trained) == [(0.001, 8, 2), (0.001, 12, 2), (0.01, 8, 2), (0.01, 12, 2)]
    with session_scope() as s:
        runs = list(s.scalars(select(Run).order_by(Run.id)))
        assert {r.state for r in runs} == {"succeeded"}
        for r in runs:
            w = np.load(
                s.scalar(
                    select(Artifact.path).where(Artifact.run_id == r.id, Artifact.kind == "weights")
                )
            )["W"]
            assert w.shape == (r.inputs["point"]["values"]["sampling.n_neurons"],) * 2
            assert r.inputs["point"]["training"]["lr"] == r.inputs["point"]["values"]["training.lr"]
        assert runs[0].condition == "W training.lr=0.001 sampling.n_neurons=8"
        metrics = load_results(s, sub.experiment.id, curves=False).metrics
    # The tidy table: the usual columns, then the family and one column per swept field.
    assert list(metrics.columns)[-3:] == ["family", "training.lr", "sampling.n_neurons"]
    acc = metrics[metrics["metric"] == "test_acc"]
    assert len(acc) == 8 and set(acc["family"]) == {"W"}
    assert sorted(set(zip(acc["training.lr"], acc["sampling.n_neurons"], strict=True))) == [
        (0.001, 8),
        (0.001, 12),
        (0.01, 8),
        (0.01, 12),
    ]


def test_extending_a_sweep_trains_only_the_new_points(cortexrnn_home) -> None:
    upgrade()
    first = {**TINY, "seeds": 2, "sweep": {"fields": {"condition.lam": [0.01, 0.1]}}}
    assert _submit(first).n_cached == 0
    assert _train_all() == 1
    extended = {
        **TINY,
        "seeds": 2,
        "sweep": {"fields": {"condition.lam": [0.01, 0.1, 1.0], "training.lr": [0.001]}},
    }
    sub = _submit(extended)
    # training.lr 0.001 is the default: the old points are the same runs, answered at once.
    assert (sub.n_runs, sub.n_cached) == (6, 4)
    with session_scope() as s:
        pending = [
            r.condition
            for r in s.scalars(select(Run).where(Run.experiment_id == sub.experiment.id))
            if r.cached_from_id is None
        ]
    assert pending == ["W lam=1 training.lr=0.001"] * 2
    assert _train_all() == 1
    # A plain spec whose settings equal a swept point is that point's run too.
    plain = {**TINY, "seeds": 2, "conditions": {"W": {"lam": 1.0}}}
    assert _submit(plain).n_cached == 2
