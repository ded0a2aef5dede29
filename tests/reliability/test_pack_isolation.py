"""Each pack trains in a process of its own with a memory limit (worker/pack_process.py): a
pack that needs more fails alone, with a reason on its runs that says what to reduce, and
the worker goes on to train the next pack."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from sqlalchemy import select

from cortexrnn.shared.migrate import upgrade
from cortexrnn.shared.models import Pack, Run, User
from cortexrnn.worker.scheduler import schedule_once
from tests.service.test_scheduler import SETTINGS

LIMIT_MB = 1800  # what a small pack maps is over 1 GiB (worker/pack_memory.py)


def _spec(name: str, delay: int = 10, epochs: int = 1) -> dict:
    """Go/no-go whose delay period sets the trial length (hence the memory BPTT keeps)."""
    return {
        "name": name,
        "sampling": {"strategy": "random", "n_neurons": 12, "seed": 0},
        "seeds": 1,
        "tasks": [{"name": "go_no_go", "params": {"delay": delay}}],
        "training": {"epochs": epochs, "train_trials": 64, "batch_size": 32, "test_trials": 32},
        "conditions": {"W": {"init": "orthogonal", "lam": 0.0}},
    }


def _submit(*specs: dict) -> list[int]:
    """Store the experiments and open one pack each; their pack ids, in order."""
    from cortexrnn.services.spec import parse_spec
    from cortexrnn.shared.db import session_scope
    from cortexrnn.shared.experiments import create_experiment, resolve_dataset

    upgrade()
    with session_scope() as s:
        parsed = [parse_spec(raw) for raw in specs]
        # One dataset for all; resolved before any write of ours (it may store it itself).
        sha = resolve_dataset(s, parsed[0]).content_sha256
        owner = User(name="alice")
        s.add(owner)
        s.flush()
        for spec in parsed:
            create_experiment(s, owner, spec, dataset_sha=sha)
    with session_scope() as s:
        packs = schedule_once(s, lambda *a: None, slots=len(specs), **SETTINGS).dispatched
    with session_scope() as s:
        by_name = {
            p.id: s.scalar(select(Run.experiment_id).where(Run.pack_id == p.id))
            for p in s.scalars(select(Pack).where(Pack.id.in_(packs)))
        }
    return sorted(by_name, key=lambda pid: by_name[pid])


def _runs(pack_id: int) -> list[Run]:
    from cortexrnn.shared.db import session_scope

    with session_scope() as s:
        return list(s.scalars(select(Run).where(Run.pack_id == pack_id)))


def _summary(run_id: int) -> dict[str, float | None]:
    from cortexrnn.shared.db import session_scope
    from cortexrnn.shared.models import RunSummary

    with session_scope() as s:
        rows = s.scalars(select(RunSummary).where(RunSummary.run_id == run_id))
        return {r.name: r.value for r in rows}


@pytest.fixture()
def limited(cortexrnn_home, monkeypatch):
    from cortexrnn.shared.settings import reset_settings_cache

    monkeypatch.setenv("CORTEXRNN_PACK_MEMORY_LIMIT_MB", str(LIMIT_MB))
    monkeypatch.setenv("CORTEXRNN_FINAL_NULLS", "5")
    reset_settings_cache()
    return cortexrnn_home


def test_a_pack_over_its_memory_limit_fails_alone_and_the_worker_trains_the_next(
    limited,
) -> None:
    from cortexrnn.worker.pack_process import run_pack

    # Trials of a million steps: one batch's activations alone are well over the limit.
    big, small = _submit(_spec("too-big", delay=1_000_000), _spec("small"))
    t0 = time.monotonic()
    assert run_pack(big, "w1", "cpu", 1) == "failed"
    failed_s = time.monotonic() - t0
    (run,) = _runs(big)
    assert run.state == "failed"
    assert f"needed more than {LIMIT_MB} MiB of memory" in (run.error or ""), run.error
    assert "CORTEXRNN_PACK_MEMORY_LIMIT_MB" in run.error and "reduce" in run.error

    # The same worker (this process, and its fork server) takes the next pack.
    t0 = time.monotonic()
    assert run_pack(small, "w1", "cpu", 1) == "done"
    small_s = time.monotonic() - t0
    (run,) = _runs(small)
    assert run.state == "succeeded" and run.error is None
    # Measured in full: no metric group (the nulls are the largest) ran out under the limit.
    summary = _summary(run.id)
    assert {"small_world_sigma", "modularity_louvain"} <= set(summary), sorted(summary)
    print(f"\nover-limit pack failed in {failed_s:.1f} s; small pack trained in {small_s:.1f} s")


def test_a_pack_process_killed_by_sigkill_fails_its_runs_with_the_reason(limited) -> None:
    """What the kernel's out-of-memory killer does: the pack fails with why, the worker lives."""
    from cortexrnn.shared.db import session_scope
    from cortexrnn.worker.pack_process import run_pack

    (pack_id,) = _submit(_spec("killed", epochs=2000))
    outcome: list[str] = []
    thread = threading.Thread(target=lambda: outcome.append(run_pack(pack_id, "w1", "cpu", 1)))
    thread.start()
    deadline = time.monotonic() + 120
    child = None
    while child is None and time.monotonic() < deadline:
        with session_scope() as s:
            running = s.scalar(select(Run.state).where(Run.pack_id == pack_id)) == "running"
        child = _pack_child_pid(pack_id) if running else None
        time.sleep(0.2)
    assert child is not None, "the pack never started training in its own process"
    os.kill(child, signal.SIGKILL)
    thread.join(timeout=60)
    assert outcome == ["failed"]
    (run,) = _runs(pack_id)
    assert run.state == "failed" and "killed (SIGKILL)" in (run.error or ""), run.error
    assert "out-of-memory killer" in run.error


def _pack_child_pid(pack_id: int) -> int | None:
    """The pid of the pack's own process, started by run_pack in this process."""
    import multiprocessing

    for child in multiprocessing.active_children():
        if child.name == f"cortexrnn-pack-{pack_id}" and child.pid:
            return child.pid
    return None
