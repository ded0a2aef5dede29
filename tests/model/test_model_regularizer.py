"""The pack regulariser against a direct per-network loop with scipy's expm and W1."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
import torch

from cortexrnn.services.model.regularizer import PackRegularizer, communicability, resample_sorted
from cortexrnn.services.priors.network_prior import NetworkPrior

torch.set_num_threads(1)
N = 9


def _ref_c(w: np.ndarray, eps: float) -> np.ndarray:
    """seRNN written on the Keras kernel K = W^T (pre, post): strengths are K's row sums."""
    k = np.abs(w.T)
    s = np.maximum(k.sum(axis=1), eps)
    d = np.diag(s**-0.5)
    c = scipy.linalg.expm(d @ k @ d)
    np.fill_diagonal(c, 0.0)
    return c  # Keras orientation (pre, post)


def _ref_penalty(w: np.ndarray, pr: NetworkPrior) -> float:
    k = np.abs(w.T)
    dist = np.ones_like(k) if pr.distance is None else pr.distance.T
    if pr.communicability == "none":
        return pr.lam * float((k * dist).sum())
    c = _ref_c(w, pr.strength_eps)
    # The paper's C* has no C in its L1 term; `emd_weighting` puts it there.
    weight = c if pr.communicability == "direct" or pr.emd_weighting else 1.0
    out = pr.lam * float((k * dist * weight).sum())
    if pr.communicability == "emd":
        off = c[~np.eye(len(c), dtype=bool)]
        out += pr.lam_emd * scipy.stats.wasserstein_distance(off, pr.emd_target)
    return out


def _priors(rng: np.random.Generator) -> list[NetworkPrior]:
    def dist() -> np.ndarray:
        pos = rng.random((N, 3))
        d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
        return d / d.max()

    w = lambda: rng.normal(size=(N, N)) / np.sqrt(N)  # noqa: E731
    target = np.sort(rng.gamma(0.5, 0.3, size=N * (N - 1)))
    return [
        NetworkPrior(w_init=w(), lam=0.3),
        NetworkPrior(w_init=w(), distance=dist(), lam=0.3),
        NetworkPrior(w_init=w(), distance=dist(), communicability="direct", lam=0.3),
        NetworkPrior(w_init=w(), communicability="direct", communicability_grad=False, lam=0.7),
        NetworkPrior(
            w_init=w(),
            distance=dist(),
            communicability="emd",
            lam=0.3,
            lam_emd=0.1,
            emd_target=target,
        ),
        NetworkPrior(w_init=w(), communicability="emd", lam=0.0, lam_emd=0.5, emd_target=target),
        NetworkPrior(
            w_init=w(),
            distance=dist(),
            communicability="emd",
            lam=0.3,
            lam_emd=0.1,
            emd_target=target,
            emd_weighting=True,
        ),
    ]


def test_value_matches_scipy_loop() -> None:
    rng = np.random.default_rng(0)
    priors = _priors(rng)
    w = np.stack([rng.normal(size=(N, N)) for _ in priors])
    got = PackRegularizer(priors, dtype=torch.float64)(torch.from_numpy(w)).numpy()
    ref = np.array([_ref_penalty(w[i], pr) for i, pr in enumerate(priors)])
    np.testing.assert_allclose(got, ref, rtol=1e-11)


def test_float32_matches_scipy_loop_at_realistic_size() -> None:
    rng = np.random.default_rng(1)
    n = 40
    pos = rng.random((n, 3))
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    pr = NetworkPrior(
        w_init=np.zeros((n, n)), distance=d / d.max(), communicability="direct", lam=0.3
    )
    w = rng.normal(size=(1, n, n)) / np.sqrt(n)
    got = PackRegularizer([pr])(torch.from_numpy(w).float()).item()
    assert got == pytest.approx(_ref_penalty(w[0], pr), rel=1e-5)


