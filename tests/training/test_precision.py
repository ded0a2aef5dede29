"""training.precision: bfloat16 products against float64 references, float32 elsewhere, and
tf32 refused where there is no CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cortexrnn.services.model.bptt import recurrent_scan
from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.priors.network_prior import NetworkPrior
from cortexrnn.services.tasks import get_task
from cortexrnn.services.training.config import TrainingConfig
from cortexrnn.services.training.trainer import train_population

torch.set_num_threads(1)


def _scan_case(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    p, b, n, t = 3, 16, 64, 20
    drive = torch.randn(t, p, b, n, generator=g) * 0.5
    q = torch.linalg.qr(torch.randn(p, n, n, generator=g)).Q * 0.9
    return drive, q


def _grads(drive: torch.Tensor, w: torch.Tensor, low: torch.dtype | None, alpha: float):
    d = drive.clone().requires_grad_(True)
    ww = w.clone().requires_grad_(True)
    h = recurrent_scan(d, ww, alpha, "relu", low)
    (h * torch.linspace(-1, 1, h.shape[-1], dtype=h.dtype)).sum().backward()
    return h.detach(), d.grad, ww.grad


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_bfloat16_products_stay_close_to_a_float64_scan(alpha: float) -> None:
    drive, w = _scan_case()
    ref = _grads(drive.double(), w.double(), None, alpha)
    fp32 = _grads(drive, w, None, alpha)
    bf16 = _grads(drive, w, torch.bfloat16, alpha)
    # Relative Frobenius errors: a max-entry error would be dominated by the few ReLU gates a
    # rounding flips, whose gradient paths then differ entirely.
    bounds = {"h": 1e-2, "d_drive": 0.08, "d_w": 0.08}
    for name, r, a, b in zip(bounds, ref, fp32, bf16, strict=True):
        err32 = float((a.double() - r).norm() / r.norm())
        err16 = float((b.double() - r).norm() / r.norm())
        assert b.dtype == torch.float32, name  # results and accumulators stay float32
        assert err32 < 1e-5, (name, err32)
        # bfloat16 keeps 8 significant bits (relative rounding 2^-9 per product).
        assert err16 < bounds[name], (name, err16)
        assert err16 > 10 * err32, name  # the products really were rounded


def _train(precision: str):
    n = 24
    rng = np.random.default_rng(1)
    priors = [
        NetworkPrior(w_init=np.linalg.qr(rng.normal(size=(n, n)))[0], lam=0.01) for _ in range(2)
    ]
    task = get_task("go_no_go", fixation=2, stimulus=5, delay=3, decision=2)
    cfg = TrainingConfig(
        lr=1e-2,
        batch_size=32,
        train_trials=32 * 10,
        epochs=4,
        test_trials=64,
        checkpoint_every_steps=None,
        precision=precision,
    )
    return train_population(priors, [3, 4], task, ModelConfig(noise_in=0.05), cfg)


def test_bf16_mixed_training_follows_the_float32_trajectory_and_repeats_exactly() -> None:
    fp32 = _train("fp32")
    bf16 = _train("bf16-mixed")
    again = _train("bf16-mixed")
    for a, b, c in zip(fp32.networks, bf16.networks, again.networks, strict=True):
        assert b.final_weights["W"].dtype == np.float32  # float32 master weights
        assert np.array_equal(b.step_loss, c.step_loss)  # deterministic on one device
        assert not np.array_equal(a.step_loss, b.step_loss)  # a different computation...
        # ... that learns the same thing: per-step losses within a few hundredths.
        assert np.abs(a.step_loss - b.step_loss).max() < 0.05
        assert a.step_loss[:5].mean() - a.step_loss[-5:].mean() > 0.1


def test_tf32_needs_cuda() -> None:
    with pytest.raises(ValueError, match="tf32 needs a CUDA device"):
        _train("tf32")


def test_precision_is_a_validated_spec_field() -> None:
    with pytest.raises(ValueError, match="precision"):
        TrainingConfig(precision="fp16")
