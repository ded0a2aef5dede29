"""MaskedAdam against independent references: torch.optim.Adam and a plain transcription of
Keras' Adam, over hundreds of steps on random gradients, with networks masked in and out.

Epsilon conventions (derived from the two update rules, not assumed):

    Keras / MaskedAdam:  w -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps_k)
    torch.optim.Adam:    w -= lr * m_hat / (sqrt(v_hat) + eps_t),
                         m_hat = m / (1 - b1^t),  v_hat = v / (1 - b2^t)

Dividing numerator and denominator of the Keras form by sqrt(1 - b2^t):

    Keras step = lr * m_hat / (sqrt(v_hat) + eps_k / sqrt(1 - b2^t)),

so the two agree exactly when eps_t = eps_k / sqrt(1 - b2^t): a *time-varying* torch epsilon.
torch.optim.Adam only takes a constant one, so it is compared with eps negligible (1e-14 in
float64; gradients 1e-2..1e1); the exact convention is checked against (i) the Keras
transcription and (ii) a torch-style transcription with the time-varying epsilon above, both
with a large eps (1e-2) where getting the convention wrong shows.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cortexrnn.services.training.adam import MaskedAdam

torch.set_num_threads(1)

SHAPES = {"W": (6, 6), "U": (6, 3), "b": (6,)}
P = 3  # networks


def keras_adam_reference(w0, grads, active, lr, b1, b2, eps):
    """Keras' Adam (optimizer_v2 / Keras 3 `Adam.update_step`) for ONE parameter array of ONE
    network, written out in numpy float64. grads: list of arrays; active: list of bools (a
    skipped step neither moves the weights nor advances t)."""
    w = np.array(w0, dtype=np.float64)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    t = 0
    for g, on in zip(grads, active, strict=False):
        if not on:
            continue
        t += 1
        m = b1 * m + (1.0 - b1) * g
        v = b2 * v + (1.0 - b2) * g * g
        lr_t = lr * math.sqrt(1.0 - b2**t) / (1.0 - b1**t)
        w = w - lr_t * m / (np.sqrt(v) + eps)
    return w


def torch_style_adam_varying_eps(w0, grads, active, lr, b1, b2, eps_k):
    """torch's bias-corrected form with eps_t = eps_k / sqrt(1 - b2^t) (the mapping derived
    in the module docstring)."""
    w = np.array(w0, dtype=np.float64)
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    t = 0
    for g, on in zip(grads, active, strict=False):
        if not on:
            continue
        t += 1
        m = b1 * m + (1.0 - b1) * g
        v = b2 * v + (1.0 - b2) * g * g
        m_hat = m / (1.0 - b1**t)
        v_hat = v / (1.0 - b2**t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + eps_k / math.sqrt(1.0 - b2**t))
    return w


def _problem(steps: int, seed: int, grad_scale: float = 1.0):
    rng = np.random.default_rng(seed)
    init = {k: rng.normal(size=(P, *s)) for k, s in SHAPES.items()}
    # Gradients with a drifting mean (so momentum matters) and per-entry scales spanning 1e-2..1e1.
    scale = {k: 10.0 ** rng.uniform(-2, 1, size=(P, *s)) for k, s in SHAPES.items()}
    grads = [
        {
            k: grad_scale * scale[k] * (rng.normal(size=(P, *s)) + np.sin(0.05 * t))
            for k, s in SHAPES.items()
        }
        for t in range(steps)
    ]
    # Network 0 always active; network 1 active ~70 % of steps; network 2 never active.
    act = np.zeros((steps, P), dtype=bool)
    act[:, 0] = True
    act[:, 1] = rng.random(steps) < 0.7
    return init, grads, act


def _run_masked(init, grads, act, **hyper):
    params = {k: torch.nn.Parameter(torch.tensor(v, dtype=torch.float64)) for k, v in init.items()}
    opt = MaskedAdam(params, **hyper)
    for g, a in zip(grads, act, strict=False):
        for k, prm in params.items():
            prm.grad = torch.tensor(g[k], dtype=torch.float64)
        opt.step(torch.as_tensor(a))
    return {k: p.detach().numpy().copy() for k, p in params.items()}, opt


def test_masked_adam_matches_torch_optim_adam_over_300_steps_with_masks() -> None:
    steps, lr, b1, b2, eps = 300, 3e-3, 0.9, 0.999, 1e-14
    init, grads, act = _problem(steps, seed=0)
    ours, opt = _run_masked(init, grads, act, lr=lr, beta1=b1, beta2=b2, eps=eps)
    for p in range(P):
        ref = {
            k: torch.nn.Parameter(torch.tensor(v[p], dtype=torch.float64)) for k, v in init.items()
        }
        topt = torch.optim.Adam(list(ref.values()), lr=lr, betas=(b1, b2), eps=eps)
        for g, a in zip(grads, act, strict=False):
            if not a[p]:
                continue  # a frozen network: torch never sees the step (t does not advance)
            for k, prm in ref.items():
                prm.grad = torch.tensor(g[k][p], dtype=torch.float64)
            topt.step()
        for k in SHAPES:
            moved = np.abs(ref[k].detach().numpy() - init[k][p]).max()
            np.testing.assert_allclose(
                ours[k][p],
                ref[k].detach().numpy(),
                rtol=1e-8,
                atol=1e-10,
                err_msg=f"network {p}, parameter {k}",
            )
            if p < 2:
                assert moved > 0.05, (p, k, moved)  # the comparison is not between initial weights
    assert opt.t.tolist() == [steps, int(act[:, 1].sum()), 0]


def test_masked_adam_matches_keras_transcription_with_large_eps() -> None:
    """eps = 1e-2 with gradients down to 1e-3: the epsilon convention matters here."""
    steps, lr, b1, b2, eps = 250, 1e-2, 0.85, 0.99, 1e-2
    init, grads, act = _problem(steps, seed=1, grad_scale=0.1)
    ours, _ = _run_masked(init, grads, act, lr=lr, beta1=b1, beta2=b2, eps=eps)
    for p in range(P):
        for k in SHAPES:
            gk = [g[k][p] for g in grads]
            keras = keras_adam_reference(init[k][p], gk, act[:, p], lr, b1, b2, eps)
            np.testing.assert_allclose(
                ours[k][p], keras, rtol=1e-10, atol=1e-12, err_msg=f"{p} {k}"
            )
            varying = torch_style_adam_varying_eps(init[k][p], gk, act[:, p], lr, b1, b2, eps)
            np.testing.assert_allclose(keras, varying, rtol=1e-10, atol=1e-12)
            if p < 2:
                # torch's constant-eps convention gives a measurably different result here,
                # so the assertion above does pin the Keras convention.
                ref = torch.nn.Parameter(torch.tensor(init[k][p]))
                topt = torch.optim.Adam([ref], lr=lr, betas=(b1, b2), eps=eps)
                for g, a in zip(gk, act[:, p], strict=False):
                    if a:
                        ref.grad = torch.tensor(g)
                        topt.step()
                assert np.abs(ref.detach().numpy() - keras).max() > 1e-4


def test_bias_correction_and_step_size_are_pinned_by_the_first_step() -> None:
    """Hand-computed: at t = 1, m = (1 - b1) g, v = (1 - b2) g², so the Keras step is
    lr * sqrt(1 - b2) / (1 - b1) * (1 - b1) g / (sqrt(1 - b2) |g| + eps) = lr * sign(g) (eps -> 0):
    exactly lr, whatever |g|. Without bias correction it would be lr * sqrt(1-b2) = 0.0316 lr;
    with a 0.1x step 0.1 lr."""
    lr = 0.01
    w = torch.nn.Parameter(torch.zeros(2, 4, dtype=torch.float64))
    opt = MaskedAdam({"w": w}, lr=lr, eps=1e-15)
    w.grad = torch.tensor([[3.0, -0.02, 500.0, -7.0], [1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
    opt.step(torch.tensor([True, False]))
    np.testing.assert_allclose(w.detach().numpy()[0], [-lr, lr, -lr, lr], rtol=1e-9)
    assert np.array_equal(w.detach().numpy()[1], np.zeros(4))
    # Second step with the same gradient: m = (1 - b1^2) g, v = (1 - b2^2) g², again exactly lr.
    w.grad = torch.tensor([[3.0, -0.02, 500.0, -7.0], [1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)
    opt.step(torch.tensor([True, False]))
    np.testing.assert_allclose(w.detach().numpy()[0], [-2 * lr, 2 * lr, -2 * lr, 2 * lr], rtol=1e-9)


def test_masked_networks_never_move_bitwise() -> None:
    """A network masked out keeps its weights, moments and step count bit for bit, even while
    it has (large) gradients and its neighbours update; then it resumes exactly where it was."""
    steps = 200
    init, grads, act = _problem(steps, seed=2)
    params = {k: torch.nn.Parameter(torch.tensor(v, dtype=torch.float32)) for k, v in init.items()}
    opt = MaskedAdam(params, lr=1e-2)
    snap = None
    for i, (g, a) in enumerate(zip(grads, act, strict=False)):
        for k, prm in params.items():
            prm.grad = torch.tensor(g[k] * 100.0, dtype=torch.float32)
        before = (
            {k: p.detach().clone() for k, p in params.items()},
            {k: v.clone() for k, v in opt.m.items()},
            {k: v.clone() for k, v in opt.v.items()},
            opt.t.clone(),
        )
        opt.step(torch.as_tensor(a))
        for p in np.flatnonzero(~a):
            for k in SHAPES:
                assert torch.equal(params[k][p], before[0][k][p]), (i, p, k)
                assert torch.equal(opt.m[k][p], before[1][k][p]) and torch.equal(
                    opt.v[k][p], before[2][k][p]
                )
            assert int(opt.t[p]) == int(before[3][p])
        for p in np.flatnonzero(a):
            assert int(opt.t[p]) == int(before[3][p]) + 1
            assert not torch.equal(params["W"][p], before[0]["W"][p])
        snap = before
    assert snap is not None
    for k in SHAPES:  # network 2 was never active
        assert torch.equal(params[k][2], torch.tensor(init[k][2], dtype=torch.float32))
        assert not opt.m[k][2].any() and not opt.v[k][2].any()


@pytest.mark.parametrize("factor", [0.1, 10.0])
def test_reference_distinguishes_a_rescaled_step(factor: float) -> None:
    """The tolerance used above is far below the effect of a 10x learning-rate error."""
    steps, lr = 200, 3e-3
    init, grads, act = _problem(steps, seed=3)
    ours, _ = _run_masked(init, grads, act, lr=lr, eps=1e-7)
    gk = [g["W"][0] for g in grads]
    wrong = keras_adam_reference(init["W"][0], gk, act[:, 0], lr * factor, 0.9, 0.999, 1e-7)
    right = keras_adam_reference(init["W"][0], gk, act[:, 0], lr, 0.9, 0.999, 1e-7)
    np.testing.assert_allclose(ours["W"][0], right, rtol=1e-9, atol=1e-11)
    assert np.abs(wrong - right).max() > 1e-2
