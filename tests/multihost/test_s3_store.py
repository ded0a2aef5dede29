"""The API's artifact store in an S3-compatible bucket (CORTEXRNN_ARTIFACT_STORE=s3://...),
against a real S3 endpoint over HTTP (moto's server): uploads end as objects in the bucket,
downloads stream from it with the API's own folder gone, and a bucket that is missing or away
is named in the error (at startup, or as a 503 that a worker retries)."""

from __future__ import annotations

import hashlib
import shutil
import socket
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.api.conftest import assert_error
from tests.multihost.conftest import S3_BUCKET, S3_PREFIX, use_artifact_store
from tests.multihost.test_uploads import Crash, MiB, _digest, _file, _start


def _api_folder() -> Path:
    from cortexrnn.shared.settings import get_settings

    folder = get_settings().artifacts_dir
    assert folder is not None
    return folder


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_resumed_upload_ends_in_the_bucket_and_downloads_from_it(
    s3_store, s3_worker_api, tmp_path
) -> None:
    from cortexrnn.api.dashboard.weights_view import weight_images
    from cortexrnn.shared.db import session_scope
    from cortexrnn.shared.models import Artifact, Run

    api = s3_worker_api
    run_id = api.run_ids[0]
    path = tmp_path / "weights.npz"
    np.savez(path, W=np.random.default_rng(0).normal(size=(800, 800)).astype(np.float32))
    data = path.read_bytes()
    assert len(data) > 2 * MiB  # three chunks

    def crash_on_second_chunk(request: httpx.Request) -> None:
        if request.method == "PATCH" and request.headers["Upload-Offset"] == str(MiB):
            raise Crash

    api.client.event_hooks["request"] = [crash_on_second_chunk]
    with pytest.raises(Crash):
        api.transport().upload(path, kind="weights", pack_id=api.pack_id, run_id=run_id)
    api.client.event_hooks["request"] = []
    assert s3_store.objects() == {}  # an upload in progress stays on the API's disk
    again = api.transport()
    state = again.upload(path, kind="weights", pack_id=api.pack_id, run_id=run_id)
    assert again.chunks_sent == 2  # resumed at 1 MiB

    key = f"{S3_PREFIX}/runs/{run_id}/weights-{_sha(data)[:16]}.npz"
    assert state.path == f"s3://{S3_BUCKET}/{key}"
    assert s3_store.objects() == {key: _sha(data)}
    assert not list(_api_folder().rglob("*.part"))

    with session_scope() as s:  # what the worker records with the pack's results
        s.add(
            Artifact(
                run_id=run_id,
                kind="weights",
                path=state.path,
                sha256=state.sha256,
                size_bytes=len(data),
            )
        )
    shutil.rmtree(_api_folder())  # the API host's disk holds nothing of it
    r = api.client.get(
        f"/v1/runs/{run_id}/weights", headers={"Authorization": f"Bearer {api.tokens['alice']}"}
    )
    assert r.status_code == 200, r.text
    assert r.content == data and r.headers["content-length"] == str(len(data))
    assert f'filename="run-{run_id}-weights.npz"' in r.headers["content-disposition"]
    # The dashboard's heatmaps read the .npz from the bucket too (np.load needs a seekable copy).
    with session_scope() as s:
        files = api.client.app.state.artifact_store.files
        images = weight_images(s, s.get_one(Run, run_id), files)
    assert images is not None and [i["title"] for i in images["images"]] == ["Final W"]


def test_a_corrupted_chunk_never_reaches_the_bucket(s3_store, s3_worker_api, tmp_path) -> None:
    api = s3_worker_api
    path = _file(tmp_path, MiB + 10)
    data = path.read_bytes()
    upload = _start(api, path).json()
    damaged = bytes([data[0] ^ 0xFF]) + data[1:MiB]
    headers = {**api.headers(), "Upload-Offset": "0", "Content-Digest": _digest(data[:MiB])}
    r = api.client.patch(f"/v1/worker/uploads/{upload['id']}", content=damaged, headers=headers)
    assert_error(r, 422, "Content-Digest", "damaged")
    state = api.transport().upload(path, kind="weights", pack_id=api.pack_id, run_id=api.run_ids[0])
    assert state.state == "complete"
    assert s3_store.objects() == {state.path.removeprefix(f"s3://{S3_BUCKET}/"): _sha(data)}


