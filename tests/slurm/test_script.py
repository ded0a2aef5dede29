"""The pilots' sbatch script: resources from the queue's site settings, the drain signal
before the time limit, one job array task per GPU or MIG slice, the pilot exec'd so that the
batch signal reaches it."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from cortexrnn.cli.main import app
from cortexrnn.cli.slurm import SlurmSettings, render_script


def test_a_gpu_queue_asks_for_one_gpu_per_pilot(cortexrnn_home) -> None:
    text = render_script(SlurmSettings(), "gpu", 4)
    lines = text.splitlines()
    assert lines[0] == "#!/bin/bash"
    for option in (
        "--gres=gpu:1",
        "--array=1-4",
        "--signal=B:TERM@180",
        "--time=04:00:00",
        "--cpus-per-task=8",
        "--no-requeue",
    ):
        assert f"#SBATCH {option}" in lines, option
    assert lines[-1].startswith("exec ") and "slurm pilot --queue gpu --device cuda" in lines[-1]


def test_site_settings_shape_the_job(cortexrnn_home, monkeypatch, tmp_path) -> None:
    queues = {"a100-mig": {"gres": "gpu:1g.10gb:1", "cpus": 2, "mem": "10G", "device": "cuda"}}
    monkeypatch.setenv("CORTEXRNN_SLURM_QUEUES", json.dumps(queues))
    monkeypatch.setenv("CORTEXRNN_SLURM_ACCOUNT", "neuro")
    monkeypatch.setenv("CORTEXRNN_SLURM_DRAIN_S", "300")
    monkeypatch.setenv("CORTEXRNN_SLURM_ENV_FILE", str(tmp_path / "cortexrnn.env"))
    monkeypatch.setenv("CORTEXRNN_SLURM_SETUP", "module load cuda/12")
    result = CliRunner().invoke(
        app, ["slurm", "script", "--queue", "a100-mig", "--time", "1:00:00"]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    for line in (
        "#SBATCH --gres=gpu:1g.10gb:1",
        "#SBATCH --account=neuro",
        "#SBATCH --signal=B:TERM@300",
        "#SBATCH --time=1:00:00",
        "module load cuda/12",
        f"set -a; source {tmp_path / 'cortexrnn.env'}; set +a",
    ):
        assert line in out.splitlines(), line
    assert "--array" not in out
    bad = CliRunner().invoke(app, ["slurm", "script", "--queue", "nope"])
    assert bad.exit_code != 0 and "a100-mig" in bad.output
