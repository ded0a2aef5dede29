"""Contracts of the model package a scientist would check, each against an independent
reference: hand-computed values, scipy, numpy, or a plain torch autograd transcription.

They complement the per-module tests: the bf16 mixed-precision scheme of the hand-written
BPTT and where the model applies it, gradients for whichever input asks for one, the
degree-12 series and squaring counts of the fast expm (and its `active` mask), the pieces of
the seRNN regulariser (W1, quantile resampling, strength guard, pack bookkeeping:
float32, device, active networks, packs without C) and input validation everywhere.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
import torch
from torch import Tensor

from cortexrnn.services.model.bptt import recurrent_scan
from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.model.expm import expm, squarings_needed, taylor12
from cortexrnn.services.model.population import PopulationRNN, glorot_uniform, per_network_ce
from cortexrnn.services.model.regularizer import (
    PackRegularizer,
    communicability,
    resample_sorted,
    wasserstein_sorted,
)
from cortexrnn.services.priors.network_prior import NetworkPrior

torch.set_num_threads(1)


def _gens(seeds: list[int]) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


def _rel(a: Tensor, b: Tensor) -> float:
    return float((a.double() - b.double()).norm() / b.double().norm())


def _scan_reference(
    drive: Tensor, w: Tensor, alpha: float, activation: str, low: torch.dtype | None
) -> Tensor:
    """The recurrence as plain autograd ops: h = (1 - a) h + a f(d_t + W h), h_{-1} = 0.
    With `low`, each step's W h product takes `low` operands (cast per step, so that autograd
    accumulates the weight gradient in the master dtype, as the documented scheme does)."""
    f = torch.relu if activation == "relu" else torch.tanh
    h = None
    for t in range(drive.shape[0]):
        if h is None:
            pre = drive[t]
        elif low is None:
            pre = drive[t] + torch.bmm(h, w.transpose(1, 2))
        else:
            pre = drive[t] + torch.bmm(h.to(low), w.transpose(1, 2).to(low))
        r = f(pre)
        h = alpha * r if h is None else (1 - alpha) * h + alpha * r
    assert h is not None
    return h


def _scan_with_grads(
    fn: Callable[[Tensor, Tensor], Tensor], drive: Tensor, w: Tensor, g: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    d = drive.clone().requires_grad_(True)
    ww = w.clone().requires_grad_(True)
    h = fn(d, ww)
    (h * g).sum().backward()
    assert d.grad is not None and ww.grad is not None
    return h.detach(), d.grad, ww.grad


# --- bptt -------------------------------------------------------------------------------


@pytest.mark.parametrize(("alpha", "activation"), [(1.0, "relu"), (0.3, "tanh"), (0.5, "relu")])
def test_bf16_products_follow_the_mixed_precision_scheme(alpha: float, activation: str) -> None:
    """`low=bfloat16`: value and both gradients equal the autograd transcription whose W h
    products take bfloat16 operands, and differ from the exact float64 recurrence by
    bfloat16-sized (not float32-sized, not O(1)) amounts."""
    rng = np.random.default_rng(10)
    d = torch.from_numpy(rng.normal(size=(6, 3, 4, 16)))
    w = torch.from_numpy(rng.normal(size=(3, 16, 16)) / 4)
    g = torch.from_numpy(rng.normal(size=(3, 4, 16)))
    hand = _scan_with_grads(
        lambda a, b: recurrent_scan(a, b, alpha, activation, torch.bfloat16),
        d.float(),
        w.float(),
        g.float(),
    )
    mixed = _scan_with_grads(
        lambda a, b: _scan_reference(a, b, alpha, activation, torch.bfloat16),
        d.float(),
        w.float(),
        g.float(),
    )
    exact = _scan_with_grads(lambda a, b: _scan_reference(a, b, alpha, activation, None), d, w, g)
    for got, ref, ex in zip(hand, mixed, exact, strict=True):
        assert got.dtype == torch.float32  # master precision kept for value and gradients
        assert _rel(got, ref) < 1e-5
        assert 1e-4 < _rel(ref, ex) < 0.1  # the reference really rounds, and only a little


@pytest.mark.parametrize(("alpha", "activation"), [(1.0, "relu"), (0.4, "tanh")])
def test_gradient_of_drive_alone_and_of_weights_alone(alpha: float, activation: str) -> None:
    """Only one input needs a gradient (frozen weights, or fixed drive): it still gets the
    autograd transcription's gradient."""
    rng = np.random.default_rng(11)
    d = torch.from_numpy(rng.normal(size=(5, 2, 3, 6)))
    w = torch.from_numpy(rng.normal(size=(2, 6, 6)) / 2)
    g = torch.from_numpy(rng.normal(size=(2, 3, 6)))
    for wants_drive in (True, False):
        grads = []
        for fn in (recurrent_scan, lambda a, b, c, e: _scan_reference(a, b, c, e, None)):
            dd = d.clone().requires_grad_(wants_drive)
            ww = w.clone().requires_grad_(not wants_drive)
            (fn(dd, ww, alpha, activation) * g).sum().backward()
            grads.append(dd.grad if wants_drive else ww.grad)
            assert (ww.grad if wants_drive else dd.grad) is None
        assert grads[0] is not None and grads[1] is not None
        torch.testing.assert_close(grads[0], grads[1], rtol=1e-12, atol=1e-12)


