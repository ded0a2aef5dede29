"""Weight initialisers for the recurrent matrix, (post, pre) orientation.

Random inits follow Keras semantics (`Orthogonal`, `HeNormal`, `GlorotNormal`: truncated
normal at two standard deviations, stddev divided by 0.8796... so the truncated variance is
the target) and are drawn in Keras' (pre, post) kernel layout, then transposed.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import truncnorm

# std of a unit normal truncated to [-2, 2] (Keras' correction constant)
_TRUNC_STD = 0.87962566103423978
SPECTRAL_RADIUS = 0.95


def spectral_radius(w: np.ndarray) -> float:
    return float(np.max(np.abs(np.linalg.eigvals(w)))) if w.size else 0.0


def scale_to_spectral_radius(
    w: np.ndarray, target: float = SPECTRAL_RADIUS
) -> tuple[np.ndarray, str]:
    """Scale to spectral radius `target`. A nilpotent matrix (radius ~0, e.g. a sparse acyclic
    wiring diagram) cannot be; it is scaled to spectral norm `target` instead, and the
    returned label says which was used."""
    rho = spectral_radius(w)
    if rho > 1e-9 * max(1.0, float(np.abs(w).max(initial=0.0))):
        return w * (target / rho), "spectral_radius"
    norm = float(np.linalg.norm(w, 2)) if w.size else 0.0
    if norm == 0.0:
        return w, "zero"
    return w * (target / norm), "spectral_norm"


def orthogonal(n: int, rng: np.random.Generator, gain: float = 1.0) -> np.ndarray:
    """Keras `Orthogonal`: QR of a normal matrix with the signs of R's diagonal folded in."""
    a = rng.standard_normal((n, n))
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diag(r))[None, :]
    return (gain * q).T  # kernel (pre, post) -> (post, pre)


def _truncated_normal(n: int, std: float, rng: np.random.Generator) -> np.ndarray:
    return truncnorm.rvs(-2.0, 2.0, loc=0.0, scale=std / _TRUNC_STD, size=(n, n), random_state=rng)


def he_normal(n: int, rng: np.random.Generator) -> np.ndarray:
    """Keras `HeNormal`: variance 2 / fan_in, fan_in = n for an (n, n) recurrent kernel."""
    return _truncated_normal(n, np.sqrt(2.0 / n), rng).T


def glorot_normal(n: int, rng: np.random.Generator) -> np.ndarray:
    """Keras `GlorotNormal`: variance 2 / (fan_in + fan_out)."""
    return _truncated_normal(n, np.sqrt(2.0 / (n + n)), rng).T
