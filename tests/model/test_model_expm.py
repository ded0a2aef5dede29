"""The fast matrix exponential against scipy (float64 value) and autograd against finite
differences."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from cortexrnn.services.model.expm import expm

torch.set_num_threads(1)


def _normalised(rng: np.random.Generator, n: int) -> np.ndarray:
    """seRNN's S^-1/2 |W| S^-1/2 (spectral radius 1) for a random W."""
    a = np.abs(rng.normal(size=(n, n)))
    s = a.sum(axis=0)
    return a / np.sqrt(np.outer(s, s))


@pytest.mark.parametrize("scale", [0.05, 1.0, 3.0, 40.0])
def test_value_matches_scipy_float64(scale: float) -> None:
    rng = np.random.default_rng(1)
    mats = np.stack(
        [rng.normal(size=(12, 12)) * scale / np.sqrt(12) for _ in range(3)]
        + [_normalised(rng, 12) * scale]
    )
    got = expm(torch.from_numpy(mats)).numpy()
    for m, g in zip(mats, got, strict=True):
        ref = scipy.linalg.expm(m)
        assert np.linalg.norm(g - ref) / np.linalg.norm(ref) < 1e-12


def test_float32_matches_scipy_on_communicability_matrices() -> None:
    rng = np.random.default_rng(2)
    mats = np.stack([_normalised(rng, 60) for _ in range(4)])
    got = expm(torch.from_numpy(mats).float()).double().numpy()
    for m, g in zip(mats, got, strict=True):
        ref = scipy.linalg.expm(m)
        assert np.abs(g - ref).max() / np.abs(ref).max() < 2e-6


def test_each_matrix_scaled_on_its_own() -> None:
    """A matrix's exponential must not depend on the other matrices of the batch, even NaN ones."""
    rng = np.random.default_rng(3)
    small = torch.from_numpy(_normalised(rng, 8))
    big = torch.from_numpy(rng.normal(size=(8, 8)) * 30)
    bad = torch.full((8, 8), float("nan"), dtype=torch.float64)
    alone = expm(small[None])[0]
    packed = expm(torch.stack([small, big, bad]))
    assert torch.equal(packed[0], alone)
    assert torch.isfinite(packed[1]).all()
    np.testing.assert_allclose(packed[1].numpy(), scipy.linalg.expm(big.numpy()), rtol=1e-10)


def test_gradcheck_float64() -> None:
    rng = np.random.default_rng(4)
    x = torch.from_numpy(
        np.stack([_normalised(rng, 5), rng.normal(size=(5, 5)) * 2.0])
    ).requires_grad_(True)
    assert torch.autograd.gradcheck(expm, (x,), eps=1e-6, atol=1e-7, rtol=1e-6)


def test_gradient_matches_scipy_frechet_derivative() -> None:
    """d/dX sum(G * expm(X)) = L(X^T, G) (Frechet derivative), computed independently by scipy."""
    rng = np.random.default_rng(5)
    x = _normalised(rng, 10) * 2.0
    g = rng.normal(size=(10, 10))
    xt = torch.from_numpy(x).requires_grad_(True)
    (expm(xt) * torch.from_numpy(g)).sum().backward()
    _, ref = scipy.linalg.expm_frechet(x.T, g)
    np.testing.assert_allclose(xt.grad.numpy(), ref, rtol=1e-9, atol=1e-12)
