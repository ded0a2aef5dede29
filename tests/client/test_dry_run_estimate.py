"""`submit --dry-run` (and `spec validate` through the server) print the server's cost
estimate and the queue's expected start; a spec over the queue's limits is refused there as
it would be at submission, naming the field (issue 16)."""

from __future__ import annotations

import re

from cortexrnn.shared.db import session_scope
from cortexrnn.shared.models import WorkerInfo
from tests.client.conftest import write_spec


def _live_worker(slots: int) -> None:
    with session_scope() as s:
        s.add(WorkerInfo(name="w1", hostname="h", device="cpu", queues=["cpu"], concurrency=slots))


def test_dry_run_prints_estimate_and_expected_start(cli, server, tmp_path) -> None:
    spec = str(write_spec(tmp_path / "s.yaml"))
    dry = cli("submit", spec, "--dry-run")
    assert dry.exit_code == 0, dry.output
    # 2 conditions x 3 seeds over 16 neurons of the tiny dataset.
    assert "estimate: 6 runs of N = 16: peak memory" in dry.stdout
    assert "per pack of 6 (limit 8 GB)" in dry.stdout and "of worker time on cpu" in dry.stdout
    assert "queue: no live worker serves the queue; 0 runs wait ahead" in dry.stdout

    check = server.client().validate(spec)
    assert check.estimate is not None and check.queue is not None
    per_run_s = check.estimate.worker_hours * 3600 / 6
    assert check.queue.expected_start_s is None

    # Six runs of the same spec waiting, two live slots: 6 x per-run time / 2 ahead.
    assert cli("submit", spec).exit_code == 0
    _live_worker(slots=2)
    check = server.client().validate(spec)
    assert check.queue is not None and check.queue.slots == 2 and check.queue.runs_ahead == 6
    assert abs(check.queue.expected_start_s - 6 * per_run_s / 2) < 1e-6 * per_run_s
    dry = cli("submit", spec, "--dry-run")
    assert re.search(r"queue: expected start in (under 1 s|[\d.]+ s) \(6 runs ahead", dry.stdout), (
        dry.stdout
    )
    assert "over 2 live worker slots" in dry.stdout
    assert server.client().list_experiments().total == 1  # the dry runs stored nothing


def test_dry_run_refuses_what_the_queue_would_refuse(cli, server, tmp_path) -> None:
    spec = write_spec(
        tmp_path / "long.yaml", tasks=[{"name": "go_no_go", "params": {"delay": 10**9}}]
    )
    for args in (("submit", str(spec), "--dry-run"), ("spec", "validate", str(spec), "--server")):
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert "  tasks[0].params.delay:" in result.stderr and "limit of 10000" in result.stderr
        assert "Traceback" not in result.output
    assert server.client().list_experiments().total == 0


def test_expected_start_reads_in_hours() -> None:
    from cortexrnn.wire.schemas import QueueStart

    line = QueueStart(slots=2, runs_ahead=660, work_ahead_hours=9.0, expected_start_s=16_200).line()
    assert line == (
        "expected start in 4.5 h (660 runs ahead, 9 h of worker time over 2 live worker slots)"
    )
