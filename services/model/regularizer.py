"""The seRNN-style wiring regulariser, for a pack of P networks with their own priors.

Per network p (all matrices (post, pre), torch's `weight_hh` convention):

    R_p = lam_p * sum(|W_p| * D_p * C_p) + lam_emd_p * W1(offdiag(C_p), target_p)

(the first term's C_p only for communicability "direct", or "emd" with `emd_weighting`; the
paper's C* is lam * sum(|W| * D) + lam_emd * W1)

- D_p: the prior's normalised distance matrix, or 1 when the prior has no space term.
- C_p: communicability `expm(S^-1/2 |W_p| S^-1/2)` with its diagonal zeroed, or 1 when the
  prior's communicability is "none". `S = diag(s)` holds node strengths; strengths are
  out-strengths of the presynaptic unit, s_j = sum_i |W_p[i, j]| (column sums in (post, pre)).
  seRNN computes row sums of the Keras kernel, which is (pre, post): the same quantity, so our
  C is the transpose of seRNN's C and sum(|W| * D * C) is identical for symmetric D.
  Zero strengths are raised to the prior's `strength_eps`.
  With `communicability_grad=False` C only weights the penalty (it is detached).
- W1: 1-D Wasserstein distance between the sorted off-diagonal entries of C_p and the
  prior's target (the connectome's C, resampled by quantiles to N(N-1) entries when sizes
  differ); equal-size empirical W1 is the mean absolute difference of the sorted samples
  (as scipy.stats.wasserstein_distance). Only for communicability "emd"; it is always
  differentiated through C (detaching it would remove the term's gradient).

Every network's penalty depends on its own weights only, so packing never couples networks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypedDict

import numpy as np
import torch
from torch import Tensor

from cortexrnn.services.model.expm import expm
from cortexrnn.services.model.sorting import sort_last
from cortexrnn.services.priors.network_prior import NetworkPrior

ExpmMethod = Literal["taylor", "torch"]


class _TensorOptions(TypedDict):
    """Where and in what precision the pack's float tensors live."""

    device: torch.device
    dtype: torch.dtype


def communicability(
    w: Tensor,
    strength_eps: float | Tensor = 1e-12,
    active: Tensor | None = None,
    method: ExpmMethod = "taylor",
) -> Tensor:
    """seRNN communicability of (post, pre) matrices [..., N, N], diagonal zeroed."""
    a = w.abs()
    s = a.sum(dim=-2)
    eps = torch.as_tensor(strength_eps, dtype=w.dtype, device=w.device)
    if eps.dim() > 0:
        eps = eps[..., None]
    s = torch.maximum(s, eps)
    d = torch.rsqrt(s)
    m = d[..., :, None] * a * d[..., None, :]
    if method == "taylor":
        c = expm(m, active)
    elif method == "torch":
        c = torch.linalg.matrix_exp(m)
    else:
        raise ValueError(f"unknown matrix exponential method {method!r}: use 'taylor' or 'torch'")
    n = w.shape[-1]
    off = 1.0 - torch.eye(n, dtype=w.dtype, device=w.device)
    return c * off


def resample_sorted(values: np.ndarray, n: int) -> np.ndarray:
    """Quantile-resample a 1-D sample to n sorted values (identity when sizes already match)."""
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())
    if v.size == 0:
        raise ValueError(
            "emd_target is empty: it must hold the connectome's off-diagonal communicability"
        )
    if not np.all(np.isfinite(v)):
        raise ValueError("emd_target holds NaN or infinite values")
    if v.size == n:
        return v
    # Mid-point plotting positions keep the resampled sample's quantiles aligned with the original.
    src = (np.arange(v.size) + 0.5) / v.size
    dst = (np.arange(n) + 0.5) / n
    return np.interp(dst, src, v)


def wasserstein_sorted(a_sorted: Tensor, b_sorted: Tensor) -> Tensor:
    """W1 between equal-size empirical samples given sorted along the last dim."""
    return (a_sorted - b_sorted).abs().mean(dim=-1)


