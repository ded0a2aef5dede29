"""Progress says what happened: a cancelled experiment is "cancelled" with its cancelled runs
named (never "100 %"), a waiting one says why, bars count succeeded runs, and the ETA comes
from what finished runs cost, so it does not jump when a pack ends."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import httpx
from rich.console import Console
from sqlalchemy import select

from cortexrnn.client.api import Client
from cortexrnn.client.watch import watch
from cortexrnn.shared.db import session_scope
from cortexrnn.shared.experiments import experiment_progress
from cortexrnn.shared.models import Experiment, Run, utcnow
from tests.client.conftest import small_spec, write_spec


def _set_runs(experiment_id: int, states: list[tuple[str, float, float | None, float | None]]):
    """(state, progress, started s ago, finished s ago) for the runs in id order."""
    now = utcnow()
    with session_scope() as s:
        runs = s.scalars(select(Run).where(Run.experiment_id == experiment_id).order_by(Run.id))
        for run, (state, progress, started, finished) in zip(runs, states, strict=False):
            run.state, run.progress = state, progress
            run.started_at = now - timedelta(seconds=started) if started is not None else None
            run.finished_at = now - timedelta(seconds=finished) if finished is not None else None


def test_cancelled_experiment_is_not_shown_done(cli, server, tmp_path) -> None:
    assert cli("submit", str(write_spec(tmp_path / "s.yaml"))).exit_code == 0
    _set_runs(1, [("succeeded", 1.0, 100, 10), ("succeeded", 1.0, 100, 10)])
    assert cli("cancel", "1", input="y\n").exit_code == 0
    status = cli("status", "1")
    assert "cancelled: 2 of 6 runs succeeded (33 %), 4 cancelled" in status.stdout, status.output
    assert "100 %" not in status.stdout and "100%" not in status.stdout


def test_waiting_experiment_says_why(cli, server, tmp_path) -> None:
    assert cli("submit", str(write_spec(tmp_path / "s.yaml"))).exit_code == 0
    _set_runs(1, [("succeeded", 1.0, 100, 40), ("succeeded", 1.0, 100, 40)])
    status = cli("status", "1")
    waiting = next(w for w in server.client().queue().waiting if w.experiment_id == 1)
    assert f"waiting: 2 of 6 runs succeeded (33 %), waiting: {waiting.reason}" in status.stdout
    # Two runs of one pack took 60 s together: four runs left take two more such packs.
    assert "ETA 2:00" in status.stdout, status.stdout


def test_eta_from_measured_run_cost_does_not_jump_between_packs(server) -> None:
    exp = server.client().submit(small_spec(seeds=2)).id  # 4 runs
    with session_scope() as s:
        experiment = s.get(Experiment, exp)
        assert experiment is not None
        assert experiment_progress(s, experiment).eta_seconds is None  # nothing measured
        assert experiment_progress(s, experiment).phase == "queued"
    # The first pack (2 runs, 60 s) is done; the second has not started: 2 x 60 / 2 left.
    _set_runs(exp, [("succeeded", 1.0, 70, 10), ("succeeded", 1.0, 70, 10)])
    with session_scope() as s:
        between = experiment_progress(s, s.get(Experiment, exp))
    # The second pack has run 6 s and reports 10 %: the measured 60 s per pack still rules.
    _set_runs(
        exp,
        [("succeeded", 1.0, 70, 10), ("succeeded", 1.0, 70, 10)] + [("running", 0.1, 6, None)] * 2,
    )
    with session_scope() as s:
        running = experiment_progress(s, s.get(Experiment, exp))
    assert between.phase == "waiting" and running.phase == "running"
    assert between.eta_seconds is not None and abs(between.eta_seconds - 60) < 1
    assert running.eta_seconds is not None and abs(running.eta_seconds - 54) < 1
    assert abs(running.fraction - 0.55) < 1e-9  # 2 succeeded + 2 x 10 %, of 4


def test_a_finished_training_step_is_not_a_finished_run(server) -> None:
    exp = server.client().submit(small_spec(seeds=1)).id  # 2 runs
    # Training reached its last step; the run still measures and saves.
    _set_runs(exp, [("running", 1.0, 30, None), ("running", 1.0, 30, None)])
    with session_scope() as s:
        assert experiment_progress(s, s.get(Experiment, exp)).fraction < 1.0


def test_watch_bars_count_succeeded_runs_and_name_the_phase() -> None:
    detail = {
        "id": 1,
        "name": "x",
        "owner": "a",
        "status": "active",
        "priority": 0,
        "tags": [],
        "spec_hash": "h",
        "created_at": "2026-01-01T00:00:00Z",
        "finished_at": None,
        "n_runs": 2,
        "counts": {"running": 1, "cancelled": 1},
        "progress": 40.0,
        "eta_seconds": None,
        "phase": "running",
        "spec": {},
    }
    runs = [
        {
            "id": i,
            "experiment_id": 1,
            "condition": "c",
            "seed": i,
            "task": "t",
            "state": st,
            "progress": p,
            "step": 0,
            "total_steps": 0,
            "attempt": 1,
            "worker": None,
            "error": None,
            "cached_from_id": None,
            "pack_id": None,
            "heartbeat_at": None,
            "created_at": "2026-01-01T00:00:00Z",
            "queued_at": None,
            "started_at": None,
            "finished_at": None,
        }
        for i, st, p in ((1, "running", 0.8), (2, "cancelled", 1.0))
    ]
    final = {**detail, "status": "cancelled", "phase": "cancelled", "counts": {"cancelled": 2}}
    events = (
        'event: run\ndata: {"id": 1, "condition": "c", "state": "cancelled", "progress": 0.8}\n\n'
        'event: progress\ndata: {"percent": 0.0, "phase": "cancelled", "status": "cancelled"}\n\n'
        'event: done\ndata: {"status": "cancelled"}\n\n'
    )
    calls = {"detail": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/runs"):
            return httpx.Response(200, json=runs)
        if path.endswith("/events"):
            return httpx.Response(
                200, content=events.encode(), headers={"content-type": "text/event-stream"}
            )
        calls["detail"] += 1
        return httpx.Response(200, json=detail if calls["detail"] == 1 else final)

    out = StringIO()
    client = Client("http://cortex.test", "t", transport=httpx.MockTransport(handler))
    assert watch(client, 1, Console(file=out, width=200)).status == "cancelled"
    text = out.getvalue()
    assert "running: 0 of 2 runs succeeded (40 %), 1 cancelled" in text
    assert "0/2 succeeded" in text and "cancelled" in text.splitlines()[-1]
    assert "100%" not in text
