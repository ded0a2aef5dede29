"""The CUDA path, where a GPU is present (skipped elsewhere, saying so): each precision trains
and repeats exactly on the device, and a worker registers the device's free memory, by which
the scheduler sizes its packs. A resume on the device is bit-identical: the CPU test's cuda
case (tests/training/test_training_trainer.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cortexrnn.services.training.trainer import train_population
from tests.training.test_training_trainer import MODEL, TASK, _cfg, _priors

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device on this machine"
)


def _weights(res) -> list[np.ndarray]:
    return [n.final_weights["W"] for n in res.networks]


@pytest.mark.parametrize("precision", ["fp32", "tf32", "bf16-mixed"])
def test_each_precision_trains_on_the_device_and_repeats_exactly(precision: str) -> None:
    pr = _priors(3)
    cfg = _cfg(epochs=2, precision=precision)
    cpu = train_population(pr, [1, 2, 3], TASK, MODEL, _cfg(epochs=2))
    a = train_population(pr, [1, 2, 3], TASK, MODEL, cfg, device="cuda")
    b = train_population(pr, [1, 2, 3], TASK, MODEL, cfg, device="cuda")
    for x, y, c in zip(a.networks, b.networks, cpu.networks, strict=True):
        assert np.array_equal(x.step_loss, y.step_loss, equal_nan=True)
        # The same problem learned alike: per-step losses close to the CPU's float32 ones.
        assert np.nanmax(np.abs(x.step_loss - c.step_loss)) < 0.05
    for w, v in zip(_weights(a), _weights(b), strict=True):
        assert w.dtype == np.float32 and np.array_equal(w, v)


def test_a_cuda_worker_registers_the_free_device_memory_and_packs_fit_it(cortexrnn_home) -> None:
    from sqlalchemy import select

    from cortexrnn.shared.db import session_scope
    from cortexrnn.shared.migrate import upgrade
    from cortexrnn.shared.models import WorkerInfo
    from cortexrnn.shared.routing import QueueCapacity, pack_size
    from cortexrnn.worker.runtime import register_worker

    upgrade()
    free, total = torch.cuda.mem_get_info(0)
    register_worker("gpu@h", "cuda:0", ["gpu"], 2)
    with session_scope() as s:
        (row,) = s.scalars(select(WorkerInfo))
        per_slot = row.memory_mb
    assert per_slot is not None
    # Free memory (what other processes left), shared by the two slots.
    assert per_slot <= total / 2**20 / 2 and per_slot >= 0.5 * free / 2**20 / 2
    cap = QueueCapacity("gpu", slots=2, kinds={"cuda"}, memory_mb=per_slot)

    class Run:  # the two estimate columns pack_size reads
        memory_mb, network_mb = 600.0, 40.0

    n = pack_size([Run()], cap, 10_000)
    assert 600.0 + (n - 1) * 40.0 <= 0.8 * per_slot < 600.0 + n * 40.0
