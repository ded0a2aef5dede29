"""The full training loop (PopulationTrainer.run, what `train_population` calls) against a plain
autograd transcription of the paper's model, loss and Keras Adam, step by step, in float64.

The reference (tests/training/autograd_reference.py) is written from SCIENCE.md §4 and the
trainer's documented data contract, and shares nothing with the trainer but the task
generator and the initial weights.

Sensitivity: the same reference run with lr / 10, or without bias correction, leaves the
tolerance by orders of magnitude (asserted), so a trainer with either bug fails here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.priors.network_prior import NetworkPrior
from cortexrnn.services.tasks import get_task
from cortexrnn.services.training.config import TrainingConfig
from cortexrnn.services.training.trainer import PopulationTrainer
from tests.training import autograd_reference as reference

torch.set_num_threads(1)

N = 8
SEED = 11
LAM = 0.01
TASK = get_task("go_no_go", fixation=2, stimulus=4, delay=2, decision=1, sigma=0.1)
TOL = 1e-8  # absolute, on per-step cross-entropy (float64 throughout)


def _prior(fixed_order: bool = False) -> NetworkPrior:
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.normal(size=(N, N)))
    pos = rng.random((N, 3))
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    return NetworkPrior(w_init=q, distance=d / d.max(), lam=LAM, fixed_batch_order=fixed_order)


def _reference(
    init, prior: NetworkPrior, model, cfg, lr, **kw
) -> tuple[np.ndarray, np.ndarray, dict[str, torch.Tensor]]:
    """(cross-entropy per step, regulariser per step) of the transcription, and its final
    parameters."""
    t = reference.train(init, prior.distance, LAM, TASK, SEED, model, cfg, lr=lr, **kw)
    return t.rows[:, 0], t.rows[:, 2], t.final


def _train(model: ModelConfig, cfg: TrainingConfig, fixed_order: bool = False):
    prior = _prior(fixed_order)
    tr = PopulationTrainer([prior], [SEED], TASK, model, cfg, dtype=torch.float64)
    init = {k: p.detach()[0].clone() for k, p in tr.params.items()}
    assert set(init) == {"W", "U", "b", "V", "c"}
    res = tr.run()
    return prior, init, res.networks[0]


CASES = [
    pytest.param("fresh", 1.0, False, id="fresh-alpha1"),
    pytest.param("fixed", 0.6, False, id="fixed-alpha0.6"),
    pytest.param("fixed", 1.0, True, id="fixed-unshuffled"),
]


@pytest.mark.parametrize(("stream", "alpha", "fixed_order"), CASES)
def test_loss_trajectory_matches_plain_autograd_reference(
    stream: str, alpha: float, fixed_order: bool
) -> None:
    model = ModelConfig(noise_in=0.05, noise_rec=0.0, alpha=alpha)
    cfg = TrainingConfig(
        lr=2e-2,
        batch_size=16,
        train_trials=16 * 6,
        epochs=3,
        test_trials=16,
        checkpoint_every_steps=None,
        trial_stream=stream,
    )
    assert cfg.total_steps == 18
    prior, init, net = _train(model, cfg, fixed_order)
    ce, reg, final = _reference(init, prior, model, cfg, cfg.lr, fixed_order=fixed_order)

    np.testing.assert_allclose(net.step_loss, ce, rtol=0, atol=TOL)
    np.testing.assert_allclose(net.step_reg, reg, rtol=0, atol=TOL)
    for k, p in final.items():
        np.testing.assert_allclose(net.final_weights[k], p.numpy(), rtol=0, atol=1e-9, err_msg=k)
    # The trajectory actually moved (learning happened, the comparison is not trivial).
    assert ce[:3].mean() - ce[-3:].mean() > 0.05

    # Sensitivity: the tolerance is far below the effect of the bugs this test must catch.
    for wrong_lr, bc in ((cfg.lr / 10, True), (cfg.lr, False)):
        ce_bad, _, _ = _reference(
            init, prior, model, cfg, wrong_lr, bias_correction=bc, fixed_order=fixed_order
        )
        assert np.abs(ce_bad - ce).max() > 1e3 * TOL, (wrong_lr, bc)
    if stream == "fixed":  # the batch order is seen: the other order gives another trajectory
        ce_other, _, _ = _reference(init, prior, model, cfg, cfg.lr, fixed_order=not fixed_order)
        assert np.abs(ce_other - ce).max() > 1e3 * TOL