def test_single_step_is_the_activation_of_the_drive() -> None:
    """T = 1: h_0 = a f(d_0) whatever W is (h_{-1} = 0), and d h / d d = a f'(d_0)."""
    d = torch.tensor([[[[-1.0, 0.5, 2.0]]]], dtype=torch.float64, requires_grad=True)
    w = torch.full((1, 3, 3), 7.0, dtype=torch.float64, requires_grad=True)
    h = recurrent_scan(d, w, 0.25, "relu")
    torch.testing.assert_close(h, torch.tensor([[[0.0, 0.125, 0.5]]], dtype=torch.float64))
    h.sum().backward()
    assert d.grad is not None and w.grad is not None
    torch.testing.assert_close(d.grad, torch.tensor([[[[0.0, 0.25, 0.25]]]], dtype=torch.float64))
    assert torch.count_nonzero(w.grad) == 0


def test_unknown_activation_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        recurrent_scan(torch.zeros(2, 1, 1, 3), torch.zeros(1, 3, 3), 1.0, "gelu")


def test_defaults_are_the_keras_simple_rnn() -> None:
    """recurrent_scan(d, W) without options is alpha = 1, ReLU, no low-precision products."""
    rng = np.random.default_rng(16)
    d = torch.from_numpy(rng.normal(size=(4, 2, 3, 5)))
    w = torch.from_numpy(rng.normal(size=(2, 5, 5)) / 2)
    ref = _scan_reference(d, w, 1.0, "relu", None)
    torch.testing.assert_close(recurrent_scan(d, w), ref, rtol=1e-13, atol=1e-13)


# --- population ---------------------------------------------------------------------------


def test_bf16_products_only_while_training() -> None:
    """product_dtype=bfloat16: a training forward (grad enabled) rounds each W h product to
    bfloat16, an evaluation forward (no grad) stays in float32; both near the exact float64
    recurrence."""
    rng = np.random.default_rng(12)
    p, n, t, b, n_in = 2, 16, 6, 5, 3
    w = torch.from_numpy(rng.normal(size=(p, n, n)) / 3)
    cfg = ModelConfig(noise_in=0.0, alpha=0.5)
    kw = {"config": cfg, "dtype": torch.float32}
    mixed = PopulationRNN(w, n_in, 2, _gens([1, 2]), product_dtype=torch.bfloat16, **kw)
    x = torch.from_numpy(rng.normal(size=(t, p, b, n_in)))
    drive = torch.matmul(x, mixed.U.detach().double().transpose(1, 2))
    h_ref = _scan_reference(drive, w, 0.5, "relu", None)
    out_ref = torch.baddbmm(
        mixed.c.detach().double()[:, None, :], h_ref, mixed.V.detach().double().transpose(1, 2)
    )
    train = mixed(x.float())
    with torch.no_grad():
        evaluation = mixed(x.float())
    assert _rel(evaluation, out_ref) < 1e-6
    assert 1e-4 < _rel(train.detach(), out_ref) < 0.05
    for scan in ("bptt", "autograd"):
        exact = PopulationRNN(w, n_in, 2, _gens([1, 2]), scan=scan, **kw)
        assert _rel(exact(x.float()).detach(), out_ref) < 1e-6


