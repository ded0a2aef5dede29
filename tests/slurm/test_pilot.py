"""Pilot jobs on a real single-node Slurm: `cortexrnn slurm submit` starts a pilot whose worker
trains an experiment's pack; Slurm's drain signal (what `--signal=B:TERM@<drain>` sends
before the time limit, here sent at once with `scancel --batch --signal=TERM`) makes it upload
its checkpoint, give the pack back and end well before its limit; a second pilot resumes the
pack from that checkpoint, finishes it and ends once idle."""

from __future__ import annotations

import json
import subprocess
import time

import pytest
from sqlalchemy import create_engine, text

from tests.integration.conftest import BIN
from tests.multihost.test_two_hosts import LONG_SPEC
from tests.reliability.harness import start_lab, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

IDLE_EXIT_S = 4


def _submit_pilot(env: dict[str, str]) -> str:
    done = subprocess.run(
        [BIN / "cortexrnn", "slurm", "submit", "--queue", "cpu", "--time", "10"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.usefixtures("patient_startup")
def test_a_pilot_drains_and_the_next_one_resumes(
    tmp_path, postgres_url, private_redis, slurm_cluster
) -> None:
    lab = start_lab(tmp_path / "api", postgres_url, private_redis.url, workers=0)
    engine = create_engine(postgres_url)
    logs = tmp_path / "slurm-logs"
    submitted: list[str] = []
    try:
        run = dict(env=lab.env, check=True, capture_output=True, text=True)
        synth = ["datasets", "synth", "--name", "tiny", "--neurons", "80", "--seed", "3"]
        subprocess.run([BIN / "cortexrnn", *synth], **run)
        token = subprocess.run([BIN / "cortexrnn", "workers", "token", "slurm"], **run).stdout
        env = {
            **lab.env,
            **slurm_cluster.env,
            "CORTEXRNN_HOME": str(tmp_path / "node"),  # the GPU node shares nothing with the API
            "CORTEXRNN_API_URL": lab.url,
            "CORTEXRNN_WORKER_TOKEN": token.strip(),
            "CORTEXRNN_CHECKPOINT_UPLOAD_EVERY_S": "1",
            "CORTEXRNN_SLURM_QUEUES": json.dumps({"cpu": {"cpus": 1, "mem": "1G"}}),
            "CORTEXRNN_SLURM_IDLE_EXIT_S": str(IDLE_EXIT_S),
            "CORTEXRNN_SLURM_LOG_DIR": str(logs),
        }
        with lab.client as c:
            eid = c.post("/v1/experiments", json=LONG_SPEC).json()["id"]
        first = _submit_pilot(env)
        submitted.append(first)
        name = f"slurm-{first}-0@{slurm_cluster.node}"

        def uploaded_by_pilot():
            with engine.connect() as conn:
                return conn.execute(
                    text(
                        "SELECT c.pack_id FROM pack_checkpoints c JOIN packs p ON p.id = c.pack_id"
                        " WHERE p.worker = :w AND p.state = 'running'"
                    ),
                    {"w": name},
                ).scalar()

        pack_id = wait_until(uploaded_by_pilot, 600, "the pilot's first checkpoint upload", 0.2)
        signalled = time.monotonic()
        slurm_cluster.run("scancel", "--batch", "--signal=TERM", first)
        wait_until(
            lambda: slurm_cluster.job_state(first) in ("COMPLETED", "FAILED", "CANCELLED", ""),
            90,
            "the first pilot to end",
        )
        drain_s = time.monotonic() - signalled
        assert slurm_cluster.job_state(first) == "COMPLETED", slurm_cluster.logs()
        with engine.connect() as conn:
            state, attempt, step = conn.execute(
                text(
                    "SELECT p.state, p.attempt, c.step FROM packs p JOIN pack_checkpoints c"
                    " ON c.pack_id = p.id WHERE p.id = :p"
                ),
                {"p": pack_id},
            ).one()
        assert state in ("queued", "running") and attempt == 0 and step > 0  # a drain is no failure

        second = _submit_pilot(env)
        submitted.append(second)
        assert lab.wait(eid, timeout=900)["status"] == "succeeded"
        wait_until(lambda: slurm_cluster.job_state(second) == "COMPLETED", 60, "the idle pilot")
    finally:
        lab.stop()
        engine.dispose()
        for job in submitted:  # nothing of this test may stay on the cluster
            slurm_cluster.run("scancel", job, check=False)

    out_first = (logs / f"cortexrnn-cpu-{first}.out").read_text(errors="replace")
    out_second = (logs / f"cortexrnn-cpu-{second}.out").read_text(errors="replace")
    assert "draining" in out_first and f"pack {pack_id}: given back" in out_first, out_first[-3000:]
    assert f"pack {pack_id}: resumed from its checkpoint at step {step}" in out_second, out_second[
        -3000:
    ]
    assert f"idle for {IDLE_EXIT_S} s" in out_second
    print(f"\npilot drained in {drain_s:.1f} s after its TERM (checkpoint at step {step})")
