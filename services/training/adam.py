"""Adam for stacked per-network parameters [P, ...], with a per-network step count and mask.

Why not torch.optim.Adam: a frozen network (diverged, early-stopped) must keep its weights
*and* its moments exactly, and its bias correction must not advance; torch's Adam would still
move it by momentum. Every operation here is elementwise or per network, so a network's update
depends on its own gradients only.

The update is Keras' (the paper's optimiser):
    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
    w <- w - lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

import torch
from torch import Tensor


class AdamState(TypedDict):
    """`MaskedAdam.state_dict()`: the moments and step counts, and the hyperparameters."""

    m: dict[str, Tensor]
    v: dict[str, Tensor]
    t: Tensor
    hyper: dict[str, float]


class MaskedAdam:
    def __init__(
        self,
        params: Mapping[str, Tensor],
        lr: float = 1e-3,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-7,
    ) -> None:
        if not params:
            raise ValueError("MaskedAdam needs at least one parameter")
        self.params = dict(params)
        first = next(iter(self.params.values()))
        self.n_networks = int(first.shape[0])
        for name, p in self.params.items():
            if p.shape[0] != self.n_networks:
                raise ValueError(
                    f"parameter {name!r} has leading size {p.shape[0]}, expected {self.n_networks} "
                    "networks"
                )
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m = {
            k: torch.zeros_like(p, memory_format=torch.contiguous_format)
            for k, p in self.params.items()
        }
        self.v = {
            k: torch.zeros_like(p, memory_format=torch.contiguous_format)
            for k, p in self.params.items()
        }
        self.t = torch.zeros(self.n_networks, dtype=torch.int64, device=first.device)

    def step(self, active: Tensor) -> None:
        """One update for the networks where `active` ([P] bool) is True; the rest stay
        untouched."""
        # A block, not the decorator: mutmut mutates only undecorated functions.
        with torch.no_grad():
            t = self.t + active.to(torch.int64)
            tf = t.to(torch.float64).clamp_min(1.0)
            step_size = self.lr * torch.sqrt(1.0 - self.beta2**tf) / (1.0 - self.beta1**tf)
            for name, p in self.params.items():
                g = p.grad
                if g is None:
                    continue
                shape = (-1,) + (1,) * (p.dim() - 1)
                mask = active.view(shape)
                lr_p = step_size.to(p.dtype).view(shape)
                m_new = torch.lerp(self.m[name], g, 1.0 - self.beta1)
                v_new = torch.lerp(self.v[name], g * g, 1.0 - self.beta2)
                upd = m_new / (v_new.sqrt() + self.eps)
                self.m[name] = torch.where(mask, m_new, self.m[name])
                self.v[name] = torch.where(mask, v_new, self.v[name])
                p.copy_(torch.where(mask, p - lr_p * upd, p))
            self.t = t

    def state_dict(self) -> AdamState:
        return {
            "m": dict(self.m),
            "v": dict(self.v),
            "t": self.t,
            "hyper": {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps},
        }

    def load_state_dict(self, state: Mapping[str, object]) -> None:
        m, v = state["m"], state["v"]
        assert isinstance(m, dict) and isinstance(v, dict)
        for name, p in self.params.items():
            if name not in m or m[name].shape != p.shape:
                raise ValueError(f"optimiser state for {name!r} is missing or has the wrong shape")
            self.m[name] = m[name].to(device=p.device, dtype=p.dtype)
            self.v[name] = v[name].to(device=p.device, dtype=p.dtype)
        t = state["t"]
        assert isinstance(t, Tensor)
        self.t = t.to(device=self.t.device)
