"""Hand-written backpropagation through time for the population recurrence.

    r_t = f(W h_{t-1} + d_t),  h_t = (1 - a) h_{t-1} + a r_t,  h_{-1} = 0,  returns h_{T-1}

for a pack: d [T, P, B, N], W [P, N, N] (post, pre). Why not plain autograd: at N = 312,
P = 22 its per-step graph spent more time in bookkeeping (stacking the per-step gradients of
the unbound inputs, accumulating the weight gradient through separate adds, allocating every
intermediate) than in the matmuls. Here the forward writes the activations into one buffer,
and the backward reuses them (f' from the activation itself: relu' = [r > 0],
tanh' = 1 - r^2), writing the input gradient into one buffer and accumulating the weight
gradient in place. Every operation is per network (batched matmuls over P), so networks stay
independent. Validated against the autograd loop in tests.

Mixed precision (`low` = torch.bfloat16, training.precision "bf16-mixed"): the two N x N
products per step (W h forward; dpre W and the weight gradient backward) take bfloat16
operands and give bfloat16 results (CPU kernels have no float32-output form), which are
added to float32 drives, activations and gradient accumulators. Master weights, optimiser
state, the loss and every sum over steps stay float32; only each step's product is rounded.
The bfloat16 copies of h that the forward products take are kept for the backward's weight
gradient (half the size of the float32 activations) rather than made again.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


def _activate_(x: Tensor, activation: str) -> Tensor:
    if activation == "relu":
        return x.clamp_min_(0.0)
    if activation == "tanh":
        return x.tanh_()
    raise ValueError(f"unknown activation {activation!r}: use relu or tanh")


def _dpre(dr: Tensor, r: Tensor, activation: str, out: Tensor) -> Tensor:
    if activation == "relu":
        return torch.ops.aten.threshold_backward.grad_input(dr, r, 0.0, grad_input=out)
    torch.mul(r, r, out=out)
    out.neg_().add_(1.0).mul_(dr)
    return out


class RecurrentScan(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        drive: Tensor,
        w: Tensor,
        alpha: float,
        activation: str,
        low: torch.dtype | None = None,
    ) -> Tensor:
        drive = drive.contiguous()
        t_steps = drive.shape[0]
        r = torch.empty_like(drive)
        leaky = alpha != 1.0
        h_buf = torch.empty_like(drive) if leaky else r
        wt = w.transpose(1, 2) if low is None else w.transpose(1, 2).to(low)
        # Mixed precision: h_0 .. h_{T-2} in bfloat16, made for the forward products and kept
        # for the weight gradient's; the step's product. (Unused placeholders in fp32.)
        h_low = torch.empty_like(drive, dtype=low) if low is not None else r
        product = drive.new_empty(drive.shape[1:], dtype=low) if low is not None else r[0]
        r[0].copy_(drive[0])
        _activate_(r[0], activation)
        if leaky:
            torch.mul(r[0], alpha, out=h_buf[0])
        for t in range(1, t_steps):
            if low is None:
                torch.baddbmm(drive[t], h_buf[t - 1], wt, out=r[t])
            else:
                h_low[t - 1].copy_(h_buf[t - 1])
                torch.bmm(h_low[t - 1], wt, out=product)
                # = drive[t] + product, bit for bit, in two vectorised passes: the mixed-dtype
                # add with three operands runs as a scalar loop, 2x slower
                r[t].copy_(product).add_(drive[t])
            _activate_(r[t], activation)
            if leaky:
                torch.lerp(h_buf[t - 1], r[t], alpha, out=h_buf[t])
        ctx.save_for_backward(w, r, h_buf if leaky else r, h_low if low is not None else None)
        ctx.alpha = alpha
        ctx.activation = activation
        ctx.low = low
        return h_buf[t_steps - 1].clone()

    @staticmethod
    def backward(ctx: Any, grad_h: Tensor) -> tuple[Tensor | None, Tensor | None, None, None, None]:
        w, r, h_buf, h_low = ctx.saved_tensors
        alpha, activation, low = ctx.alpha, ctx.activation, ctx.low
        leaky = alpha != 1.0
        t_steps = r.shape[0]
        d_drive = torch.empty_like(r)
        grad_w = torch.zeros_like(w)
        w_low = None if low is None else w.to(low)
        dh = grad_h.contiguous()
        for t in range(t_steps - 1, -1, -1):
            dr = dh * alpha if leaky else dh
            dpre = _dpre(dr, r[t], activation, d_drive[t])
            if t == 0:
                break
            # dW[i, j] += sum_b dpre[b, i] h_{t-1}[b, j]
            if w_low is None:
                grad_w.baddbmm_(dpre.transpose(1, 2), h_buf[t - 1])
                back = torch.bmm(dpre, w)
            else:
                d_low = dpre.to(low)
                grad_w.add_(torch.bmm(d_low.transpose(1, 2), h_low[t - 1]))
                back = torch.bmm(d_low, w_low).to(dpre.dtype)
            dh = back.add_(dh, alpha=1.0 - alpha) if leaky else back
        need_drive, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        return (d_drive if need_drive else None), (grad_w if need_w else None), None, None, None


def recurrent_scan(
    drive: Tensor,
    w: Tensor,
    alpha: float = 1.0,
    activation: str = "relu",
    low: torch.dtype | None = None,
) -> Tensor:
    """h_{T-1} of the recurrence above; differentiable in drive and w. `low`: the dtype of
    the per-step products (None: the tensors' own)."""
    return RecurrentScan.apply(drive, w, float(alpha), activation, low)
