"""The API in-process with a pack held by worker "w1" and a worker token, for the artifact
transport tests; and the helpers the multi-host tests share."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tests.conftest import seeded_app
from tests.reliability.conftest import private_redis  # noqa: F401 - the fixture, shared

# A pack small enough to train in a few seconds on one thread, long enough to checkpoint.
SPEC = {
    "dataset": "tiny",
    "sampling": {"strategy": "random", "n_neurons": 12, "seed": 0},
    "seeds": 2,
    "training": {
        "epochs": 2,
        "train_trials": 32 * 20,
        "batch_size": 32,
        "test_trials": 32,
        "checkpoint_every_steps": 10,
    },
    "conditions": {"WD*": {"space": "real"}},
}
SCHEDULE = dict(
    queue="cpu", max_pack_size=8, heartbeat_timeout_s=60, dispatch_timeout_s=300, max_attempts=3
)


@dataclass
class WorkerApi:
    client: TestClient
    tokens: dict[str, str]  # user tokens by name
    worker_token: str
    pack_id: int
    run_ids: list[int]

    def transport(self, worker: str = "w1", **kw):
        from cortexrnn.worker.artifact_client import ApiTransport

        return ApiTransport(
            "http://testserver", self.worker_token, worker, client=self.client, **kw
        )

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.worker_token}"}


def submit_and_schedule(spec: dict = SPEC) -> int:
    """Submit `spec` as alice and open its pack; the pack's id."""
    from cortexrnn.services.spec import parse_spec
    from cortexrnn.shared.auth import create_user
    from cortexrnn.shared.db import session_scope
    from cortexrnn.shared.experiments import create_experiment, resolve_selection
    from cortexrnn.shared.models import User
    from cortexrnn.worker.scheduler import schedule_once

    parsed = parse_spec(spec)
    with session_scope() as s:
        resolved = resolve_selection(s, parsed)
        from sqlalchemy import select

        alice = s.scalar(select(User).where(User.name == "alice")) or create_user(s, "alice")[0]
        create_experiment(
            s, alice, parsed, dataset_sha=resolved.row.content_sha256, selection=resolved.selection
        )
    with session_scope() as s:
        (pack_id,) = schedule_once(s, lambda *a: None, slots=1, **SCHEDULE).dispatched
    return pack_id


@pytest.fixture()
def worker_api(cortexrnn_home) -> WorkerApi:
    from cortexrnn.shared import lifecycle
    from cortexrnn.shared.db import session_scope
    from cortexrnn.shared.worker_tokens import issue_worker_token

    app, tokens = seeded_app()  # with the small synthetic cortex 'tiny'
    pack_id = submit_and_schedule()
    with session_scope() as s:
        run_ids = [r.id for r in lifecycle.claim_pack(s, pack_id, "w1") or []]
        token = issue_worker_token(s, "test-host")
    with TestClient(app) as client:
        yield WorkerApi(client, tokens, token, pack_id, run_ids)


def reference_weights(spec_json: dict = SPEC) -> dict[tuple[str, int], object]:
    """Final W of every run of `spec_json` on the 'tiny' cortex, trained here in one go
    (no checkpoint, no worker), keyed by (condition, seed)."""
    from cortexrnn.services.connectome.synthetic import synthesize_cortex
    from cortexrnn.services.runner.pack import prepare_inputs, train_pack
    from cortexrnn.services.spec import ExperimentSpec

    spec = ExperimentSpec.model_validate(spec_json)
    runs = spec.expand_runs()
    _, outcomes = train_pack(
        spec,
        prepare_inputs(spec, synthesize_cortex(80, 3, name="tiny")),
        runs,
        [spec.run_hash(r) for r in runs],
        n_nulls=1,
        epoch_metrics=False,
    )
    return {(r.condition_name, r.seed): o.weights["W"] for r, o in zip(runs, outcomes, strict=True)}


@pytest.fixture()
def patient_startup(monkeypatch):
    """The lab harness waits 60 s for the API to answer; on a loaded 2-core machine importing
    the API stack alone can take longer. These tests wait up to 5 minutes instead."""
    from cortexrnn.cli.local_server import ServerNotReady, wait_ready
    from tests.reliability import harness

    def wait(url, proc, log) -> None:
        try:
            wait_ready(url, proc, timeout=300, interval=0.5)
        except ServerNotReady as exc:
            raise AssertionError(f"{exc}: {log.read_text()[-3000:]}") from None

    monkeypatch.setattr(harness, "_wait_ready", wait)
