"""A plain autograd transcription of one network of the paper's model, loss and Keras Adam, in
float64, written from SCIENCE.md §4 and the trainer's documented data contract. It shares
nothing with the trainer but the task generator and the initial weights; the loop tests
(test_training_reference.py, test_training_contracts.py) compare the trainer with it.

    x~_t = x_t + noise_in xi_t                (xi from (seed, "noise", step), first draw)
    h_t  = (1 - alpha) h_{t-1} + alpha relu(W h_{t-1} + U x~_t + b [+ noise_rec eta_t])
    loss = mean_b CE(softmax(V h_T + c), y) + lam * sum |W| * D
    Adam (Keras): m, v; w -= lr sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + eps)

Training batch k of a "fresh" stream holds the task trials from (seed, "train", k); epoch e
of a "fixed" stream visits its batches in the order randperm(steps_per_epoch) drawn from
(seed, "order", e), or in the same order every epoch where the released code's fixed order
is asked for. Held-out trials come in chunks of batch_size from (seed, "test", chunk).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.tasks import batch_generator
from cortexrnn.services.tasks.base import Task
from cortexrnn.services.training.config import TrainingConfig


@dataclass
class Trajectory:
    """Per step (cross-entropy, accuracy, regulariser, gradient norm before clipping), the
    held-out (loss, accuracy) after each step when asked for, and the final parameters."""

    rows: np.ndarray
    evals: dict[int, tuple[float, float]]
    final: dict[str, torch.Tensor]


def logits(
    prm: dict[str, torch.Tensor], x: torch.Tensor, alpha: float, rec: torch.Tensor | None = None
) -> torch.Tensor:
    h = torch.zeros(x.shape[1], prm["W"].shape[0], dtype=torch.float64)
    for t in range(x.shape[0]):
        pre = h @ prm["W"].T + x[t] @ prm["U"].T + prm["b"]
        if rec is not None:
            pre = pre + rec[t]
        h = (1 - alpha) * h + alpha * torch.relu(pre)
    return h @ prm["V"].T + prm["c"]


def heldout(
    prm: dict[str, torch.Tensor], task: Task, seed: int, cfg: TrainingConfig, alpha: float
) -> tuple[float, float]:
    """Held-out cross-entropy and accuracy over test_trials, the last chunk short; no noise."""
    ce_sum, correct, n = 0.0, 0.0, 0
    for ci, start in enumerate(range(0, cfg.test_trials, cfg.batch_size)):
        size = min(cfg.batch_size, cfg.test_trials - start)
        b = task.generate(size, batch_generator(seed, ci, "test"))
        with torch.no_grad():
            lg = logits(prm, b.inputs.double(), alpha)
        ce_sum += float(F.cross_entropy(lg, b.labels, reduction="sum"))
        correct += float((lg.argmax(-1) == b.labels).sum())
        n += size
    assert n == cfg.test_trials
    return ce_sum / n, correct / n


def train(
    init: dict[str, torch.Tensor],
    distance: np.ndarray,
    lam: float,
    task: Task,
    seed: int,
    model: ModelConfig,
    cfg: TrainingConfig,
    *,
    lr: float | None = None,
    bias_correction: bool = True,
    fixed_order: bool = False,
    clip: float | None = None,
    evaluate: bool = False,
) -> Trajectory:
    """One network trained from `init`; `lr` and `bias_correction` let a test show how far a
    wrong optimiser lands, `clip` applies clip_grad_norm_ over all of its parameters."""
    lr = cfg.lr if lr is None else lr
    prm = {k: v.detach().clone().double().requires_grad_(True) for k, v in init.items()}
    m = {k: torch.zeros_like(v) for k, v in prm.items()}
    v2 = {k: torch.zeros_like(v) for k, v in prm.items()}
    dist = torch.tensor(distance, dtype=torch.float64)
    b1, b2, eps = cfg.adam_beta1, cfg.adam_beta2, cfg.adam_eps
    spe = cfg.steps_per_epoch
    rows, evals = [], {}
    for step in range(cfg.total_steps):
        if cfg.trial_stream == "fresh":
            idx = step
        elif fixed_order:  # the released code: the same batch order every epoch
            idx = step % spe
        else:
            epoch, j = divmod(step, spe)
            idx = torch.randperm(spe, generator=batch_generator(seed, epoch, "order")).tolist()[j]
        batch = task.generate(cfg.batch_size, batch_generator(seed, idx, "train"))
        x = batch.inputs.double()
        g = batch_generator(seed, step, "noise")
        t, b, n_in = x.shape
        if model.noise_in > 0:
            x = x + model.noise_in * torch.randn((t, b, n_in), generator=g, dtype=torch.float64)
        rec = None
        if model.noise_rec > 0:
            n = prm["W"].shape[0]
            rec = model.noise_rec * torch.randn((t, b, n), generator=g, dtype=torch.float64)
        lg = logits(prm, x, model.alpha, rec)
        ce = F.cross_entropy(lg, batch.labels)
        acc = float((lg.argmax(-1) == batch.labels).double().mean())
        reg = lam * (prm["W"].abs() * dist).sum()
        (ce + reg).backward()
        norm = float(torch.sqrt(sum((p.grad**2).sum() for p in prm.values())))
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(list(prm.values()), clip)
        rows.append((float(ce.detach()), acc, float(reg.detach()), norm))
        tt = step + 1
        scale = lr * math.sqrt(1 - b2**tt) / (1 - b1**tt) if bias_correction else lr
        with torch.no_grad():
            for k, p in prm.items():
                m[k] = b1 * m[k] + (1 - b1) * p.grad
                v2[k] = b2 * v2[k] + (1 - b2) * p.grad * p.grad
                p -= scale * m[k] / (v2[k].sqrt() + eps)
                p.grad = None
        if evaluate:
            evals[step + 1] = heldout(prm, task, seed, cfg, model.alpha)
    return Trajectory(np.array(rows), evals, {k: p.detach() for k, p in prm.items()})