def test_bad_input_shapes_are_refused() -> None:
    model = PopulationRNN(torch.zeros(2, 4, 4), 3, 2, _gens([1, 2]))
    for shape in ((5, 3, 1, 3), (5, 2, 1, 4), (5, 2, 3), (5, 3, 1, 4)):
        with pytest.raises(ValueError, match=r"inputs must be \[T, P=2, B, n_in=3\], got"):
            model(torch.zeros(shape))
    assert model(torch.zeros(5, 2, 1, 3)).shape == (2, 1, 2)


def test_zero_noise_level_ignores_the_noise_sample() -> None:
    """noise_in = noise_rec = 0: the passed samples take no part (even non-finite ones, e.g. an
    uninitialised buffer), so the output equals the noise-free one."""
    rng = np.random.default_rng(13)
    w = torch.from_numpy(rng.normal(size=(2, 4, 4)) / 2)
    cfg = ModelConfig(noise_in=0.0, noise_rec=0.0)
    model = PopulationRNN(w, 3, 2, _gens([1, 2]), cfg, dtype=torch.float64)
    x = torch.from_numpy(rng.normal(size=(5, 2, 3, 3)))
    clean = model(x)
    noisy = model(x, torch.full((5, 2, 3, 3), float("nan")), torch.full((5, 2, 3, 4), float("inf")))
    torch.testing.assert_close(noisy, clean, rtol=0, atol=0)


def test_accuracy_on_non_square_logits() -> None:
    """P = 2 networks, B = 3 trials, K = 4 classes: accuracy is the hand-counted fraction of
    trials whose arg-max class is the label."""
    logits = torch.tensor(
        [
            [[0.0, 5.0, 1.0, 2.0], [3.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 9.0]],
            [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 1.0], [0.0, 4.0, 0.0, 0.0]],
        ]
    )
    labels = torch.tensor([[1, 0, 2], [0, 3, 3]])
    ce, acc = per_network_ce(logits, labels)
    np.testing.assert_allclose(acc.numpy(), [2 / 3, 1 / 3])
    z = logits.double().numpy()
    lse = np.log(np.exp(z).sum(axis=-1))
    ref = (lse - np.take_along_axis(z, labels.numpy()[..., None], -1)[..., 0]).mean(axis=1)
    np.testing.assert_allclose(ce.numpy(), ref, rtol=1e-6)


def test_model_validates_its_construction() -> None:
    gens = _gens([1, 2])
    w = torch.zeros(2, 4, 4)
    with pytest.raises(ValueError, match="unknown scan 'jit': use 'bptt'"):
        PopulationRNN(w, 3, 2, gens, scan="jit")  # type: ignore[arg-type]
    for bad in (torch.zeros(4, 4), torch.zeros(2, 4, 5), torch.zeros(1, 2, 4, 4)):
        with pytest.raises(ValueError, match=r"w_init must be \[P, N, N\], got shape"):
            PopulationRNN(bad, 3, 2, gens)
    with pytest.raises(ValueError, match="need one init generator per network: 1 for 2"):
        PopulationRNN(w, 3, 2, gens[:1])
    for n_in, n_out in ((0, 2), (3, 1)):
        with pytest.raises(ValueError, match="need n_inputs >= 1 and n_outputs >= 2, got"):
            PopulationRNN(w, n_in, n_out, gens)
    smallest = PopulationRNN(w, 1, 2, gens)  # one input, two classes: allowed
    assert smallest.U.shape == (2, 4, 1) and smallest.V.shape == (2, 2, 4)
    # pydantic guards the config; a config built without validation must still be refused
    odd = ModelConfig.model_construct(activation="gelu")
    with pytest.raises(
        ValueError, match=r"unknown activation 'gelu': use one of \['relu', 'tanh'\]"
    ):
        PopulationRNN(w, 3, 2, gens, odd)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_parameters_take_the_requested_dtype_and_device(dtype: torch.dtype) -> None:
    """Every parameter is in `dtype` on w_init's device ("meta" stands in for an accelerator)."""
    w = torch.zeros(2, 4, 4, dtype=torch.float64 if dtype == torch.float32 else torch.float32)
    model = PopulationRNN(w, 3, 2, _gens([1, 2]), dtype=dtype)
    assert {p.dtype for p in model.parameters()} == {dtype}
    meta = PopulationRNN(w.to("meta"), 3, 2, _gens([1, 2]), dtype=dtype)
    assert {p.device.type for p in meta.parameters()} == {"meta"}


