"""P independent leaky rate RNNs evaluated together, one batched matmul per time step.

Per network p (matrices (post, pre), torch's `weight_hh` convention):

    x~_t = x_t + noise_in * xi_t                      (training only)
    h_t  = (1 - alpha) h_{t-1} + alpha f(W_p h_{t-1} + U_p x~_t + b_p + noise_rec * eta_t)
    y    = softmax(V_p h_T + c_p)                     (read out at the last step)

with h_0 = 0; alpha = 1 is Keras `SimpleRNN`. Recurrent noise enters the pre-activation.
The noise samples are passed in (standard normal, drawn by the trainer from each network's
own counter-based generator) so the module itself holds no random state.

Input and read-out kernels start as Keras defaults: glorot_uniform, zero biases, drawn from a
generator seeded per network.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from cortexrnn.services.model.bptt import recurrent_scan
from cortexrnn.services.model.config import ModelConfig

_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}


def glorot_uniform(
    fan_in: int, fan_out: int, shape: tuple[int, ...], generator: torch.Generator
) -> Tensor:
    """Keras glorot_uniform: U(-l, l), l = sqrt(6 / (fan_in + fan_out)); float64 on the
    generator's device."""
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    u = torch.rand(shape, generator=generator, dtype=torch.float64, device=generator.device)
    return (2.0 * u - 1.0) * limit


class PopulationRNN(nn.Module):
    """Weights: W [P, N, N], U [P, N, n_in], b [P, N], V [P, n_out, N], c [P, n_out]."""

    def __init__(
        self,
        w_init: Tensor,
        n_inputs: int,
        n_outputs: int,
        init_generators: list[torch.Generator],
        config: ModelConfig | None = None,
        dtype: torch.dtype = torch.float32,
        scan: Literal["bptt", "autograd"] = "bptt",
        product_dtype: torch.dtype | None = None,
    ) -> None:
        """`product_dtype` (e.g. torch.bfloat16): the dtype of the recurrent products while
        training (see `bptt`); evaluation without gradients stays in `dtype`."""
        super().__init__()
        self.product_dtype = product_dtype
        if scan not in ("bptt", "autograd"):
            raise ValueError(
                f"unknown scan {scan!r}: use 'bptt' (hand-written backward) or 'autograd'"
            )
        self.scan = scan
        if w_init.dim() != 3 or w_init.shape[1] != w_init.shape[2]:
            raise ValueError(f"w_init must be [P, N, N], got shape {tuple(w_init.shape)}")
        p, n, _ = w_init.shape
        if len(init_generators) != p:
            raise ValueError(
                f"need one init generator per network: {len(init_generators)} for {p} networks"
            )
        if n_inputs < 1 or n_outputs < 2:
            raise ValueError(f"need n_inputs >= 1 and n_outputs >= 2, got {n_inputs}, {n_outputs}")
        self.config = config or ModelConfig()
        if self.config.activation not in _ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.config.activation!r}: use one of {sorted(_ACTIVATIONS)}"
            )
        device = w_init.device
        u, v = [], []
        for g in init_generators:
            u.append(glorot_uniform(n_inputs, n, (n, n_inputs), g))
            v.append(glorot_uniform(n, n_outputs, (n_outputs, n), g))
        self.W = nn.Parameter(w_init.to(dtype=dtype).clone())
        self.U = nn.Parameter(torch.stack(u).to(device=device, dtype=dtype))
        self.b = nn.Parameter(
            torch.zeros(p, n, device=device, dtype=dtype), requires_grad=self.config.bias
        )
        self.V = nn.Parameter(torch.stack(v).to(device=device, dtype=dtype))
        # `bias` is the recurrent layer's; the Keras Dense read-out always has one.
        self.c = nn.Parameter(torch.zeros(p, n_outputs, device=device, dtype=dtype))

    @property
    def n_networks(self) -> int:
        return int(self.W.shape[0])

    @property
    def n_units(self) -> int:
        return int(self.W.shape[1])

    def named_trainables(self) -> dict[str, nn.Parameter]:
        return {k: p for k, p in self.named_parameters() if p.requires_grad}

    def forward(
        self,
        x: Tensor,
        noise_in: Tensor | None = None,
        noise_rec: Tensor | None = None,
        index: Tensor | None = None,
    ) -> Tensor:
        """x: [T, P, B, n_in]; noise_*: standard normal, [T, P, B, n_in] / [T, P, B, N].
        -> logits [P, B, n_out]. `index` (long, [k]): evaluate only these networks (x and the
        noise then hold k networks, in that order); the others cost nothing and get no
        gradient."""

        def sel(t: Tensor) -> Tensor:
            return t if index is None else t.index_select(0, index)

        p = self.n_networks if index is None else int(index.numel())
        if x.dim() != 4 or x.shape[1] != p or x.shape[3] != self.U.shape[2]:
            raise ValueError(
                f"inputs must be [T, P={p}, B, n_in={self.U.shape[2]}], got {tuple(x.shape)}"
            )
        cfg = self.config
        if noise_in is not None and cfg.noise_in > 0:
            x = x + cfg.noise_in * noise_in
        # Input drive for every step at once: one big matmul instead of T small ones.
        drive = torch.matmul(x, sel(self.U).transpose(1, 2))  # [T, P, B, N]
        if cfg.bias:
            drive.add_(
                sel(self.b)[:, None, :]
            )  # in place: matmul's backward does not need its output
        if noise_rec is not None and cfg.noise_rec > 0:
            drive = drive + cfg.noise_rec * noise_rec
        w = sel(self.W)
        if self.scan == "bptt" and torch.is_grad_enabled():
            h = recurrent_scan(drive, w, cfg.alpha, cfg.activation, self.product_dtype)
        else:
            h = self._autograd_scan(drive, w)
        return torch.baddbmm(sel(self.c)[:, None, :], h, sel(self.V).transpose(1, 2))

    def _autograd_scan(self, drive: Tensor, w: Tensor) -> Tensor:
        """The recurrence as plain torch ops (the reference for the hand-written BPTT;
        inference)."""
        f = _ACTIVATIONS[self.config.activation]
        alpha = self.config.alpha
        wt = w.transpose(1, 2)
        # unbind, not x[t]: indexing inside an autograd loop makes the backward O(T^2).
        steps = drive.unbind(0)
        h = f(steps[0]) if alpha == 1.0 else alpha * f(steps[0])
        for d in steps[1:]:
            r = f(torch.baddbmm(d, h, wt))
            h = r if alpha == 1.0 else torch.lerp(h, r, alpha)
        return h


def per_network_ce(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """Mean cross-entropy and accuracy per network: logits [P, B, K], labels [P, B]
    -> ([P], [P])."""
    p, b, k = logits.shape
    ce = F.cross_entropy(logits.reshape(p * b, k), labels.reshape(p * b), reduction="none").view(
        p, b
    )
    acc = (logits.detach().argmax(dim=-1) == labels).to(logits.dtype).mean(dim=1)
    return ce.mean(dim=1), acc
