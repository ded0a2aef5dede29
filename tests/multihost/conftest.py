"""The API in-process with a pack held by worker "w1" and a worker token, for the artifact
transport tests; and the helpers the multi-host tests share."""

from __future__ import annotations

import hashlib
import socket
from dataclasses import dataclass
from typing import Any

import httpx
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


S3_BUCKET = "cortexrnn-artifacts"
S3_PREFIX = "lab"


@dataclass
class S3Bucket:
    """A bucket on a real S3 endpoint (moto's server, over HTTP on a local port)."""

    endpoint: str
    client: Any  # boto3's S3 client, for looking into the bucket beside the API

    def objects(self) -> dict[str, str]:
        """The SHA-256 of each object in the bucket, by key."""
        listed = self.client.list_objects_v2(Bucket=S3_BUCKET).get("Contents", [])
        return {
            o["Key"]: hashlib.sha256(
                self.client.get_object(Bucket=S3_BUCKET, Key=o["Key"])["Body"].read()
            ).hexdigest()
            for o in listed
        }


@pytest.fixture()
def s3_bucket(monkeypatch) -> S3Bucket:
    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # boto3's standard credential chain, as on an API host (moto takes any key).
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "cortexrnn-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "cortexrnn-test-secret")
    endpoint = f"http://127.0.0.1:{port}"
    # moto's servers in one process share their state: start from an empty S3.
    httpx.post(f"{endpoint}/moto-api/reset").raise_for_status()
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=S3_BUCKET)
    try:
        yield S3Bucket(endpoint, client)
    finally:
        server.stop()


def use_artifact_store(monkeypatch, url: str, endpoint: str | None) -> None:
    """Point the API's artifact store at `url` (as an operator's environment does); takes
    effect for apps made after this."""
    from cortexrnn.shared.remote_settings import get_remote_settings

    monkeypatch.setenv("CORTEXRNN_ARTIFACT_STORE", url)
    if endpoint:
        monkeypatch.setenv("CORTEXRNN_ARTIFACT_S3_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("CORTEXRNN_ARTIFACT_S3_REGION", "us-east-1")
    get_remote_settings.cache_clear()


@pytest.fixture()
def s3_store(s3_bucket, monkeypatch) -> S3Bucket:
    """The API's artifact store in the bucket, under a prefix."""
    from cortexrnn.shared.remote_settings import get_remote_settings

    use_artifact_store(monkeypatch, f"s3://{S3_BUCKET}/{S3_PREFIX}", s3_bucket.endpoint)
    yield s3_bucket
    monkeypatch.delenv("CORTEXRNN_ARTIFACT_STORE")
    get_remote_settings.cache_clear()


@pytest.fixture(params=["local", "s3"])
def artifact_store(request) -> S3Bucket | None:
    """Each artifact store in turn: the API's folder (the default; None), then a bucket."""
    return request.getfixturevalue("s3_store") if request.param == "s3" else None


@pytest.fixture()
def s3_worker_api(s3_store, request) -> WorkerApi:
    """`worker_api` with its artifact store in the bucket."""
    return request.getfixturevalue("worker_api")