def test_recurrent_bias_trainable_only_with_bias() -> None:
    """config.bias=False: the recurrent bias b stays zero and is not trained; the read-out's
    bias c always is (Keras Dense)."""
    w = torch.zeros(2, 4, 4)
    with_b = PopulationRNN(w, 3, 2, _gens([1, 2]), ModelConfig(bias=True))
    without = PopulationRNN(w, 3, 2, _gens([1, 2]), ModelConfig(bias=False))
    assert set(with_b.named_trainables()) == {"W", "U", "b", "V", "c"}
    assert set(without.named_trainables()) == {"W", "U", "V", "c"}


def test_glorot_uniform_is_float64_within_the_keras_limit() -> None:
    u = glorot_uniform(10, 6, (6, 10), torch.Generator().manual_seed(3))
    assert u.dtype == torch.float64 and u.shape == (6, 10)
    limit = (6.0 / 16.0) ** 0.5
    assert float(u.abs().max()) <= limit and float(u.abs().max()) > 0.8 * limit


# --- regularizer pieces ---------------------------------------------------------------------


def test_resample_sorted_hand_computed_quantiles() -> None:
    """Mid-point plotting positions: 2 -> 4 values and 4 -> 2 values worked by hand."""
    np.testing.assert_allclose(resample_sorted(np.array([1.0, 0.0]), 4), [0.0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(resample_sorted(np.array([3.0, 0.0, 2.0, 1.0]), 2), [0.5, 2.5])
    same = resample_sorted(np.array([[3, 1], [2, 0]]), 4)  # same size: sorted, float64
    assert same.dtype == np.float64
    np.testing.assert_array_equal(same, [0.0, 1.0, 2.0, 3.0])


def test_resample_sorted_refuses_empty_and_non_finite_targets() -> None:
    with pytest.raises(ValueError, match=r"^emd_target is empty: it must hold the connectome"):
        resample_sorted(np.array([]), 3)
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError, match=r"^emd_target holds NaN or infinite values$"):
            resample_sorted(np.array([0.1, bad, 0.3]), 3)


def test_wasserstein_sorted_matches_scipy_on_a_batch() -> None:
    """Equal-size sorted samples, batched [2, 3, m]: each entry is scipy's W1."""
    rng = np.random.default_rng(15)
    a = np.sort(rng.gamma(0.5, size=(2, 3, 20)), axis=-1)
    b = np.sort(rng.normal(size=(2, 3, 20)), axis=-1)
    got = wasserstein_sorted(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    assert got.shape == (2, 3)
    for idx in np.ndindex(2, 3):
        assert got[idx] == pytest.approx(
            scipy.stats.wasserstein_distance(a[idx], b[idx]), rel=1e-12
        )


# --- expm -----------------------------------------------------------------------------------


def _taylor_series(x: np.ndarray, degree: int = 12) -> np.ndarray:
    """sum_{k <= degree} x^k / k!, term by term in numpy."""
    out = np.eye(x.shape[-1])
    term = np.eye(x.shape[-1])
    for k in range(1, degree + 1):
        term = term @ x / k
        out = out + term
    return out


def test_taylor12_is_the_degree_12_series() -> None:
    """At norm ~2 the series terms up to x^12 / 12! are all visible in float64."""
    rng = np.random.default_rng(20)
    x = rng.normal(size=(7, 7)) * 2.0 / np.sqrt(7)
    got = taylor12(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, _taylor_series(x), rtol=1e-13, atol=1e-13)
    # ... and not the degree-11 or degree-13 series
    assert np.abs(_taylor_series(x, 11) - _taylor_series(x)).max() > 1e-9
    assert np.abs(_taylor_series(x, 13) - _taylor_series(x)).max() > 1e-10


def test_squarings_needed_hand_computed() -> None:
    """s = ceil(log2(||x||_1 / theta)), at least 0, at most 64; theta = 1/4 (float64), 5/4
    (float32); NaN/inf and inactive matrices get 0."""

    def one_norm(v: float) -> np.ndarray:
        m = np.zeros((3, 3))
        m[:, 1] = v / 3.0  # column 1 sums to v; every row sums to v / 3
        return m

    norms = [0.1, 0.25, 0.3, 3.0, 1e300]
    x = torch.from_numpy(np.stack([one_norm(v) for v in norms]))
    assert squarings_needed(x).tolist() == [0, 0, 1, 4, 64]
    assert squarings_needed(x[:4].float()).tolist() == [0, 0, 0, 2]
    # float32 at the edge: 1.25 needs none, just above it one, 2.5 one, just above it two
    edge = torch.from_numpy(np.stack([one_norm(v) for v in (1.2, 1.25, 1.26, 2.5, 2.52)]))
    assert squarings_needed(edge.float()).tolist() == [0, 0, 1, 1, 2]
    assert squarings_needed(x[3]).tolist() == 4  # a single matrix: a 0-d count
    bad = torch.stack([x[3], torch.full((3, 3), float("nan"), dtype=torch.float64)])
    bad = torch.cat([bad, torch.full((1, 3, 3), float("inf"), dtype=torch.float64)])
    assert squarings_needed(bad).tolist() == [4, 0, 0]
    active = torch.tensor([False, True, True, True, False])
    assert squarings_needed(x, active).tolist() == [0, 0, 1, 4, 0]
    batch = torch.from_numpy(np.stack([np.stack([one_norm(3.0), one_norm(0.1)])] * 2))
    assert squarings_needed(batch).tolist() == [[4, 0], [4, 0]]  # [2, 2, 3, 3] batch


def test_expm_any_batch_shape_matches_scipy() -> None:
    """A single matrix [n, n] and a [2, 3, n, n] batch of mixed norms, against scipy."""
    rng = np.random.default_rng(21)
    single = rng.normal(size=(5, 5)) * 3.0
    np.testing.assert_allclose(
        expm(torch.from_numpy(single)).numpy(), scipy.linalg.expm(single), rtol=1e-11
    )
    scales = np.array([0.01, 0.5, 2.0, 4.0, 9.0, 1.0]).reshape(2, 3, 1, 1)
    batch = rng.normal(size=(2, 3, 5, 5)) * scales
    got = expm(torch.from_numpy(batch)).numpy()
    for idx in np.ndindex(2, 3):
        ref = scipy.linalg.expm(batch[idx])
        assert np.linalg.norm(got[idx] - ref) / np.linalg.norm(ref) < 1e-12


@pytest.mark.parametrize("nonnegative", [False, True])
def test_float32_expm_is_accurate_to_working_precision_up_to_theta(nonnegative: bool) -> None:
    """float32 at 1-norms up to theta = 1.25, where no squaring is done: within a few units
    of float32 roundoff of scipy's float64 exponential. Nonnegative matrices whose columns all
    sum to the 1-norm (spectral radius = 1-norm) are the worst case of the series' truncation:
    at 2.4 left unsquared, it would be off by ~20 units."""
    rng = np.random.default_rng(23)
    n = 60
    for target in (0.9, 1.1, 1.2, 1.25, 1.3, 2.4):
        x = rng.normal(size=(n, n))
        if nonnegative:
            x = np.abs(x) * (rng.random((n, n)) < 0.3)
            x *= target / x.sum(axis=0)
        else:
            x *= target / np.abs(x).sum(axis=0).max()
        got = expm(torch.from_numpy(x).float()).double().numpy()
        ref = scipy.linalg.expm(x)
        assert np.linalg.norm(got - ref, 1) / np.linalg.norm(ref, 1) < 8 * 2.0**-24, target


def test_expm_inactive_matrices_get_the_unsquared_series() -> None:
    """active=False: that matrix's result is the plain degree-12 series (documented cheap
    value); the active ones are still exact, and unaffected by the inactive ones."""
    rng = np.random.default_rng(22)
    x = rng.normal(size=(3, 6, 6)) * np.array([3.0, 1.5, 0.5])[:, None, None]
    active = torch.tensor([True, False, True])
    got = expm(torch.from_numpy(x), active).numpy()
    np.testing.assert_allclose(got[0], scipy.linalg.expm(x[0]), rtol=1e-11)
    np.testing.assert_allclose(got[2], scipy.linalg.expm(x[2]), rtol=1e-11)
    np.testing.assert_allclose(got[1], _taylor_series(x[1]), rtol=1e-13, atol=1e-13)
    assert np.abs(_taylor_series(x[1]) - scipy.linalg.expm(x[1])).max() > 1e-8


def test_expm_pieces_keep_the_input_device() -> None:
    """ "meta" stands in for an accelerator: the series' identity and the squaring counts are
    made on the matrices' device (the active mask may come from elsewhere)."""
    x = torch.zeros(2, 4, 4, device="meta")
    assert taylor12(x).device.type == "meta"
    assert squarings_needed(x, torch.tensor([True, False])).device.type == "meta"


def test_expm_of_an_empty_batch_is_empty() -> None:
    """A pack slice with no matrices (e.g. no network has a C term) is a valid input."""
    out = expm(torch.zeros(0, 4, 4, dtype=torch.float64))
    assert out.shape == (0, 4, 4) and out.dtype == torch.float64


def test_expm_refuses_non_square_input() -> None:
    for shape in ((4,), (3, 4), (2, 3, 4), (2, 4, 3, 4)):
        with pytest.raises(ValueError, match=r"expm needs square matrices \[\.\.\., n, n\], got"):
            expm(torch.zeros(shape))


# --- regularizer: the pack ------------------------------------------------------------------

N_REG = 6


def _keras_c(w: np.ndarray, eps: float, exp=scipy.linalg.expm) -> np.ndarray:
    """seRNN's C on the Keras kernel K = |W|^T (pre, post): row-sum strengths, diagonal
    zeroed; returned transposed back to (post, pre)."""
    k = np.abs(w.T)
    d = np.diag(np.maximum(k.sum(axis=1), eps) ** -0.5)
    c = exp(d @ k @ d)
    np.fill_diagonal(c, 0.0)
    return c.T


def _penalty(w: np.ndarray, pr: NetworkPrior, exp=scipy.linalg.expm) -> float:
    """R = lam sum(|W| D [C]) + lam_emd W1(offdiag C, target), written out per network."""
    dist = np.ones_like(w) if pr.distance is None else pr.distance
    if pr.communicability == "none":
        return pr.lam * float((np.abs(w) * dist).sum())
    c = _keras_c(w, pr.strength_eps, exp)
    weight = c if pr.communicability == "direct" or pr.emd_weighting else 1.0
    out = pr.lam * float((np.abs(w) * dist * weight).sum())
    if pr.communicability == "emd":
        off = c[~np.eye(len(c), dtype=bool)]
        out += pr.lam_emd * scipy.stats.wasserstein_distance(off, pr.emd_target)
    return out


def _mixed_pack(rng: np.random.Generator) -> list[NetworkPrior]:
    n = N_REG
    pos = rng.random((n, 2))
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    target = rng.gamma(0.5, 0.3, size=n * (n - 1))
    z = np.zeros((n, n))
    return [
        NetworkPrior(w_init=z, distance=dist, lam=0.2),
        NetworkPrior(w_init=z, communicability="direct", lam=0.3, strength_eps=1e-3),
        NetworkPrior(w_init=z, communicability="emd", lam=0.1, lam_emd=0.7, emd_target=target),
        NetworkPrior(w_init=z, communicability="direct", communicability_grad=False, lam=0.5),
    ]


def test_pack_validates_priors_and_weights() -> None:
    rng = np.random.default_rng(30)
    z = np.zeros((N_REG, N_REG))
    good = NetworkPrior(w_init=z)
    cases = [
        ([], "^a pack needs at least one NetworkPrior$"),
        ([good, NetworkPrior(w_init=np.zeros((5, 5)))], r"prior 1: w_init has shape \(5, 5\)"),
        ([good, NetworkPrior(w_init=z, distance=np.ones((6, 5)))], "prior 1: distance has shape"),
        ([NetworkPrior(w_init=z, communicability="both")], "prior 0: unknown communicability"),  # type: ignore[arg-type]
        (
            [good, NetworkPrior(w_init=z, communicability="emd")],
            "prior 1: communicability 'emd' needs emd_target",
        ),
    ]
    for priors, message in cases:
        with pytest.raises(ValueError, match=message):
            PackRegularizer(priors)
    for bad in (np.nan, np.inf):
        dist = np.ones((N_REG, N_REG))
        dist[1, 2] = bad
        with pytest.raises(
            ValueError, match=r"^a prior's distance matrix holds NaN or infinite values$"
        ):
            PackRegularizer([good, NetworkPrior(w_init=z, distance=dist)])
    reg = PackRegularizer(_mixed_pack(rng))
    with pytest.raises(
        ValueError, match=r"weights have shape \(3, 6, 6\), the pack needs \(4, 6, 6\)"
    ):
        reg(torch.zeros(3, N_REG, N_REG))


def test_pack_in_float32_matches_scipy_and_stays_float32() -> None:
    rng = np.random.default_rng(31)
    priors = _mixed_pack(rng)
    w = rng.normal(size=(len(priors), N_REG, N_REG))
    got = PackRegularizer(priors)(torch.from_numpy(w).float())
    assert got.dtype == torch.float32
    ref = [_penalty(w[i], pr) for i, pr in enumerate(priors)]
    np.testing.assert_allclose(got.numpy(), ref, rtol=2e-5)


def test_pack_tensors_live_on_the_requested_device() -> None:
    """ "meta" stands in for an accelerator: everything the pack precomputes lives there."""
    reg = PackRegularizer(_mixed_pack(np.random.default_rng(32)), device="meta")
    tensors = {k: v for k, v in vars(reg).items() if isinstance(v, Tensor)}
    assert {"lam", "distance", "emd_target", "comm_eps", "offdiag"} <= set(tensors)
    assert {v.device.type for v in tensors.values()} == {"meta"}


def test_pack_active_mask_in_a_mixed_pack() -> None:
    """active (one flag per network of the pack): active networks get the exact penalty; an
    inactive network's C is the unsquared degree-12 series (the documented cheap value). The
    seRNN matrix has spectral radius <= 1, so that series is within ~1e-11 of exp: the checks
    on the inactive network are tight."""
    rng = np.random.default_rng(33)
    priors = _mixed_pack(rng)
    w = rng.normal(size=(len(priors), N_REG, N_REG))
    reg = PackRegularizer(priors, dtype=torch.float64)
    active = torch.tensor([True, True, False, True])
    got = reg(torch.from_numpy(w), active).numpy()
    exact = [_penalty(w[i], pr) for i, pr in enumerate(priors)]
    cheap = _penalty(w[2], priors[2], exp=_taylor_series)
    assert abs(cheap - exact[2]) > 1e-12 * abs(exact[2])  # the two values are distinguishable
    np.testing.assert_allclose(got[[0, 1, 3]], [exact[0], exact[1], exact[3]], rtol=1e-11)
    assert got[2] == pytest.approx(cheap, rel=1e-13)
    np.testing.assert_allclose(reg(torch.from_numpy(w)).numpy(), exact, rtol=1e-11)
    c = reg.communicability(torch.from_numpy(w), active).numpy()  # the three C networks
    assert c.shape == (3, N_REG, N_REG)
    np.testing.assert_allclose(c[0], _keras_c(w[1], 1e-3), rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(c[1], _keras_c(w[2], 1e-12, _taylor_series), rtol=0, atol=1e-14)
    np.testing.assert_allclose(c[2], _keras_c(w[3], 1e-12), rtol=1e-11, atol=1e-14)


def test_torch_matrix_exponential_method_matches_scipy() -> None:
    rng = np.random.default_rng(34)
    priors = _mixed_pack(rng)
    w = rng.normal(size=(len(priors), N_REG, N_REG))
    got = PackRegularizer(priors, dtype=torch.float64, method="torch")(torch.from_numpy(w))
    ref = [_penalty(w[i], pr) for i, pr in enumerate(priors)]
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-11)
    c = communicability(torch.from_numpy(w[1]), 1e-3, method="torch").numpy()
    np.testing.assert_allclose(c, _keras_c(w[1], 1e-3), rtol=1e-11, atol=1e-14)
    with pytest.raises(ValueError, match="unknown matrix exponential method 'pade': use 'taylor'"):
        communicability(torch.from_numpy(w[1]), 1e-3, method="pade")  # type: ignore[arg-type]
    meta = communicability(torch.zeros(2, 3, 3, device="meta"), 1e-12, method="torch")
    assert meta.device.type == "meta" and meta.shape == (2, 3, 3)
    # The pack honours method="torch": torch's matrix_exp needs no host-side squaring count,
    # so the penalty evaluates even on data-less "meta" tensors (the Taylor path cannot).
    pack = [priors[0], priors[1]]
    reg = PackRegularizer(pack, device="meta", method="torch")
    out = reg(torch.zeros(2, N_REG, N_REG, device="meta"), torch.tensor([True, False]))
    assert out.device.type == "meta" and out.shape == (2,)


def test_communicability_keeps_half_precision() -> None:
    """C (default Taylor method) comes back in the weights' dtype, half precisions included.
    (Not method="torch": torch's CPU matrix_exp returns inf/NaN in half precision.)"""
    w = torch.from_numpy(np.random.default_rng(37).normal(size=(2, N_REG, N_REG)))
    ref = _keras_c(w[0].numpy(), 1e-12)
    for dtype in (torch.bfloat16, torch.float16):
        c = communicability(w.to(dtype))
        assert c.dtype == dtype
        np.testing.assert_allclose(c[0].double().numpy(), ref, rtol=0.05, atol=0.02)


def test_communicability_defaults_and_strength_guard() -> None:
    """Default: Taylor method and strength_eps 1e-12 (weak weights, strengths << 1, are not
    clamped); a float strength_eps acts in the weights' precision; any batch shape."""
    rng = np.random.default_rng(35)
    w = rng.normal(size=(N_REG, N_REG)) * 1e-3
    np.testing.assert_allclose(
        communicability(torch.from_numpy(w)).numpy(), _keras_c(w, 1e-12), rtol=1e-11, atol=1e-15
    )
    silent = rng.normal(size=(N_REG, N_REG))
    silent[:, 3] = 0.0  # unit 3 sends nothing: its strength is raised to eps
    got = communicability(torch.from_numpy(silent), 1e-6).numpy()
    np.testing.assert_allclose(got, _keras_c(silent, 1e-6), rtol=1e-12, atol=1e-12)
    batch = rng.normal(size=(2, 3, N_REG, N_REG))
    got_b = communicability(torch.from_numpy(batch), 1e-12).numpy()
    for idx in np.ndindex(2, 3):
        np.testing.assert_allclose(got_b[idx], _keras_c(batch[idx], 1e-12), rtol=1e-11, atol=1e-15)


def test_pack_without_communicability_is_the_weighted_l1() -> None:
    """No network has a C term: R_p = lam_p sum(|W_p| D_p) (D = 1 without a space term)."""
    rng = np.random.default_rng(36)
    pos = rng.random((N_REG, 2))
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    z = np.zeros((N_REG, N_REG))
    priors = [NetworkPrior(w_init=z, lam=0.25), NetworkPrior(w_init=z, distance=dist, lam=2.0)]
    w = rng.normal(size=(2, N_REG, N_REG))
    got = PackRegularizer(priors, dtype=torch.float64)(torch.from_numpy(w)).numpy()
    ref = [0.25 * np.abs(w[0]).sum(), 2.0 * (np.abs(w[1]) * dist).sum()]
    np.testing.assert_allclose(got, ref, rtol=1e-13)
