"""The paper's functional ("bio") initialisation and its controls (SCIENCE.md §2).

    bio = L * minmax(corr) * minmax(STTC_sym),  L ~ lognormal(-0.5, 0.5) per seed
    bio *= 0.1 / mean(bio); non-zero entries < 0.01 -> 0.01; bio *= 0.95 / spectral_radius(bio)

STTC is symmetrised from its lower triangle. Correlation and STTC are 1 on the diagonal, so
the released code's matrix is dominated by its diagonal (~99 % of the squared norm, §5.5),
and W! (a relabelling) keeps that diagonal, so W* vs W! tests little. Corrected (default):
a neuron's similarity with itself says nothing about its connections to others, so the
self-entries are removed before building: min-max runs over the off-diagonal entries and the
diagonal of the normalised product is 0. The bio matrix is then purely the off-diagonal
functional structure, and W! moves that structure relative to the neurons' positions.

All matrices are symmetric in the functional data; only L breaks the symmetry. L is drawn in
Keras' (pre, post) layout and transposed to (post, pre).
"""

from __future__ import annotations

import numpy as np

from cortexrnn.services.priors.inits import SPECTRAL_RADIUS, scale_to_spectral_radius
from cortexrnn.services.priors.rng import stream

BIO_MEAN = 0.1
BIO_FLOOR = 0.01
SOURCES = {
    "correlation+sttc": ("correlation", "sttc"),
    "sttc": ("sttc",),
    "precision+sttc": ("precision", "sttc"),
}


def symmetrise_lower(m: np.ndarray) -> np.ndarray:
    """The symmetric matrix whose lower triangle (with the diagonal) is m's."""
    low = np.tril(m)
    return low + np.tril(m, -1).T


def minmax(m: np.ndarray, keep_diagonal: bool) -> np.ndarray:
    """(m - min) / (max - min); over all entries (paper) or the off-diagonal ones with the
    diagonal set to 0 (corrected). A constant matrix maps to zeros."""
    m = np.asarray(m, dtype=np.float64)
    vals = m if keep_diagonal else m[~np.eye(m.shape[0], dtype=bool)]
    lo, hi = (float(vals.min()), float(vals.max())) if vals.size else (0.0, 0.0)
    out = np.zeros_like(m) if hi <= lo else (m - lo) / (hi - lo)
    if not keep_diagonal:
        np.fill_diagonal(out, 0.0)
    return out


def functional_base(
    functional: dict[str, np.ndarray], indices: np.ndarray, source: str, keep_diagonal: bool
) -> np.ndarray:
    """The seed-independent product of the min-max-normalised functional matrices (N, N)."""
    if source not in SOURCES:
        raise ValueError(f"unknown functional source {source!r}; use one of {', '.join(SOURCES)}")
    idx = np.ix_(indices, indices)
    out = np.ones((len(indices), len(indices)))
    for kind in SOURCES[source]:
        if kind not in functional:
            have = ", ".join(sorted(functional)) or "none"
            raise ValueError(
                f"the functional init needs the dataset's {kind} matrix (dataset has: {have})"
            )
        m = np.asarray(functional[kind], dtype=np.float64)[idx]
        if not np.all(np.isfinite(m)):
            raise ValueError(
                f"the dataset's {kind} matrix holds NaN or infinite values among the selected "
                "neurons"
            )
        if kind == "sttc":
            m = symmetrise_lower(m)
        out *= minmax(m, keep_diagonal)
    return out


def bio_matrix(base: np.ndarray, seed: int) -> np.ndarray:
    """The per-seed bio init from the normalised product `base`, (post, pre)."""
    n = base.shape[0]
    lognormal = stream(seed, "bio-lognormal").lognormal(-0.5, 0.5, size=(n, n)).T
    w = lognormal * base
    mean = w.mean()
    if not mean > 0:
        raise ValueError(
            "the functional matrices of the selected neurons are constant: the bio init is all "
            "zeros"
        )
    w *= BIO_MEAN / mean
    w[(w != 0) & (np.abs(w) < BIO_FLOOR)] = BIO_FLOOR
    w, _how = scale_to_spectral_radius(w, SPECTRAL_RADIUS)
    return w


def permutation(n: int, seed: int) -> np.ndarray:
    return stream(seed, "bio-permutation").permutation(n)


def permuted(w: np.ndarray, perm: np.ndarray) -> np.ndarray:
    """W! : the same matrix with neuron i relabelled perm[i] (rows and columns together)."""
    return w[np.ix_(perm, perm)]


def offdiag_shuffled(w: np.ndarray, seed: int) -> np.ndarray:
    """Diagonal kept, off-diagonal entries randomly rearranged; rescaled to radius 0.95
    (a shuffle changes the spectrum, and the comparison is at equal radius)."""
    out = w.copy()
    off = ~np.eye(w.shape[0], dtype=bool)
    vals = out[off]
    out[off] = vals[stream(seed, "bio-offdiag-shuffle").permutation(vals.size)]
    return scale_to_spectral_radius(out, SPECTRAL_RADIUS)[0]


def diagonal_only(w_with_diagonal: np.ndarray) -> np.ndarray:
    """The bio diagonal alone (built with the diagonal kept, whatever the fidelity: this
    control asks how much of W* its diagonal explains), at radius 0.95."""
    return scale_to_spectral_radius(np.diag(np.diag(w_with_diagonal)), SPECTRAL_RADIUS)[0]
