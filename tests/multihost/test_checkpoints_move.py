"""A pack stopped on one host (drained, as a Slurm pilot is before its time limit) goes back
to the queue with its checkpoint uploaded; a worker on another host, with its own artifacts
folder, resumes it from that checkpoint and ends bit-identical to an uninterrupted run. In
process, with the API in a test client (tests/multihost/test_two_hosts.py does it with real
processes and SIGKILL). With the API's artifact store on its disk, then in an S3 bucket."""

from __future__ import annotations

import io
import logging
import shutil

import numpy as np
import torch
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.conftest import seeded_app
from tests.multihost.conftest import S3_BUCKET, reference_weights, submit_and_schedule

DRAIN_AT = 15  # checkpoints every 10 steps: the drain writes one at 15 itself


def test_a_drained_pack_resumes_on_another_host_bit_identically(
    artifact_store, cortexrnn_home, tmp_path, monkeypatch, caplog
) -> None:
    from cortexrnn.shared.artifact_models import PackCheckpoint
    from cortexrnn.shared.db import session_scope
    from cortexrnn.shared.models import Artifact, Pack, Run
    from cortexrnn.shared.remote_settings import RemoteSettings
    from cortexrnn.shared.settings import get_settings
    from cortexrnn.shared.worker_tokens import issue_worker_token
    from cortexrnn.worker import drain, execution, remote
    from cortexrnn.worker.artifact_client import ApiTransport
    from cortexrnn.worker.progress import PackProgress

    torch.set_num_threads(1)  # the reference below trains with the same summation order
    app, tokens = seeded_app()
    pack_id = submit_and_schedule()
    with session_scope() as s:
        token = issue_worker_token(s, "hosts")
    sent: list[tuple[int, str]] = []
    monkeypatch.setattr(execution, "send_pack", lambda p, q: sent.append((p, q)))
    on_step = PackProgress.on_step

    def drain_at(self, step, total, rows):
        on_step(self, step, total, rows)
        if step == DRAIN_AT and self.worker == "host-a":
            drain.request("test")

    monkeypatch.setattr(PackProgress, "on_step", drain_at)
    caplog.set_level(logging.INFO, logger="cortexrnn.worker")

    def host(name: str):
        home = tmp_path / name
        return get_settings().model_copy(
            update={
                "home": home,
                "artifacts_dir": home / "artifacts",
                "api_url": "http://testserver",
                "worker_token": token,
                "final_nulls": 20,
            }
        )

    remote_settings = RemoteSettings(artifact_transport="auto", checkpoint_upload_every_s=3600)
    try:
        with TestClient(app) as client:
            monkeypatch.setattr(
                remote,
                "_transport",
                lambda url, tok, worker: ApiTransport(url, tok, worker, client=client),
            )
            a = execution.execute_pack(
                pack_id, "host-a", settings=host("a"), remote_settings=remote_settings
            )
            assert a == "drained"
            with session_scope() as s:
                pack = s.get_one(Pack, pack_id)
                assert (pack.state, pack.worker, pack.attempt) == (
                    "queued",
                    None,
                    0,
                )  # no attempt used
                assert {r.state for r in s.scalars(select(Run))} == {"queued"}
                ckpt = s.scalar(select(PackCheckpoint))
                assert (ckpt.pack_id, ckpt.step, ckpt.worker) == (pack_id, DRAIN_AT, "host-a")
            assert sent == [(pack_id, "cpu")]
            shutil.rmtree(tmp_path / "a")  # host A is gone, with its folder
            if artifact_store is not None:  # the checkpoint is in the bucket, not on the API host
                shutil.rmtree(get_settings().artifacts_dir)

            drain.reset()
            b = execution.execute_pack(
                pack_id, "host-b", settings=host("b"), remote_settings=remote_settings
            )
            assert b == "done"
            assert (
                f"pack {pack_id}: fetched its checkpoint at step {DRAIN_AT} (uploaded by host-a)"
                in caplog.text
            )
            assert f"pack {pack_id}: resumed from its checkpoint at step {DRAIN_AT}" in caplog.text
            with session_scope() as s:
                runs = list(s.scalars(select(Run).order_by(Run.id)))
            assert {r.state for r in runs} == {"succeeded"}
            if artifact_store is not None:
                shutil.rmtree(get_settings().artifacts_dir)
                with session_scope() as s:
                    stored = {
                        a.path.removeprefix(f"s3://{S3_BUCKET}/"): a.sha256
                        for a in s.scalars(select(Artifact).where(Artifact.kind == "weights"))
                    }
                assert len(stored) == len(runs)
                assert stored.items() <= artifact_store.objects().items()
            auth = {"Authorization": f"Bearer {tokens['alice']}"}
            got = {}
            for r in runs:
                response = client.get(f"/v1/runs/{r.id}/weights", headers=auth)
                assert response.status_code == 200, response.text
                with np.load(io.BytesIO(response.content)) as z:
                    got[(r.condition, r.seed)] = z["W"]
    finally:
        drain.reset()
    # Host B kept nothing of the weights: they live in the API's store.
    assert not list((tmp_path / "b" / "artifacts").glob("runs/*/weights.npz"))
    ref = reference_weights()
    assert got.keys() == ref.keys()
    for key, w in ref.items():
        assert np.array_equal(got[key], w), key