class PackRegularizer:
    """Evaluates R_p for every network of a pack; returns a [P] tensor (differentiable)."""

    def __init__(
        self,
        priors: Sequence[NetworkPrior],
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        method: ExpmMethod = "taylor",
    ) -> None:
        if not priors:
            raise ValueError("a pack needs at least one NetworkPrior")
        n = priors[0].n_units
        for i, pr in enumerate(priors):
            if pr.w_init.shape != (n, n):
                raise ValueError(
                    f"prior {i}: w_init has shape {pr.w_init.shape}, the pack needs ({n}, {n})"
                )
            if pr.distance is not None and pr.distance.shape != (n, n):
                raise ValueError(
                    f"prior {i}: distance has shape {pr.distance.shape}, expected ({n}, {n})"
                )
            if pr.communicability not in ("none", "direct", "emd"):
                raise ValueError(f"prior {i}: unknown communicability {pr.communicability!r}")
            if pr.communicability == "emd" and pr.emd_target is None:
                raise ValueError(f"prior {i}: communicability 'emd' needs emd_target")
        self.n = n
        self.p = len(priors)
        self.method = method
        dev = torch.device(device)
        kw: _TensorOptions = {"device": dev, "dtype": dtype}
        self.lam = torch.tensor([float(pr.lam) for pr in priors], **kw)

        if any(pr.distance is not None for pr in priors):
            d = np.stack(
                [pr.distance if pr.distance is not None else np.ones((n, n)) for pr in priors]
            )
            if not np.all(np.isfinite(d)):
                raise ValueError("a prior's distance matrix holds NaN or infinite values")
            self.distance: Tensor | None = torch.as_tensor(d, **kw)
        else:
            self.distance = None

        comm = [i for i, pr in enumerate(priors) if pr.communicability != "none"]
        self.comm_idx = torch.tensor(comm, dtype=torch.long, device=dev)
        self.all_comm = len(comm) == self.p
        self.n_comm = len(comm)
        self.comm_eps = torch.tensor([float(priors[i].strength_eps) for i in comm], **kw)
        # Which of the communicability networks weight their L1 term by C.
        weight_by_c = [
            priors[i].communicability == "direct" or priors[i].emd_weighting for i in comm
        ]
        self.c_weight = torch.tensor(weight_by_c, dtype=torch.bool, device=dev)
        grad = [bool(priors[i].communicability_grad) for i in comm]
        self.c_grad = torch.tensor(grad, dtype=torch.bool, device=dev)
        self.all_grad = all(grad)
        self.no_grad = not any(grad)

        emd_local = [k for k, i in enumerate(comm) if priors[i].communicability == "emd"]
        self.emd_local = torch.tensor(emd_local, dtype=torch.long, device=dev)
        self.emd_global = torch.tensor([comm[k] for k in emd_local], dtype=torch.long, device=dev)
        if emd_local:
            m = n * (n - 1)
            targets = []
            for k in emd_local:
                target = priors[comm[k]].emd_target
                assert target is not None  # checked above: communicability 'emd' needs emd_target
                targets.append(resample_sorted(target, m))
            tgt = np.stack(targets)
            self.emd_target: Tensor | None = torch.as_tensor(tgt, **kw)
            self.lam_emd = torch.tensor([float(priors[comm[k]].lam_emd) for k in emd_local], **kw)
            self.offdiag = ~torch.eye(n, dtype=torch.bool, device=dev)
        else:
            self.emd_target = None

    def communicability(self, w: Tensor, active: Tensor | None = None) -> Tensor:
        """C for the networks that have a communicability term, [n_comm, N, N] (pack order)."""
        sub = w if self.all_comm else w.index_select(0, self.comm_idx)
        act = (
            None
            if active is None
            else (active if self.all_comm else active.index_select(0, self.comm_idx))
        )
        return communicability(sub, self.comm_eps, act, self.method)

    def __call__(self, w: Tensor, active: Tensor | None = None) -> Tensor:
        if w.shape != (self.p, self.n, self.n):
            raise ValueError(
                f"weights have shape {tuple(w.shape)}, the pack needs {(self.p, self.n, self.n)}"
            )
        a = w.abs()
        if self.distance is not None:
            a = a * self.distance
        penalty = a.sum(dim=(1, 2))
        if self.n_comm == 0:
            return self.lam * penalty

        c = self.communicability(w, active)
        if self.all_grad:
            c_weight = c
        elif self.no_grad:
            c_weight = c.detach()
        else:
            c_weight = torch.where(self.c_grad[:, None, None], c, c.detach())
        a_sub = a if self.all_comm else a.index_select(0, self.comm_idx)
        weighted = (a_sub * c_weight).sum(dim=(1, 2))
        plain = penalty if self.all_comm else penalty.index_select(0, self.comm_idx)
        weighted = torch.where(self.c_weight, weighted, plain)
        penalty = weighted if self.all_comm else penalty.index_put((self.comm_idx,), weighted)
        total = self.lam * penalty

        if self.emd_target is not None:
            c_emd = c.index_select(0, self.emd_local)
            vals = c_emd[:, self.offdiag]  # [n_emd, N(N-1)]
            vals_sorted = sort_last(vals)
            emd = wasserstein_sorted(vals_sorted, self.emd_target) * self.lam_emd
            total = total.index_add(0, self.emd_global, emd)
        return total
