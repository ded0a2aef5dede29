"""A spec's `resources`: stored on each run for the scheduler, refused with the field named
when malformed, and no part of a run's identity."""

from __future__ import annotations

from sqlalchemy import select

from cortexrnn.shared.db import session_scope
from cortexrnn.shared.models import Run
from tests.api.conftest import assert_error, small_spec


def _runs(experiment_id: int) -> list[Run]:
    with session_scope() as s:
        rows = list(s.scalars(select(Run).where(Run.experiment_id == experiment_id)))
        s.expunge_all()
        return rows


def test_resources_reach_the_runs_and_the_queue_says_who_can_hold_them(api, tiny_dataset) -> None:
    spec = small_spec(resources={"device": "cuda", "min_memory_gb": 20})
    created = api.post("/v1/experiments", json=spec)
    assert created.status_code == 201, created.text
    runs = _runs(created.json()["id"])
    assert len(runs) == 4
    for r in runs:
        # No queue named, a device asked for: any queue whose workers have CUDA.
        assert (r.queue, r.device_kind, r.min_memory_mb) == (None, "cuda", 20 * 1024)
        # The cost model's estimate: a pack process of one network of 16 units is at least
        # the runtime it counts (512 MiB), and each further network costs something.
        assert r.memory_mb is not None and r.memory_mb >= 512
        assert r.network_mb is not None and 0 < r.network_mb < r.memory_mb
    from cortexrnn.worker.runtime import register_worker

    register_worker("cpu-w@h", "cpu", ["cpu"], 2, memory_mb=8192)
    body = api.get("/v1/queue").json()
    (waiting,) = body["waiting"]
    assert waiting["reason"].startswith("no live worker can hold it: it needs a cuda device")
    assert "20 GB per slot" in waiting["reason"]
    assert body["queues"] == [
        {"name": "cpu", "slots": 2, "busy": 0, "devices": ["cpu"], "memory_mb": 8192.0}
    ]


def test_a_spec_without_resources_goes_to_the_default_queue(api, tiny_dataset) -> None:
    created = api.post("/v1/experiments", json=small_spec()).json()
    assert {(r.queue, r.device_kind, r.min_memory_mb) for r in _runs(created["id"])} == {
        ("cpu", None, None)
    }


def test_resources_do_not_change_what_a_run_is(api, tiny_dataset) -> None:
    """The same runs on another queue wait for the first ones instead of training again."""
    first = api.post("/v1/experiments", json=small_spec()).json()
    again = api.post("/v1/experiments", json=small_spec(resources={"queue": "gpu-big"})).json()
    assert again["n_waiting"] == first["n_runs"] == 4
    assert {r.run_hash for r in _runs(first["id"])} == {r.run_hash for r in _runs(again["id"])}


def test_malformed_resources_are_refused_naming_the_field(api, tiny_dataset) -> None:
    for bad, field in (
        ({"queue": "GPU queue"}, "resources.queue"),
        ({"device": "tpu"}, "resources.device"),
        ({"min_memory_gb": -1}, "resources.min_memory_gb"),
        ({"min_memory_gb": "Infinity"}, "resources.min_memory_gb"),
        ({"gpus": 2}, "resources.gpus"),
    ):
        assert_error(api.post("/v1/experiments", json=small_spec(resources=bad)), 422, field)
    assert api.get("/v1/experiments").json()["items"] == []


def test_a_worker_with_a_malformed_queue_name_is_refused_before_it_starts(cortexrnn_home) -> None:
    from typer.testing import CliRunner

    from cortexrnn.cli.main import app

    result = CliRunner().invoke(app, ["worker", "--queues", "GPU big"])
    assert result.exit_code == 2
    assert "--queues 'GPU big'" in result.output and "must match" in result.output


def test_a_worker_registers_the_memory_of_each_slot(cortexrnn_home) -> None:
    """Without --memory-gb, a CPU worker's slots share the host's memory (or its container's
    limit): here each of 4 slots gets a quarter of what the runtime reports."""
    from cortexrnn.shared.migrate import upgrade
    from cortexrnn.shared.models import WorkerInfo
    from cortexrnn.worker.runtime import device_memory_mb, register_worker

    upgrade()
    total = device_memory_mb("cpu")
    assert total is not None and total > 256
    register_worker("w@h", "cpu", ["cpu"], 4)
    register_worker("g@h", "cuda:0", ["gpu"], 1, memory_mb=80 * 1024)
    with session_scope() as s:
        rows = {w.name: w.memory_mb for w in s.scalars(select(WorkerInfo))}
    assert rows == {"w@h": total / 4, "g@h": 80 * 1024}
