"""Artifacts through the API: chunked uploads that resume where they stopped, chunks and
files verified by SHA-256, only the pack's holder may upload, worker tokens are a kind of
their own, and weights download the same whether a worker uploaded them or wrote them to the
API's folder."""

from __future__ import annotations

import base64
import hashlib
import io
import os
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.api.conftest import assert_error

MiB = 1024 * 1024


def _file(tmp_path: Path, size: int = 2 * MiB + MiB // 2, name: str = "weights.npz") -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


def _digest(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def _start(api, path: Path, **fields) -> dict:
    body = {
        "kind": "weights",
        "pack_id": api.pack_id,
        "run_id": api.run_ids[0],
        "worker": "w1",
        "name": "weights.npz",
        "size_bytes": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        **fields,
    }
    return api.client.post("/v1/worker/uploads", json=body, headers=api.headers())


class Crash(Exception):
    """The worker process dying mid-upload (not a network error the client would retry)."""


def test_an_interrupted_upload_resumes_where_the_server_stands(worker_api, tmp_path) -> None:
    path = _file(tmp_path)
    data = path.read_bytes()
    sent = []

    def crash_on_second_chunk(request: httpx.Request) -> None:
        if request.method == "PATCH":
            sent.append(int(request.headers["Upload-Offset"]))
            if len(sent) == 2:
                raise Crash

    worker_api.client.event_hooks["request"] = [crash_on_second_chunk]
    with pytest.raises(Crash):
        worker_api.transport().upload(
            path, kind="weights", pack_id=worker_api.pack_id, run_id=worker_api.run_ids[0]
        )
    worker_api.client.event_hooks["request"] = []

    # A new worker process uploading the same file: the server has the first chunk only.
    again = worker_api.transport()
    state = again.upload(
        path, kind="weights", pack_id=worker_api.pack_id, run_id=worker_api.run_ids[0]
    )
    assert sent == [0, MiB]
    assert again.chunks_sent == 2  # bytes 1 MiB.. only
    assert state.state == "complete" and state.received_bytes == len(data)
    assert state.sha256 == hashlib.sha256(data).hexdigest()
    assert Path(state.path).read_bytes() == data
    assert Path(state.path).name == f"weights-{state.sha256[:16]}.npz"


def test_a_lost_answer_is_not_a_duplicate_chunk(worker_api, tmp_path) -> None:
    """The server stored a chunk but its answer never arrived: the client sends it again, the
    server says where it stands, and nothing is written twice."""
    path = _file(tmp_path)
    lost = []

    def lose_first_answer(response: httpx.Response) -> None:
        if response.request.method == "PATCH" and not lost:
            lost.append(response.request.headers["Upload-Offset"])
            raise httpx.ReadError("connection reset", request=response.request)

    worker_api.client.event_hooks["response"] = [lose_first_answer]
    state = worker_api.transport(retry_for_s=5).upload(
        path, kind="weights", pack_id=worker_api.pack_id, run_id=worker_api.run_ids[0]
    )
    assert lost == ["0"]
    assert Path(state.path).read_bytes() == path.read_bytes()


def test_a_corrupted_chunk_is_refused_and_not_counted(worker_api, tmp_path) -> None:
    path = _file(tmp_path, MiB + 10)
    data = path.read_bytes()
    upload = _start(worker_api, path).json()
    chunk = data[:MiB]
    damaged = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
    r = worker_api.client.patch(
        f"/v1/worker/uploads/{upload['id']}",
        content=damaged,
        headers={**worker_api.headers(), "Upload-Offset": "0", "Content-Digest": _digest(chunk)},
    )
    assert_error(r, 422, "Content-Digest", "damaged")
    state = worker_api.client.get(
        f"/v1/worker/uploads/{upload['id']}", headers=worker_api.headers()
    )
    assert state.json()["received_bytes"] == 0
    # Without a digest a chunk cannot be verified, so it is refused too.
    r = worker_api.client.patch(
        f"/v1/worker/uploads/{upload['id']}",
        content=chunk,
        headers={**worker_api.headers(), "Upload-Offset": "0"},
    )
    assert_error(r, 422, "Content-Digest")
    # The intact chunk is taken; one at the wrong offset is refused, naming where to go on.
    ok = {**worker_api.headers(), "Upload-Offset": "0", "Content-Digest": _digest(chunk)}
    assert (
        worker_api.client.patch(
            f"/v1/worker/uploads/{upload['id']}", content=chunk, headers=ok
        ).json()["received_bytes"]
        == MiB
    )
    r = worker_api.client.patch(f"/v1/worker/uploads/{upload['id']}", content=chunk, headers=ok)
    assert_error(r, 409, "Upload-Offset", str(MiB))


def test_a_file_that_is_not_what_was_declared_is_discarded(worker_api, tmp_path) -> None:
    path = _file(tmp_path, 1000)
    upload = _start(worker_api, path, sha256="0" * 64).json()
    data = path.read_bytes()
    r = worker_api.client.patch(
        f"/v1/worker/uploads/{upload['id']}",
        content=data,
        headers={**worker_api.headers(), "Upload-Offset": "0", "Content-Digest": _digest(data)},
    )
    assert_error(r, 422, "SHA-256", "from byte 0")
    state = worker_api.client.get(
        f"/v1/worker/uploads/{upload['id']}", headers=worker_api.headers()
    )
    assert state.json()["received_bytes"] == 0 and state.json()["state"] == "open"


def test_only_the_worker_holding_the_pack_uploads(worker_api, tmp_path) -> None:
    path = _file(tmp_path, 100)
    assert_error(_start(worker_api, path, worker="w2"), 409, "w1", "holding")
    assert_error(_start(worker_api, path, run_id=10_000), 409, "run_id")
    assert_error(_start(worker_api, path, kind="checkpoint", run_id=None), 422, "name")
    assert_error(_start(worker_api, path, name="../evil"), 422, "name")


def test_worker_tokens_and_user_tokens_do_not_mix(worker_api, tmp_path) -> None:
    from cortexrnn.shared.db import session_scope
    from cortexrnn.shared.worker_tokens import issue_worker_token, revoke_worker_tokens

    path = _file(tmp_path, 100)
    user = worker_api.headers(worker_api.tokens["root"])  # even an admin's token
    r = worker_api.client.post("/v1/worker/uploads", json={}, headers=user)
    assert_error(r, 403, "not a worker token", "cortexrnn workers token")
    assert_error(worker_api.client.get("/v1/worker/uploads/1"), 401, "missing worker token")
    # A worker token cannot act as a user.
    r = worker_api.client.get("/v1/experiments", headers=worker_api.headers())
    assert r.status_code == 401
    with session_scope() as s:
        short = issue_worker_token(s, "short-lived", days=1)
        revoke_worker_tokens(s, "short-lived")
    r = worker_api.client.post("/v1/worker/uploads", json={}, headers=worker_api.headers(short))
    assert_error(r, 401, "revoked")
    assert _start(worker_api, path).status_code == 201


def test_checkpoints_replace_each_other_and_download_verified(worker_api, tmp_path) -> None:
    from cortexrnn.worker.checkpoint_sync import runs_key_of

    t = worker_api.transport()
    first, second = _file(tmp_path, 5000, "a.pt"), _file(tmp_path, 7000, "b.pt")
    name = "checkpoint-0123456789abcdef.pt"
    old = t.upload(first, kind="checkpoint", pack_id=worker_api.pack_id, name=name, step=10)
    new = t.upload(second, kind="checkpoint", pack_id=worker_api.pack_id, name=name, step=20)
    assert not Path(old.path).exists() and Path(new.path).exists()
    info = t.checkpoint_info(worker_api.pack_id, runs_key_of(Path(name)))
    assert info is not None and (info.step, info.worker) == (20, "w1")
    got = t.download_checkpoint(info, tmp_path / "local" / name)
    assert got.step == 20 and (tmp_path / "local" / name).read_bytes() == second.read_bytes()
    assert t.checkpoint_info(worker_api.pack_id, "fedcba") is None


def test_weights_download_whether_uploaded_or_written_locally(worker_api, tmp_path) -> None:
    """The run's weights route serves a worker's upload as it serves the API host's own file."""
    from cortexrnn.services.runner.outputs import save_weights
    from cortexrnn.shared.db import session_scope
    from cortexrnn.shared.models import Artifact
    from cortexrnn.shared.settings import get_settings
    from cortexrnn.worker.persist import save_weights as save_local

    uploaded_run, local_run = worker_api.run_ids[:2]
    arrays = {"W": np.arange(9, dtype=np.float32).reshape(3, 3)}
    save_weights(tmp_path / "w.npz", arrays)
    state = worker_api.transport().upload(
        tmp_path / "w.npz", kind="weights", pack_id=worker_api.pack_id, run_id=uploaded_run
    )
    legacy_path, legacy_sha, legacy_size = save_local(get_settings(), local_run, arrays)
    with session_scope() as s:
        s.add(
            Artifact(
                run_id=uploaded_run,
                kind="weights",
                path=state.path,
                sha256=state.sha256,
                size_bytes=state.size_bytes,
            )
        )
        s.add(
            Artifact(
                run_id=local_run,
                kind="weights",
                path=str(legacy_path),
                sha256=legacy_sha,
                size_bytes=legacy_size,
            )
        )
    for rid in (uploaded_run, local_run):
        r = worker_api.client.get(
            f"/v1/runs/{rid}/weights",
            headers={"Authorization": f"Bearer {worker_api.tokens['alice']}"},
        )
        assert r.status_code == 200, r.text
        with np.load(io.BytesIO(r.content)) as z:
            assert np.array_equal(z["W"], arrays["W"])