def test_a_checkpoint_replaces_the_last_in_the_bucket_and_resumes_from_it(
    s3_store, s3_worker_api, tmp_path
) -> None:
    from cortexrnn.worker.checkpoint_sync import runs_key_of

    api = s3_worker_api
    t = api.transport()
    first, second = _file(tmp_path, 5000, "a.pt"), _file(tmp_path, 7000, "b.pt")
    name = "checkpoint-0123456789abcdef.pt"
    t.upload(first, kind="checkpoint", pack_id=api.pack_id, name=name, step=10)
    t.upload(second, kind="checkpoint", pack_id=api.pack_id, name=name, step=20)
    sha = _sha(second.read_bytes())
    key = f"{S3_PREFIX}/packs/{api.pack_id}/checkpoint-0123456789abcdef-{sha[:16]}.pt"
    assert s3_store.objects() == {key: sha}  # the replaced one was deleted

    shutil.rmtree(_api_folder())
    info = t.checkpoint_info(api.pack_id, runs_key_of(Path(name)))
    assert info is not None and info.step == 20
    got = t.download_checkpoint(info, tmp_path / "resume" / name)
    assert got.step == 20 and (tmp_path / "resume" / name).read_bytes() == second.read_bytes()
    r = api.client.get(
        f"/v1/worker/packs/{api.pack_id}/checkpoints/{info.runs_key}/file", headers=api.headers()
    )
    assert (r.headers["x-checkpoint-step"], r.headers["x-checkpoint-sha256"]) == ("20", sha)


def test_a_bucket_gone_mid_upload_answers_503_and_the_upload_completes_later(
    s3_store, s3_worker_api, tmp_path
) -> None:
    api = s3_worker_api
    path = _file(tmp_path, 1000)
    data = path.read_bytes()
    upload = _start(api, path).json()
    s3_store.client.delete_bucket(Bucket=S3_BUCKET)
    headers = {**api.headers(), "Upload-Offset": "0", "Content-Digest": _digest(data)}
    r = api.client.patch(f"/v1/worker/uploads/{upload['id']}", content=data, headers=headers)
    assert_error(r, 503, f"s3://{S3_BUCKET}/{S3_PREFIX}/", "does not exist")
    assert s3_store.endpoint not in r.text  # the endpoint is for the operator's log

    # The bucket is back: the worker's retry of its last chunk completes the upload.
    s3_store.client.create_bucket(Bucket=S3_BUCKET)
    r = api.client.patch(f"/v1/worker/uploads/{upload['id']}", content=data, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "complete"
    assert s3_store.objects() == {r.json()["path"].removeprefix(f"s3://{S3_BUCKET}/"): _sha(data)}


def test_the_api_does_not_start_on_a_bucket_it_cannot_use(
    s3_bucket, cortexrnn_home, monkeypatch
) -> None:
    from cortexrnn.api.app import create_app
    from cortexrnn.shared.artifacts import ArtifactStoreError
    from cortexrnn.shared.remote_settings import get_remote_settings
    from cortexrnn.shared.settings import get_settings

    try:
        use_artifact_store(monkeypatch, "s3://no-such-bucket/lab", s3_bucket.endpoint)
        with pytest.raises(ArtifactStoreError, match="bucket 'no-such-bucket' does not exist"):
            create_app(get_settings(), broker_check=lambda: "ok")

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = f"http://127.0.0.1:{s.getsockname()[1]}"
        use_artifact_store(monkeypatch, f"s3://{S3_BUCKET}/lab", closed)
        with pytest.raises(ArtifactStoreError, match=f"at {closed}.*Could not connect"):
            create_app(get_settings(), broker_check=lambda: "ok")

        monkeypatch.setenv("CORTEXRNN_ARTIFACT_STORE", "s3://")
        get_remote_settings.cache_clear()
        with pytest.raises(ValueError, match="CORTEXRNN_ARTIFACT_STORE: expected empty"):
            get_remote_settings()
    finally:
        monkeypatch.delenv("CORTEXRNN_ARTIFACT_STORE")
        get_remote_settings.cache_clear()