def test_orientation_is_transpose_of_keras() -> None:
    rng = np.random.default_rng(2)
    w = rng.normal(size=(N, N))
    c = communicability(torch.from_numpy(w), 1e-12).numpy()
    np.testing.assert_allclose(c, _ref_c(w, 1e-12).T, rtol=1e-12)


def test_zero_strength_is_guarded() -> None:
    rng = np.random.default_rng(3)
    w = rng.normal(size=(N, N))
    w[:, 2] = 0.0  # unit 2 sends nothing: zero out-strength
    pr = NetworkPrior(w_init=w, communicability="direct", lam=0.3, strength_eps=1e-6)
    got = PackRegularizer([pr], dtype=torch.float64)(torch.from_numpy(w[None])).item()
    assert np.isfinite(got)
    assert got == pytest.approx(_ref_penalty(w, pr), rel=1e-10)


def _numeric_grad(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        g[idx] = (f(xp) - f(xm)) / (2 * h)
    return g


def test_gradient_matches_finite_differences_of_scipy_loop() -> None:
    rng = np.random.default_rng(4)
    priors = [p for p in _priors(rng) if p.communicability_grad]
    w = np.stack([rng.normal(size=(N, N)) for _ in priors])
    wt = torch.from_numpy(w).requires_grad_(True)
    PackRegularizer(priors, dtype=torch.float64)(wt).sum().backward()
    for i, pr in enumerate(priors):
        ref = _numeric_grad(lambda x, pr=pr: _ref_penalty(x, pr), w[i])
        np.testing.assert_allclose(wt.grad[i].numpy(), ref, rtol=1e-5, atol=1e-7)


def test_detached_communicability_only_weights() -> None:
    """With communicability_grad=False the gradient is lam * sign(W) * D * C with C held fixed."""
    rng = np.random.default_rng(5)
    pos = rng.random((N, 3))
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    pr = NetworkPrior(
        w_init=np.zeros((N, N)),
        distance=d,
        communicability="direct",
        communicability_grad=False,
        lam=0.4,
    )
    w = rng.normal(size=(N, N))
    wt = torch.from_numpy(w[None]).requires_grad_(True)
    PackRegularizer([pr], dtype=torch.float64)(wt).sum().backward()
    expected = 0.4 * np.sign(w) * d * _ref_c(w, 1e-12).T
    np.testing.assert_allclose(wt.grad[0].numpy(), expected, rtol=1e-10)


def test_gradcheck_float64() -> None:
    rng = np.random.default_rng(6)
    priors = [p for p in _priors(rng) if p.communicability_grad]
    reg = PackRegularizer(priors, dtype=torch.float64)
    w = torch.from_numpy(np.stack([rng.normal(size=(N, N)) for _ in priors])).requires_grad_(True)
    assert torch.autograd.gradcheck(reg, (w,), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_pack_does_not_couple_networks() -> None:
    rng = np.random.default_rng(7)
    priors = _priors(rng)
    w = torch.from_numpy(np.stack([rng.normal(size=(N, N)) for _ in priors])).requires_grad_(True)
    PackRegularizer(priors, dtype=torch.float64)(w).sum().backward()
    for i in (2, 4):
        wi = w.detach()[i : i + 1].clone().requires_grad_(True)
        alone = PackRegularizer([priors[i]], dtype=torch.float64)(wi)
        alone.sum().backward()
        np.testing.assert_allclose(wi.grad[0].numpy(), w.grad[i].numpy(), rtol=1e-12, atol=1e-15)


def test_resample_sorted_keeps_quantiles() -> None:
    rng = np.random.default_rng(8)
    v = rng.exponential(size=500)
    r = resample_sorted(v, 2000)
    assert r.shape == (2000,) and np.all(np.diff(r) >= 0)
    assert scipy.stats.wasserstein_distance(v, r) < 0.01 * v.mean()
    np.testing.assert_array_equal(resample_sorted(v, 500), np.sort(v))
    with pytest.raises(ValueError, match="emd_target"):
        resample_sorted(np.array([]), 5)
