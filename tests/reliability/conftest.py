"""Fixtures of the reliability tests: a private Redis server and the reference weights of an
undisturbed run, computed in this process with the science code alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import _missing
from tests.reliability.harness import PrivateRedis


@pytest.fixture()
def private_redis(tmp_path: Path):
    """A Redis server for one test. Not the shared one: other deployments on the same server
    and database (parallel test runs) would consume or flush this test's messages."""
    if shutil.which("redis-server") is None:
        _missing(
            "redis-server not installed (the reliability tests start, and kill, their own Redis)"
        )
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.kill()


def reference_weights(spec_json: dict) -> dict[tuple[str, int, str], np.ndarray]:
    """Final W of every run of `spec_json`, trained here without interruption (one thread,
    no checkpoint), keyed by (condition, seed, task)."""
    import torch

    from cortexrnn.services.connectome.synthetic import synthesize_cortex
    from cortexrnn.services.runner.pack import prepare_inputs, train_pack
    from cortexrnn.services.spec import ExperimentSpec
    from cortexrnn.shared.datasets_registry import (
        DEFAULT_DATASET_NAME,
        DEFAULT_N_NEURONS,
        DEFAULT_SEED,
    )

    torch.set_num_threads(1)
    spec = ExperimentSpec.model_validate(spec_json)
    assert spec.dataset == DEFAULT_DATASET_NAME
    connectome = synthesize_cortex(DEFAULT_N_NEURONS, DEFAULT_SEED, name=DEFAULT_DATASET_NAME)
    runs = spec.expand_runs()
    _, outcomes = train_pack(
        spec,
        prepare_inputs(spec, connectome),
        runs,
        [spec.run_hash(r) for r in runs],
        n_nulls=1,
        epoch_metrics=False,
    )
    return {
        (r.condition_name, r.seed, r.task_name): o.weights["W"]
        for r, o in zip(runs, outcomes, strict=True)
    }
