"""The population RNN against a per-network numpy transcription of Keras SimpleRNN + Dense."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.model.population import PopulationRNN, per_network_ce

torch.set_num_threads(1)
P, N, T, B, NIN, NOUT = 3, 7, 6, 4, 3, 2


def _gens(seeds: list[int]) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(s) for s in seeds]


def _numpy_forward(w, u, b, v, c, x, alpha, act):
    """One network, Keras layout: kernel (n_in, N), recurrent kernel (pre, post) = W^T."""
    h = np.zeros((x.shape[1], w.shape[0]))
    for t in range(x.shape[0]):
        r = act(x[t] @ u.T + h @ w.T + b)
        h = (1 - alpha) * h + alpha * r
    return h @ v.T + c


@pytest.mark.parametrize(("alpha", "activation"), [(1.0, "relu"), (0.3, "relu"), (0.5, "tanh")])
def test_forward_matches_numpy_loop(alpha: float, activation: str) -> None:
    rng = np.random.default_rng(0)
    w = rng.normal(size=(P, N, N)) / np.sqrt(N)
    cfg = ModelConfig(alpha=alpha, activation=activation, noise_in=0.1, noise_rec=0.2)
    model = PopulationRNN(
        torch.from_numpy(w), NIN, NOUT, _gens([1, 2, 3]), cfg, dtype=torch.float64
    )
    with torch.no_grad():
        model.b.copy_(torch.from_numpy(rng.normal(size=(P, N))))
        model.c.copy_(torch.from_numpy(rng.normal(size=(P, NOUT))))
    x = rng.normal(size=(T, P, B, NIN))
    nin = rng.normal(size=(T, P, B, NIN))
    nrec = rng.normal(size=(T, P, B, N))
    got = model(torch.from_numpy(x), torch.from_numpy(nin), torch.from_numpy(nrec)).detach().numpy()
    act = (lambda z: np.maximum(z, 0)) if activation == "relu" else np.tanh
    prm = {k: p.detach().numpy() for k, p in model.named_parameters()}
    for p in range(P):
        xin = x[:, p] + 0.1 * nin[:, p]
        # Recurrent noise enters the pre-activation: fold it into a per-step bias.
        h = np.zeros((B, N))
        for t in range(T):
            r = act(xin[t] @ prm["U"][p].T + h @ w[p].T + prm["b"][p] + 0.2 * nrec[t, p])
            h = (1 - alpha) * h + alpha * r
        ref = h @ prm["V"][p].T + prm["c"][p]
        np.testing.assert_allclose(got[p], ref, rtol=1e-12, atol=1e-12)
    # Without noise the simple transcription applies directly.
    got0 = model(torch.from_numpy(x)).detach().numpy()
    for p in range(P):
        ref = _numpy_forward(
            w[p], prm["U"][p], prm["b"][p], prm["V"][p], prm["c"][p], x[:, p], alpha, act
        )
        np.testing.assert_allclose(got0[p], ref, rtol=1e-12, atol=1e-12)


def test_keras_default_init_per_network() -> None:
    w = torch.zeros(2, 50, 50)
    a = PopulationRNN(w, 8, 4, _gens([5, 6]))
    b = PopulationRNN(w, 8, 4, _gens([5, 9]))
    lim_u, lim_v = math.sqrt(6 / (8 + 50)), math.sqrt(6 / (50 + 4))
    assert a.U.abs().max() <= lim_u and a.U.abs().max() > 0.9 * lim_u
    assert a.V.abs().max() <= lim_v and a.V.abs().max() > 0.9 * lim_v
    assert float(a.U.detach().mean()) == pytest.approx(0.0, abs=0.05 * lim_u)
    assert torch.equal(a.U[0], b.U[0]) and not torch.equal(a.U[1], b.U[1])
    assert torch.count_nonzero(a.b) == 0 and torch.count_nonzero(a.c) == 0


def test_cross_entropy_and_accuracy_per_network() -> None:
    logits = torch.tensor([[[2.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [3.0, -1.0]]])
    labels = torch.tensor([[0, 0], [1, 0]])
    ce, acc = per_network_ce(logits, labels)
    lse = lambda z: np.log(np.exp(z).sum())  # noqa: E731
    ref0 = ((lse([2, 0]) - 2) + (lse([0, 1]) - 0)) / 2
    ref1 = ((lse([0, 1]) - 1) + (lse([3, -1]) - 3)) / 2
    np.testing.assert_allclose(ce.numpy(), [ref0, ref1], rtol=1e-6)
    np.testing.assert_allclose(acc.numpy(), [0.5, 1.0])


@pytest.mark.parametrize(("alpha", "activation"), [(1.0, "relu"), (0.3, "relu"), (0.6, "tanh")])
def test_hand_written_bptt_matches_autograd(alpha: float, activation: str) -> None:
    rng = np.random.default_rng(1)
    w = torch.from_numpy(rng.normal(size=(P, N, N)) / np.sqrt(N))
    cfg = ModelConfig(alpha=alpha, activation=activation, noise_in=0.1)
    x = torch.from_numpy(rng.normal(size=(T, P, B, NIN)))
    noise = torch.from_numpy(rng.normal(size=(T, P, B, NIN)))
    grads = {}
    for scan in ("bptt", "autograd"):
        m = PopulationRNN(w, NIN, NOUT, _gens([1, 2, 3]), cfg, dtype=torch.float64, scan=scan)
        out = m(x, noise)
        out.pow(2).sum().backward()
        grads[scan] = (out.detach(), {k: p.grad.clone() for k, p in m.named_parameters()})
    torch.testing.assert_close(grads["bptt"][0], grads["autograd"][0], rtol=1e-13, atol=1e-13)
    for k, g in grads["autograd"][1].items():
        torch.testing.assert_close(grads["bptt"][1][k], g, rtol=1e-11, atol=1e-12)


def test_bptt_gradcheck() -> None:
    from cortexrnn.services.model.bptt import recurrent_scan

    rng = np.random.default_rng(2)
    d = torch.from_numpy(rng.normal(size=(4, 2, 3, 5))).requires_grad_(True)
    w = torch.from_numpy(rng.normal(size=(2, 5, 5)) / 2).requires_grad_(True)
    for alpha, act in ((1.0, "relu"), (0.4, "tanh")):
        assert torch.autograd.gradcheck(
            lambda a, b, alpha=alpha, act=act: recurrent_scan(a, b, alpha, act),
            (d, w),
            eps=1e-6,
            atol=1e-6,
        )
