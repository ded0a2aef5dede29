"""Batched matrix exponential for the communicability term, differentiated by autograd.

Why not `torch.linalg.matrix_exp`: its backward costs 7-27x its forward on CPU (it
differentiates through a block-triangular exponential of twice the size). The seRNN matrix
`S^-1/2 |W| S^-1/2` is similar to a stochastic matrix, so its spectral radius is at most 1 and
few squarings are needed; a degree-12 Taylor polynomial evaluated Paterson-Stockmeyer style
(5 matmuls) plus scaling-and-squaring is exact to working precision there, and its plain
autograd backward costs about twice its forward.

Scaling is chosen per matrix from its 1-norm so that each network's result depends on its own
matrix only (a network in a pack gets the same exponential as alone): squarings are applied to
all matrices of the batch `max(s)` times, each matrix keeping the product only for its first
`s_p` squarings.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_TAYLOR_DEGREE = 12
_COEFFS = [1.0 / math.factorial(k) for k in range(_TAYLOR_DEGREE + 1)]

# Largest 1-norm of the scaled matrix for which the degree-12 Taylor remainder
# (<= theta^13/13! * e^theta, relative to ||e^X|| >= e^-theta) stays below the unit roundoff:
# float32, 1.25^13/13! * e^2.5 = 3.6e-8 < 2^-24. The seRNN matrices of the paper's priors
# have 1-norms of 1.02-1.17: no squaring (with theta = 1, one squaring: 3 of 18 products of
# the exponential's forward and backward).
_THETA = {torch.float64: 0.25, torch.float32: 1.25, torch.float16: 1.0, torch.bfloat16: 1.0}
_MAX_SQUARINGS = 64


def squarings_needed(x: Tensor, active: Tensor | None = None) -> Tensor:
    """Per-matrix number of squarings s with ||x / 2^s||_1 <= theta (int64, shape x.shape[:-2]).

    Inactive, NaN or infinite matrices get 0 so that they never force extra work on the rest.
    """
    theta = _THETA.get(x.dtype, 1.0)
    with torch.no_grad():
        norm1 = x.abs().sum(dim=-2).amax(dim=-1)
        finite = torch.isfinite(norm1)
        ratio = torch.where(finite, norm1, torch.zeros_like(norm1)) / theta
        s = torch.ceil(torch.log2(ratio.clamp_min(1.0))).to(torch.int64).clamp(0, _MAX_SQUARINGS)
        s = torch.where(finite, s, torch.zeros_like(s))
        if active is not None:
            s = torch.where(active.to(device=s.device), s, torch.zeros_like(s))
    return s


def _add_diag(x: Tensor, c: float) -> Tensor:
    eye = torch.eye(x.shape[-1], dtype=x.dtype, device=x.device)
    return x + c * eye


def taylor12(x: Tensor) -> Tensor:
    """sum_{k<=12} x^k / k! with 5 matrix products (Paterson-Stockmeyer, blocks of 4)."""
    c = _COEFFS
    x2 = x @ x
    x3 = x2 @ x
    x4 = x2 @ x2
    b0 = _add_diag(c[1] * x + c[2] * x2 + c[3] * x3, c[0])
    b1 = _add_diag(c[5] * x + c[6] * x2 + c[7] * x3, c[4])
    b2 = _add_diag(c[9] * x + c[10] * x2 + c[11] * x3 + c[12] * x4, c[8])
    return b0 + x4 @ (b1 + x4 @ b2)


def expm(x: Tensor, active: Tensor | None = None) -> Tensor:
    """exp(x) for a batch of square matrices [..., n, n]; differentiable.

    `active` (bool, x.shape[:-2]) marks the matrices whose result matters: the others get no
    squarings (their value is then only the scaled Taylor polynomial, cheap and finite-safe).
    """
    if x.dim() < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"expm needs square matrices [..., n, n], got shape {tuple(x.shape)}")
    s = squarings_needed(x, active)
    scale = torch.pow(torch.full_like(s, 2, dtype=x.dtype), -s.to(x.dtype))
    y = taylor12(x * scale[..., None, None])
    counts = s.flatten().tolist()
    for k in range(max(counts, default=0)):
        y = y @ y if all(c > k for c in counts) else torch.where((s > k)[..., None, None], y @ y, y)
    return y
