"""Two worker hosts with nothing in common but the database, the broker and the API's URL
(separate CORTEXRNN_HOME each, so separate artifact folders and dataset caches): worker A is
killed with SIGKILL after its first checkpoint upload; worker B resumes the pack from that
checkpoint, fetched through the API, at the step A uploaded; the runs end bit-identical to an
uninterrupted run, and their weights download through the API after A's folder is gone."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import time

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from tests.integration.conftest import BIN
from tests.multihost.conftest import SPEC, reference_weights
from tests.reliability.harness import kill_group, start_lab, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

LONG_SPEC = {
    **SPEC,
    "name": "two-hosts",
    "sampling": {"strategy": "random", "n_neurons": 24, "seed": 1},
    "training": {**SPEC["training"], "epochs": 2, "train_trials": 32 * 400},
}


def _run(lab, *args: str) -> str:
    return subprocess.run(
        [BIN / "cortexrnn", *args], env=lab.env, check=True, capture_output=True, text=True
    ).stdout.strip()


def _start_host(lab, tmp_path, name: str, token: str) -> subprocess.Popen:
    home = tmp_path / name
    home.mkdir()
    env = {
        **lab.env,
        "CORTEXRNN_HOME": str(home),
        "CORTEXRNN_API_URL": lab.url,
        "CORTEXRNN_WORKER_TOKEN": token,
        "CORTEXRNN_CHECKPOINT_UPLOAD_EVERY_S": "0.5",
    }
    with open(tmp_path / f"{name}.log", "ab") as out:
        proc = subprocess.Popen(
            [BIN / "cortexrnn", "worker", "--name", name, "--queues", "cpu", "--threads", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    lab.procs.append(proc)
    return proc


@pytest.mark.usefixtures("patient_startup")
def test_a_pack_killed_on_one_host_resumes_on_another(tmp_path, postgres_url, private_redis):
    lab = start_lab(tmp_path / "api", postgres_url, private_redis.url, workers=0)
    engine = create_engine(postgres_url)
    try:
        _run(lab, "datasets", "synth", "--name", "tiny", "--neurons", "80", "--seed", "3")
        token = _run(lab, "workers", "token", "test-hosts")
        host_a = _start_host(lab, tmp_path, "host-a", token)
        with lab.client as c:
            r = c.post("/v1/experiments", json=LONG_SPEC)
            assert r.status_code == 201, r.text
            eid = r.json()["id"]

            def first_upload():
                with engine.connect() as conn:
                    return conn.execute(
                        text(
                            "SELECT c.pack_id, c.step FROM pack_checkpoints c JOIN packs p "
                            "ON p.id = c.pack_id WHERE p.state = 'running'"
                        )
                    ).first()

            pack_id, _ = wait_until(first_upload, 600, "host A's first checkpoint upload", 0.05)
            kill_group(host_a)
            time.sleep(1.0)  # a chunk in flight at the kill may still complete the upload
            with engine.connect() as conn:
                state, uploaded = conn.execute(
                    text(
                        "SELECT p.state, c.step FROM packs p JOIN pack_checkpoints c "
                        "ON c.pack_id = p.id WHERE p.id = :p"
                    ),
                    {"p": pack_id},
                ).one()
            assert state == "running", "host A finished before it could be killed"
            assert uploaded > 0

            _start_host(lab, tmp_path, "host-b", token)
            done = lab.wait(eid, timeout=900)
            assert done["status"] == "succeeded", done
            shutil.rmtree(tmp_path / "host-a")  # host A is gone, with its folder
            runs = c.get(f"/v1/experiments/{eid}/runs").json()
            weights = {}
            for run in runs:
                r = c.get(f"/v1/runs/{run['id']}/weights")
                assert r.status_code == 200, r.text
                with np.load(io.BytesIO(r.content), allow_pickle=False) as z:
                    weights[(run["condition"], run["seed"])] = z["W"]
    finally:
        lab.stop()
        engine.dispose()

    log_b = (tmp_path / "host-b.log").read_text(errors="replace")
    fetched = re.search(
        rf"pack {pack_id}: fetched its checkpoint at step (\d+) \(uploaded by host-a\)", log_b
    )
    resumed = re.search(rf"pack {pack_id}: resumed from its checkpoint at step (\d+)", log_b)
    assert fetched and resumed, log_b[-3000:]
    assert int(fetched[1]) == int(resumed[1]) == uploaded
    # B read the dataset from its own cache, filled through the API, not from a shared store.
    assert list((tmp_path / "host-b" / "dataset-cache" / "datasets").iterdir())
    assert not (tmp_path / "host-b" / "store" / "datasets").exists()
    assert not list((tmp_path / "host-b" / "artifacts").glob("runs/*/weights.npz"))

    import torch

    torch.set_num_threads(1)  # as the workers: bit-identical needs the same summation order
    ref = reference_weights(LONG_SPEC)
    assert weights.keys() == ref.keys()
    for key, w in ref.items():
        assert np.array_equal(weights[key], w), key
    print(f"\nhost A killed after uploading step {uploaded}; host B resumed there")
