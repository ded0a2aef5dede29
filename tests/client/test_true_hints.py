"""Hints that hold: a run that diverged is not sent to `retry` (training is deterministic per
seed, it would diverge again), and `report` of an experiment whose runs all failed says so,
with their errors, instead of "no finished runs yet"."""

from __future__ import annotations

from sqlalchemy import select

from cortexrnn.client.experiment import failure_line
from cortexrnn.shared.db import session_scope
from cortexrnn.shared.experiments import refresh_experiment_status
from cortexrnn.shared.models import Experiment, Run, RunState
from tests.client.conftest import write_spec

DIVERGED = (
    "diverged: the loss became NaN or infinite at step 1; "
    "lower training.lr or the regulariser strength"
)


def _end_runs(experiment_id: int, outcomes: list[tuple[str, str | None]]) -> None:
    with session_scope() as s:
        runs = s.scalars(select(Run).where(Run.experiment_id == experiment_id).order_by(Run.id))
        for run, (state, error) in zip(runs, outcomes, strict=True):
            run.transition(RunState.QUEUED)
            run.transition(RunState.RUNNING)
            run.transition(RunState(state))
            run.error = error
        refresh_experiment_status(s, s.get(Experiment, experiment_id))


def test_all_diverged_suggests_changing_the_spec_not_retry(cli, server, tmp_path) -> None:
    assert cli("submit", str(write_spec(tmp_path / "s.yaml"))).exit_code == 0
    _end_runs(1, [("failed", DIVERGED)] * 6)
    client = server.client()
    line = failure_line(client.get_experiment(1), client.runs(1))
    assert "6 runs diverged" in line and "training.lr" in line and "submit it again" in line
    assert "retry 1" not in line

    report = cli("report", "1", "-o", str(tmp_path / "r.html"))
    assert report.exit_code != 0 and not (tmp_path / "r.html").exists()
    assert "all 6 runs of experiment 1 failed" in report.stderr, report.output
    assert "6 failed: diverged: the loss became NaN" in report.stderr
    assert "no finished runs yet" not in report.stderr

    retried = cli("retry", "1")
    assert retried.exit_code == 0 and "6 of them diverged and will diverge again" in retried.stdout


def test_mixed_failures_suggest_retry_only_for_those_it_can_change(cli, server, tmp_path) -> None:
    assert cli("submit", str(write_spec(tmp_path / "s.yaml"))).exit_code == 0
    _end_runs(
        1,
        [("failed", DIVERGED)] * 2
        + [("lost", "worker stopped heartbeating")]
        + [("succeeded", None)] * 3,
    )
    client = server.client()
    line = failure_line(client.get_experiment(1), client.runs(1))
    assert "`cortexrnn-client retry 1` (1 runs can be trained again)" in line
    assert "2 runs diverged" in line


def test_report_while_runs_are_unfinished_says_how_many(cli, tmp_path) -> None:
    assert cli("submit", str(write_spec(tmp_path / "s.yaml"))).exit_code == 0
    report = cli("report", "1", "-o", str(tmp_path / "r.html"))
    assert report.exit_code != 0
    assert "no succeeded runs yet (6 of 6 still to finish)" in report.stderr, report.output
