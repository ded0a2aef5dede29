"""A spec's generalisation sets reach the worker and come back as results: every run of the
pack gets a `test_acc_<set>` summary beside `test_acc`, and the results table carries them."""

from __future__ import annotations

from sqlalchemy import select

from cortexrnn.services.spec import parse_spec
from cortexrnn.shared.db import session_scope
from cortexrnn.shared.experiments import create_experiment, resolve_selection
from cortexrnn.shared.migrate import upgrade
from cortexrnn.shared.models import Run, RunSummary, User
from cortexrnn.shared.results import load_results
from cortexrnn.shared.settings import get_settings
from cortexrnn.worker.execution import execute_pack
from cortexrnn.worker.scheduler import schedule_once

SETTINGS = dict(
    queue="cpu", max_pack_size=8, heartbeat_timeout_s=60, dispatch_timeout_s=300, max_attempts=3
)

SPEC = {
    "sampling": {"strategy": "random", "n_neurons": 10, "seed": 0},
    "seeds": 2,
    "tasks": ["go_no_go"],
    "training": {"epochs": 1, "train_trials": 64, "batch_size": 32, "test_trials": 32},
    "evaluation": {"sets": ["recall", "noisy", "jitter"], "jitter_steps": 2},
}


def _submit(spec) -> int:
    """The spec submitted by a new user, as the API does; its experiment id."""
    with session_scope() as s:
        resolved = resolve_selection(s, spec)
        alice = User(name="alice")
        s.add(alice)
        s.flush()
        return create_experiment(
            s, alice, spec, dataset_sha=resolved.row.content_sha256, selection=resolved.selection
        ).experiment.id


def test_the_worker_stores_each_generalisation_set_beside_recall(cortexrnn_home) -> None:
    upgrade()
    spec = parse_spec(SPEC)
    eid = _submit(spec)
    with session_scope() as s:
        (pack_id,) = schedule_once(s, lambda *a: None, slots=1, **SETTINGS).dispatched
    assert execute_pack(pack_id, "w1", settings=get_settings()) == "done"
    wanted = {"test_acc", "test_acc_noisy", "test_acc_jitter"}
    with session_scope() as s:
        runs = list(s.scalars(select(Run).where(Run.experiment_id == eid)))
        assert len(runs) == 2 and {r.state for r in runs} == {"succeeded"}
        for run in runs:
            values = {
                row.name: row.value
                for row in s.scalars(select(RunSummary).where(RunSummary.run_id == run.id))
            }
            assert wanted <= set(values) and "test_acc_unseen_coherence" not in values
            assert all(0.0 <= values[k] <= 1.0 for k in wanted)
        table = load_results(s, eid, curves=False).metrics
    assert wanted <= set(table["metric"])


def test_a_set_for_one_task_does_not_fail_the_other_tasks_packs(cortexrnn_home) -> None:
    """Unseen coherences apply to perceptual decisions only: in a spec of two tasks, the
    go/no-go pack trains with the sets that apply to it (it once failed at preparation, its
    one-task spec refused for naming unseen_coherence), the perceptual pack with all three."""
    upgrade()
    spec = parse_spec(
        {
            **SPEC,
            "seeds": 1,
            "tasks": ["go_no_go", "perceptual_decision_making"],
            "evaluation": {"sets": ["recall", "noisy", "unseen_coherence"]},
        }
    )
    eid = _submit(spec)
    with session_scope() as s:
        packs = schedule_once(s, lambda *a: None, slots=2, **SETTINGS).dispatched
    assert len(packs) == 2
    assert [execute_pack(p, "w1", settings=get_settings()) for p in packs] == ["done", "done"]
    with session_scope() as s:
        for run in s.scalars(select(Run).where(Run.experiment_id == eid)):
            assert run.state == "succeeded", run.error
            names = {
                row.name for row in s.scalars(select(RunSummary).where(RunSummary.run_id == run.id))
            }
            assert "test_acc_noisy" in names
            assert ("test_acc_unseen_coherence" in names) == (
                run.task == "perceptual_decision_making"
            )
