"""What a scientist or an operator checks of the training service, each against a reference of
its own (a plain autograd transcription of the model, torch.nn.utils.clip_grad_norm_,
torch.optim.Adam's bookkeeping, hand-computed values), never against the trainer's output:

- gradient clipping is clip_grad_norm_ over each network's own parameters, with recurrent
  noise drawn from the documented stream;
- every held-out evaluation (uneven chunks included), every epoch record and every progress
  row holds the numbers a plain forward pass over the same trials gives;
- checkpoints land at the stated steps, a cancel after the last step is no cancel, the
  TensorFloat-32 switch is put back;
- the optimiser's state round-trips, refuses state of another shape and keeps its precision;
- sign constraints, held-out set errors, checkpoint files and fingerprints behave as stated.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.priors.network_prior import NetworkPrior
from cortexrnn.services.tasks import batch_generator, get_task
from cortexrnn.services.training import heldout as heldout_mod
from cortexrnn.services.training import trainer as trainer_mod
from cortexrnn.services.training.adam import MaskedAdam
from cortexrnn.services.training.checkpoint import (
    load_checkpoint,
    pack_fingerprint,
    save_checkpoint,
)
from cortexrnn.services.training.config import TrainingConfig
from cortexrnn.services.training.evaluation import EvaluationConfig
from cortexrnn.services.training.heldout import heldout_batch
from cortexrnn.services.training.results import TrainingCallbacks
from cortexrnn.services.training.sign import SignProjection
from cortexrnn.services.training.trainer import PopulationTrainer, train_population
from tests.training import autograd_reference as reference

torch.set_num_threads(1)

N = 6
TASK = get_task("go_no_go", fixation=1, stimulus=3, delay=1, decision=1, sigma=0.1)
TOL = 1e-8  # absolute, float64 throughout


def _prior(seed: int, **kw: object) -> NetworkPrior:
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(N, N)))
    pos = rng.random((N, 3))
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    return NetworkPrior(w_init=q, distance=d / d.max(), **kw)  # type: ignore[arg-type]


def _cfg(**kw: object) -> TrainingConfig:
    base: dict[str, object] = dict(
        lr=2e-2,
        batch_size=8,
        train_trials=8 * 3,
        epochs=2,
        test_trials=8,
        checkpoint_every_steps=None,
        trial_stream="fresh",
    )
    base.update(kw)
    return TrainingConfig(**base)  # type: ignore[arg-type]


def _train_reference(init, prior: NetworkPrior, seed: int, model: ModelConfig, cfg, **kw):
    """The plain transcription (tests/training/autograd_reference.py) of one network."""
    t = reference.train(init, prior.distance, prior.lam, TASK, seed, model, cfg, **kw)
    return t.rows, t.evals, t.final


def _trainer(priors, seeds, model, cfg, **kw) -> PopulationTrainer:
    return PopulationTrainer(priors, seeds, TASK, model, cfg, dtype=torch.float64, **kw)


def _init(tr: PopulationTrainer, p: int) -> dict[str, torch.Tensor]:
    return {k: v.detach()[p].clone() for k, v in tr.params.items()}


def _cancel_after(steps: int) -> TrainingCallbacks:
    """Callbacks that cancel the pack when it asks for the `steps`-th time (after that step)."""
    asked = {"n": 0}

    def cancel() -> bool:
        asked["n"] += 1
        return asked["n"] == steps

    return TrainingCallbacks(should_cancel=cancel)


def _count_matrix_exp(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that gets one entry per call of torch.linalg.matrix_exp from now on."""
    calls: list[int] = []
    orig = torch.linalg.matrix_exp

    def counted(x: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return orig(x)

    monkeypatch.setattr(torch.linalg, "matrix_exp", counted)
    return calls


# ----- gradient clipping and recurrent noise ----------------------------------------------


def test_gradient_clipping_is_clip_grad_norm_per_network_with_recurrent_noise() -> None:
    """grad_clip rescales each network's whole gradient (W, U, b, V, c together) to norm
    <= grad_clip, as torch.nn.utils.clip_grad_norm_ does for that network alone; recurrent
    noise is noise_rec * N(0, 1) from (seed, "noise", step), drawn after the input noise.
    Adam's eps is large here, so that the gradient's scale shows in the step."""
    model = ModelConfig(noise_in=0.1, noise_rec=0.2, alpha=0.7)
    clip = 0.4
    cfg = _cfg(grad_clip=clip, adam_eps=0.05, epochs=4)
    priors = [_prior(1, lam=0.02), _prior(2, lam=0.05)]
    seeds = [21, 22]
    tr = _trainer(priors, seeds, model, cfg)
    inits = [_init(tr, p) for p in range(2)]
    res = tr.run()
    for p in range(2):
        rows, _, final = _train_reference(inits[p], priors[p], seeds[p], model, cfg, clip=clip)
        net = res.networks[p]
        np.testing.assert_allclose(net.step_loss, rows[:, 0], rtol=0, atol=TOL)
        np.testing.assert_allclose(net.step_reg, rows[:, 2], rtol=0, atol=TOL)
        for k, w in final.items():
            np.testing.assert_allclose(net.final_weights[k], w.numpy(), rtol=0, atol=1e-9)
        # Both regimes occur: steps clipped and steps left alone (norm below the bound).
        assert (rows[:, 3] > clip).any() and (rows[:, 3] < clip).any(), rows[:, 3]
        # Sensitivity: without clipping, or without recurrent noise, the trajectory differs.
        unclipped, _, _ = _train_reference(inits[p], priors[p], seeds[p], model, cfg)
        assert np.abs(unclipped[:, 0] - rows[:, 0]).max() > 1e3 * TOL
        quiet = ModelConfig(noise_in=0.1, noise_rec=0.0, alpha=0.7)
        no_rec, _, _ = _train_reference(inits[p], priors[p], seeds[p], quiet, cfg, clip=clip)
        assert np.abs(no_rec[:, 0] - rows[:, 0]).max() > 1e3 * TOL


def test_clipping_matches_clip_grad_norm_to_float64_roundoff_and_skips_frozen_networks() -> None:
    """The clip itself on given gradients: each active network's gradient, over all its
    parameters, scaled as clip_grad_norm_ scales it (to float64 roundoff: the norm is summed in
    the pack's dtype); a network that is not training keeps its gradient as it is."""
    clip = 0.5
    priors = [_prior(s, lam=0.01) for s in (1, 2, 3)]
    tr = _trainer(priors, [1, 2, 3], ModelConfig(), _cfg(grad_clip=clip))
    gen = torch.Generator().manual_seed(7)
    # Network 0's norm is far above the clip, 1's below it, 2's above it but frozen.
    scales = torch.tensor([3.0, 0.01, 2.0], dtype=torch.float64)
    for prm in tr.params.values():
        noise = torch.randn(prm.shape, generator=gen, dtype=torch.float64)
        prm.grad = noise * scales.view((-1,) + (1,) * (prm.dim() - 1)) / math.sqrt(prm[0].numel())
    given = {k: prm.grad.clone() for k, prm in tr.params.items()}  # type: ignore[union-attr]
    tr._clip(torch.tensor([True, True, False]))
    for p in range(2):
        want = [given[k][p].clone().requires_grad_() for k in given]
        for w in want:
            w.grad = w.detach().clone()
        norm = torch.nn.utils.clip_grad_norm_(want, clip)
        assert (norm > clip) == (p == 0), norm
        for k, w in zip(given, want, strict=True):
            got = tr.params[k].grad[p]  # type: ignore[index]
            torch.testing.assert_close(got, w.grad, rtol=1e-14, atol=0.0)
    for k, prm in tr.params.items():
        assert torch.equal(prm.grad[2], given[k][2])  # type: ignore[index]


def test_recurrent_noise_alone_is_the_first_draw_of_the_noise_stream() -> None:
    """With no input noise, the recurrent noise is the first draw from (seed, "noise",
    step): a run is reproducible from the documented streams whatever noise is switched on."""
    model = ModelConfig(noise_in=0.0, noise_rec=0.3)
    cfg = _cfg()
    pr = _prior(5, lam=0.01)
    tr = _trainer([pr], [8], model, cfg)
    init = _init(tr, 0)
    net = tr.run().networks[0]
    rows, _, _ = _train_reference(init, pr, 8, model, cfg)
    np.testing.assert_allclose(net.step_loss, rows[:, 0], rtol=0, atol=TOL)
    quiet, _, _ = _train_reference(init, pr, 8, ModelConfig(noise_in=0.0, noise_rec=0.0), cfg)
    assert np.abs(quiet[:, 0] - rows[:, 0]).max() > 1e3 * TOL


# ----- evaluations, epoch records, progress rows -------------------------------------------


def test_evaluations_epoch_records_and_progress_rows_hold_the_reference_numbers() -> None:
    """test_trials 20 in chunks of 8 (8, 8, 4: the short chunk weighs 4/20), evaluated every
    4 steps and at each epoch's end (6 steps); epoch records are the means over the epoch's
    steps; progress rows are the last step's numbers and the last evaluation's accuracy."""
    model = ModelConfig(noise_in=0.05, noise_rec=0.0, alpha=1.0)
    cfg = _cfg(train_trials=8 * 6, test_trials=20, eval_every_steps=4)
    assert cfg.steps_per_epoch == 6 and cfg.total_steps == 12
    priors = [_prior(3, lam=0.01), _prior(4)]
    seeds = [5, 6]
    seen: list[tuple[int, int, list[dict[str, object]]]] = []
    cb = TrainingCallbacks(progress=lambda s, t, rows: seen.append((s, t, rows)))
    tr = _trainer(priors, seeds, model, cfg, callbacks=cb)
    inits = [_init(tr, p) for p in range(2)]
    # Before training: the held-out numbers of the initial weights.
    loss0, acc0 = tr.evaluate()
    for p in range(2):
        ref = reference.heldout(inits[p], TASK, seeds[p], cfg, model.alpha)
        assert abs(float(loss0[p]) - ref[0]) < TOL and abs(float(acc0[p]) - ref[1]) < TOL
    res = tr.run()
    assert res.step == res.total_steps == 12 and not res.cancelled and res.device == "cpu"
    assert [s for s, _, _ in seen] == list(range(1, 13)) and {t for _, t, _ in seen} == {12}
    for p in range(2):
        rows, evals, _ = _train_reference(inits[p], priors[p], seeds[p], model, cfg, evaluate=True)
        net = res.networks[p]
        assert net.index == p and net.seed == seeds[p] and net.status == "completed"
        assert net.steps_trained == 12 and net.diverged_step is None
        np.testing.assert_allclose(net.step_acc, rows[:, 1], rtol=0, atol=TOL)
        assert [e["step"] for e in net.evals] == [4, 6, 8, 12]
        for e in net.evals:
            assert abs(e["test_loss"] - evals[e["step"]][0]) < TOL, e
            assert abs(e["test_acc"] - evals[e["step"]][1]) < TOL, e
        assert net.final_test_acc == net.evals[-1]["test_acc"]
        assert [(e["epoch"], e["step"]) for e in net.epochs] == [(1, 6), (2, 12)]
        for e, sl in zip(net.epochs, (slice(0, 6), slice(6, 12)), strict=True):
            want = rows[sl, :3].mean(axis=0)
            got = [e["train_loss"], e["train_acc"], e["reg"]]
            np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
            assert abs(e["test_loss"] - evals[e["step"]][0]) < TOL
            assert abs(e["test_acc"] - evals[e["step"]][1]) < TOL
        for s, _, prog in seen:
            row = prog[p]
            assert (row["index"], row["seed"], row["status"]) == (p, seeds[p], "training")
            want = rows[s - 1]
            got = (row["loss"], row["acc"], row["reg"])
            np.testing.assert_allclose(got, want[:3], rtol=0, atol=TOL)
            last_eval = max((k for k in (4, 6, 8, 12) if k <= s), default=None)
            if last_eval is None:
                assert row["test_acc"] is None
            else:
                assert abs(row["test_acc"] - evals[last_eval][1]) < TOL  # type: ignore[operator]
    # The regulariser is the prior's own: zero for the prior without one.
    assert np.all(res.networks[1].step_reg == 0.0) and np.all(res.networks[0].step_reg > 0)


def test_an_emd_only_regulariser_is_trained_on() -> None:
    """lam = 0 with an EMD term (lam_emd > 0) still regularises: the step's reg is that of
    the regulariser on the weights the step started from, not zero."""
    from cortexrnn.services.model.regularizer import PackRegularizer

    rng = np.random.default_rng(0)
    target = np.sort(rng.gamma(0.5, 0.2, size=N * (N - 1)))
    pr = _prior(7, communicability="emd", lam=0.0, lam_emd=0.5, emd_target=target)
    cfg = _cfg(epochs=1)
    tr = _trainer([pr], [3], ModelConfig(), cfg)
    w0 = tr.model.W.detach().clone()
    res = tr.run()
    want = PackRegularizer([pr], torch.device("cpu"), torch.float64, "taylor")(
        w0, torch.tensor([True])
    )
    assert float(want[0]) > 1e-3
    assert abs(res.networks[0].step_reg[0] - float(want[0])) < 1e-10


def test_progress_names_diverged_and_stopped_networks_and_their_records() -> None:
    """A network whose loss overflows at step 0 is reported "diverged" with NaN numbers from
    the first row on and NaN epoch means; one that reaches the criterion with early stopping
    is "stopped" after that evaluation. Once every network is frozen the pack skips to the end
    of each epoch, keeping one NaN row per step and one record per epoch."""
    bad = NetworkPrior(w_init=np.full((N, N), 1e30))
    cfg = _cfg(train_trials=8 * 4, epochs=3, criterion=0.01, early_stop=True, eval_every_steps=2)
    seen: list[tuple[int, list[dict[str, object]]]] = []
    res = PopulationTrainer(
        [_prior(1), bad],
        [1, 2],
        TASK,
        ModelConfig(),
        cfg,
        callbacks=TrainingCallbacks(progress=lambda s, t, rows: seen.append((s, rows))),
    ).run()
    good, div = res.networks
    assert [s for s, _ in seen] == [1, 2, 4, 8, 12]
    assert [r[1]["status"] for _, r in seen] == ["diverged"] * 5
    assert all(math.isnan(r[1]["loss"]) for _, r in seen)  # type: ignore[arg-type]
    assert div.status == "diverged" and div.diverged_step == 0 and div.steps_trained == 0
    assert all(math.isnan(e["train_loss"]) for e in div.epochs)
    # criterion 0.01: reached at the first evaluation (step 2), then frozen.
    assert good.status == "stopped" and good.steps_to_criterion == 2 and good.steps_trained == 2
    assert [r[0]["status"] for _, r in seen] == ["training"] + ["stopped"] * 4
    assert len(good.step_loss) == 12 and np.isnan(good.step_loss[2:]).all()
    assert not np.isnan(good.step_loss[:2]).any()
    assert [e["step"] for e in good.evals] == [2, 4, 8, 12]
    assert [(e["epoch"], e["step"]) for e in good.epochs] == [(1, 4), (2, 8), (3, 12)]
    assert not math.isnan(good.epochs[0]["train_loss"])
    assert all(math.isnan(e["train_loss"]) for e in good.epochs[1:])


def test_an_epoch_with_a_single_trained_step_reports_that_steps_numbers() -> None:
    """A network early-stopped after one step: its first epoch's training loss is that one
    step's loss (a mean over one step), not missing."""
    cfg = _cfg(epochs=1, criterion=0.01, early_stop=True, eval_every_steps=1)
    net = PopulationTrainer([_prior(1)], [1], TASK, ModelConfig(), cfg).run().networks[0]
    assert net.status == "stopped" and net.steps_trained == 1
    assert net.epochs[0]["train_loss"] == pytest.approx(float(net.step_loss[0]), abs=1e-6)


def test_a_gradient_that_is_not_finite_freezes_its_network_though_the_loss_is_finite() -> None:
    """Divergence is a non-finite loss *or gradient*: a network whose gradient holds an inf
    (its loss finite) is frozen at that step with its initial weights; its neighbour trains."""
    tr = PopulationTrainer([_prior(1), _prior(2)], [1, 2], TASK, ModelConfig(), _cfg(epochs=1))
    w1 = tr.model.W.detach()[1].clone()

    def poison(g: torch.Tensor) -> torch.Tensor:
        g = g.clone()
        g[1, 0, 0] = math.inf
        return g

    tr.model.W.register_hook(poison)
    good, bad = tr.run().networks
    assert bad.status == "diverged" and bad.diverged_step == 0 and bad.steps_trained == 0
    assert np.array_equal(bad.final_weights["W"], w1.numpy())
    assert good.status == "completed" and good.steps_trained == 3


def test_steps_to_criterion_is_the_first_evaluation_at_or_above_it() -> None:
    """Without early stopping, steps_to_criterion is the step of the first evaluation whose
    accuracy reaches the criterion (>=, so an accuracy exactly at it counts), and it is not
    moved by later evaluations."""
    priors = [_prior(1), _prior(2)]
    cfg = _cfg(train_trials=8 * 4, epochs=3, eval_every_steps=1)
    res = _trainer(priors, [1, 2], ModelConfig(), cfg).run()
    for net in res.networks:
        accs = [(e["step"], e["test_acc"]) for e in net.evals]
        crit = sorted({a for _, a in accs})[1]  # a value some evaluation hits exactly
        cfg_c = _cfg(train_trials=8 * 4, epochs=3, eval_every_steps=1, criterion=crit)
        again = _trainer(priors, [1, 2], ModelConfig(), cfg_c).run().networks[net.index]
        first = next(s for s, a in accs if a >= crit)
        assert again.steps_to_criterion == first and again.status == "completed"
        assert any(a >= crit for s, a in accs if s > first)  # later ones did reach it too


@pytest.mark.parametrize(("method", "uses_torch"), [("torch", True), ("taylor", False)])
def test_the_expm_method_asked_for_is_the_one_used(
    method: str, uses_torch: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """training.expm_method "torch" evaluates the communicability with
    torch.linalg.matrix_exp; "taylor" never calls it."""
    calls = _count_matrix_exp(monkeypatch)
    pr = _prior(3, communicability="direct", lam=0.05)
    train_population([pr], [1], TASK, ModelConfig(), _cfg(epochs=1, expm_method=method))
    assert bool(calls) == uses_torch


@pytest.mark.parametrize("method", ["torch", "taylor"])
def test_after_a_divergence_the_rest_train_and_are_evaluated_as_without_it(
    method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a network diverges (step 0 here), the others get a regulariser of their own: it
    keeps the expm method asked for and the pack's float64, so they train exactly as in a
    pack without the diverged network; the diverged network's extra held-out sets are NaN."""
    calls = _count_matrix_exp(monkeypatch)
    good = [_prior(s, communicability="direct", lam=0.05) for s in (3, 4)]
    bad = NetworkPrior(w_init=np.full((N, N), 1e300))  # float64 activity overflows at once
    cfg = _cfg(epochs=2, expm_method=method)
    ev = EvaluationConfig(sets=["noisy"], noise_in=0.1)
    res = _trainer([good[0], bad, good[1]], [1, 2, 3], ModelConfig(), cfg, evaluation=ev).run()
    with_bad = len(calls)
    calls.clear()
    ref = _trainer(good, [1, 3], ModelConfig(), cfg, evaluation=ev).run()
    assert with_bad == len(calls) and (with_bad >= cfg.total_steps) == (method == "torch")
    assert res.networks[1].status == "diverged"
    assert math.isnan(res.networks[1].heldout_acc["test_acc_noisy"])
    for i, j in ((0, 0), (2, 1)):
        got, want = res.networks[i], ref.networks[j]
        for k, w in want.final_weights.items():
            np.testing.assert_allclose(got.final_weights[k], w, rtol=0, atol=1e-12)
        assert got.heldout_acc == want.heldout_acc


def test_a_pack_trains_and_resumes_alike_whatever_default_device_the_caller_set(
    tmp_path: Path,
) -> None:
    """A worker that sets torch's default device (torch.set_default_device) gets the same
    pack: every tensor is made on the trainer's device or, for the records, on the host. The
    meta device stands in for the other device on a CPU-only box (a tensor made without a
    device lands there and fails); the pack covers input and recurrent noise, clipping, a
    communicability term, a network that diverges, extra held-out sets and a resume."""
    priors = [
        _prior(1, communicability="direct", lam=0.05),
        NetworkPrior(w_init=np.full((N, N), 1e300)),
        _prior(2, lam=0.02),
    ]
    model = ModelConfig(noise_in=0.1, noise_rec=0.1)
    cfg = _cfg(epochs=3, grad_clip=0.5, checkpoint_every_steps=2)
    ev = EvaluationConfig(sets=["noisy", "jitter"], noise_in=0.1)
    want = _trainer(priors, [1, 2, 3], model, cfg, evaluation=ev).run()
    ck = tmp_path / "pack.pt"
    cancelling = _cancel_after(5)
    with torch.device("meta"):
        part = _trainer(
            priors, [1, 2, 3], model, cfg, evaluation=ev, callbacks=cancelling, checkpoint=ck
        ).run()
        got = _trainer(priors, [1, 2, 3], model, cfg, evaluation=ev, checkpoint=ck).run()
    assert part.cancelled and not got.cancelled
    for a, b in zip(got.networks, want.networks, strict=True):
        assert a.status == b.status
        for k, w in b.final_weights.items():
            assert np.array_equal(a.final_weights[k], w), k
        np.testing.assert_array_equal(a.step_loss, b.step_loss)
        np.testing.assert_equal((a.evals, a.epochs), (b.evals, b.epochs))  # NaN equals NaN
        assert a.heldout_acc == pytest.approx(b.heldout_acc, nan_ok=True)
    # A pack whose networks all stopped early skips to the end of each epoch with empty rows.
    stopping = _cfg(epochs=3, criterion=0.01, early_stop=True)
    want = _trainer(priors[::2], [1, 3], model, stopping).run()
    with torch.device("meta"):
        got = _trainer(priors[::2], [1, 3], model, stopping).run()
    for a, b in zip(got.networks, want.networks, strict=True):
        assert a.status == b.status == "stopped" and a.steps_trained < stopping.total_steps
        np.testing.assert_equal((a.step_loss, a.epochs), (b.step_loss, b.epochs))


def test_a_resume_from_before_the_first_evaluation_is_exact(tmp_path: Path) -> None:
    """A checkpoint written before any evaluation or epoch record (step 2 of 3-step epochs)
    resumes to the uninterrupted run's records and weights, no phantom rows included."""
    priors = [_prior(1, lam=0.02), _prior(2, communicability="direct", lam=0.05)]
    cfg = _cfg(epochs=2, checkpoint_every_steps=2)
    want = _trainer(priors, [1, 2], ModelConfig(), cfg).run()
    ck = tmp_path / "early.pt"
    part = _trainer(
        priors, [1, 2], ModelConfig(), cfg, callbacks=_cancel_after(2), checkpoint=ck
    ).run()
    assert part.cancelled and part.step == 2 and not part.networks[0].evals
    got = _trainer(priors, [1, 2], ModelConfig(), cfg, checkpoint=ck).run()
    for a, b in zip(got.networks, want.networks, strict=True):
        np.testing.assert_array_equal(a.step_loss, b.step_loss)
        assert a.evals == b.evals and a.epochs == b.epochs
        for k, w in b.final_weights.items():
            assert np.array_equal(a.final_weights[k], w), k


def test_every_purpose_draws_from_generators_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Initial weights, training trials, batch order, noise and held-out trials each come from
    their own (seed, chunk, stream) generators: no two purposes share one, so no draw is
    correlated with another's."""
    import inspect

    from cortexrnn.services.tasks import base

    used: dict[str, set[tuple[int, int, str]]] = {}
    orig = base.batch_generator

    def purpose(function: str) -> str:
        # The calling function's name, also as mutation testing rewrites it
        # ("xǁPopulationTrainerǁ_noise__mutmut_orig" is _noise).
        name = re.sub(r"__mutmut_(orig|\d+)$", "", function.split("ǁ")[-1])
        return name.removeprefix("x_")

    def recording(seed: int, chunk: int, stream: str = base.STREAM_TRAIN, *a, **k):
        caller = next(
            purpose(f.function)
            for f in inspect.stack()[1:]
            if not f.function.startswith("<") and "trampoline" not in f.function
        )
        used.setdefault(caller, set()).add((seed, chunk, stream))
        return orig(seed, chunk, stream, *a, **k)

    for module in (trainer_mod, heldout_mod):
        monkeypatch.setattr(module, "batch_generator", recording)
    model = ModelConfig(noise_in=0.1, noise_rec=0.1)
    ev = EvaluationConfig(sets=["noisy", "jitter"], noise_in=0.1)
    for stream in ("fresh", "fixed"):
        used.clear()
        cfg = _cfg(epochs=2, trial_stream=stream)
        _trainer([_prior(1), _prior(2)], [4, 5], model, cfg, evaluation=ev).run()
        assert {"__init__", "_train_batch", "_noise", "heldout_batch"} <= set(used)
        for a, b in itertools.combinations(used, 2):
            assert not used[a] & used[b], (stream, a, b, used[a] & used[b])


def test_a_regulariser_is_trained_whenever_one_of_its_terms_is_on() -> None:
    """lambda = 1 (the released lambda-free L1) and an EMD term alone (lambda = 0) are
    regularisers like any other: their loss is computed and trained on."""
    cases = [_prior(1, lam=1.0), _prior(2, communicability="emd", lam=0.0, lam_emd=1.0)]
    for pr in cases:
        if pr.communicability == "emd":
            pr = dataclasses.replace(pr, emd_target=np.sort(np.abs(pr.w_init).ravel())[N:])
        net = _trainer([pr], [1], ModelConfig(), _cfg(epochs=1)).run().networks[0]
        assert np.all(net.step_reg > 0), net.step_reg


def test_early_stopping_stops_only_the_networks_that_reached_the_criterion() -> None:
    """With early_stop, a network stops at the evaluation where it first reaches the
    criterion (as read off the same pack trained without stopping) and the others go on; one
    that never reaches it has no steps to criterion. Once every network has stopped, the later
    epochs repeat the last evaluation (loss and accuracy) instead of recomputing it."""
    priors = [_prior(1, lam=0.02), _prior(7, lam=0.02)]
    base = dict(epochs=3, test_trials=64)
    plain = _trainer(priors, [1, 2], ModelConfig(), _cfg(**base)).run()
    accs = [[(e["step"], e["test_acc"]) for e in net.evals] for net in plain.networks]
    first = [a[0][1] for a in accs]
    assert first[0] != first[1], first
    best = max(acc for a in accs for _, acc in a)
    total = plain.total_steps
    for criterion in ((first[0] + first[1]) / 2, min(1.0, best + 1e-6)):
        cfg = _cfg(**base, criterion=criterion, early_stop=True)
        res = _trainer(priors, [1, 2], ModelConfig(), cfg).run()
        for net, a in zip(res.networks, accs, strict=True):
            want = next((int(step) for step, acc in a if acc >= criterion), None)
            assert net.steps_to_criterion == want, (criterion, a)
            assert net.steps_trained == (want if want is not None else total)
    everyone = _cfg(**base, criterion=0.01, early_stop=True)
    for net in _trainer(priors, [1, 2], ModelConfig(), everyone).run().networks:
        assert net.steps_trained == everyone.steps_per_epoch and len(net.epochs) == 3
        last = net.evals[-1]
        for epoch in net.epochs:
            assert (epoch["test_loss"], epoch["test_acc"]) == (last["test_loss"], last["test_acc"])


# ----- run loop: checkpoints, cancel, precision switch, defaults --------------------------


def test_checkpoints_are_written_at_the_stated_steps_and_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[int] = []
    orig = trainer_mod.save_checkpoint

    def record(state, path):
        written.append(int(state["step"]))
        return orig(state, path)

    monkeypatch.setattr(trainer_mod, "save_checkpoint", record)
    cfg = _cfg(checkpoint_every_steps=4, epochs=4)  # 12 steps
    train_population([_prior(1)], [1], TASK, ModelConfig(), cfg, checkpoint=tmp_path / "c.pt")
    assert written == [4, 8, 12]
    state = load_checkpoint(tmp_path / "c.pt")
    assert int(state["step"]) == 12 and int(state["adam_t"][0]) == 12
    written.clear()
    train_population([_prior(1)], [1], TASK, ModelConfig(), cfg)  # no path: nothing written
    assert written == []


def test_a_cancel_asked_after_the_last_step_leaves_the_pack_completed() -> None:
    """should_cancel is a question about steps still to come: after the last step there are
    none, so the pack completes and its generalisation sets are evaluated."""
    done: list[int] = []
    polls: list[int] = []

    def cancel() -> bool:
        polls.append(done[-1])
        return done[-1] == 6

    cb = TrainingCallbacks(progress=lambda s, t, r: done.append(s), should_cancel=cancel)
    ev = EvaluationConfig(sets=["noisy"])
    res = train_population(
        [_prior(1)], [1], TASK, ModelConfig(), _cfg(), callbacks=cb, evaluation=ev
    )
    assert not res.cancelled and res.networks[0].status == "completed"
    assert polls == [1, 2, 3, 4, 5]
    assert set(res.networks[0].heldout_acc) == {"test_acc_noisy"}
    # A cancel mid-run: cancelled, no generalisation sets, every network "cancelled".
    stop = TrainingCallbacks(should_cancel=lambda: True)
    mid = train_population(
        [_prior(1), _prior(2)], [1, 2], TASK, ModelConfig(), _cfg(), callbacks=stop, evaluation=ev
    )
    assert mid.cancelled and mid.step == 1 and mid.total_steps == 6
    assert [n.status for n in mid.networks] == ["cancelled"] * 2
    assert all(n.heldout_acc == {} and n.steps_trained == 1 for n in mid.networks)
    # Cancelled before any evaluation or epoch end: no records made up for them.
    assert all(n.evals == [] and n.epochs == [] for n in mid.networks)
    assert all(n.final_test_acc is None for n in mid.networks)


def test_tf32_switch_is_off_while_training_fp32_and_put_back_afterwards() -> None:
    before = torch.backends.cuda.matmul.allow_tf32
    inside: list[bool] = []
    try:
        torch.backends.cuda.matmul.allow_tf32 = True
        cb = TrainingCallbacks(
            progress=lambda s, t, r: inside.append(torch.backends.cuda.matmul.allow_tf32)
        )
        train_population([_prior(1)], [1], TASK, ModelConfig(), _cfg(epochs=1), callbacks=cb)
        assert inside == [False] * 3
        assert torch.backends.cuda.matmul.allow_tf32 is True
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def test_defaults_wall_time_and_float32_result_types() -> None:
    """model_cfg left out is ModelConfig(); wall_s is the run's own duration (within the
    time the call took); weights and records are float32 / float64 arrays."""
    cfg = _cfg(epochs=1)
    t0 = time.perf_counter()
    a = train_population([_prior(1)], [4], TASK, train_cfg=cfg)
    elapsed = time.perf_counter() - t0
    b = train_population([_prior(1)], [4], TASK, ModelConfig(), cfg)
    assert np.array_equal(a.networks[0].step_loss, b.networks[0].step_loss)
    assert 0.0 < a.wall_s <= elapsed
    w = a.networks[0].final_weights
    assert set(w) == {"W", "U", "b", "V", "c"} and all(v.dtype == np.float32 for v in w.values())
    assert w["W"].shape == (N, N) and w["U"].shape == (N, TASK.n_inputs)
    assert a.networks[0].snapshots.shape == (2, N, N)


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (
            lambda: ([], [], ModelConfig(), None),
            r"^train_population needs at least one network prior$",
        ),
        (lambda: ([_prior(1)], [1, 2], ModelConfig(), None), "one seed per network"),
        (
            lambda: ([_prior(1), NetworkPrior(w_init=np.eye(N + 1))], [1, 2], ModelConfig(), None),
            r"prior 1: w_init has shape \(7, 7\); all networks of a pack need \(6, 6\)",
        ),
        (
            lambda: ([NetworkPrior(w_init=np.full((N, N), np.nan))], [1], ModelConfig(), None),
            "prior 0: w_init holds NaN",
        ),
        (
            lambda: (
                [_prior(1)],
                [1],
                ModelConfig(noise_in=0.0),
                EvaluationConfig(sets=["noisy"]),
            ),
            r"^the noisy evaluation set needs a noise_in > 0 \(evaluation or model\)$",
        ),
    ],
)
def test_a_pack_that_cannot_train_is_refused_before_training(build, match: str) -> None:
    priors, seeds, model, ev = build()
    with pytest.raises(ValueError, match=match):
        PopulationTrainer(priors, seeds, TASK, model, _cfg(), evaluation=ev)


def test_tf32_on_a_cpu_pack_names_the_precisions_that_work() -> None:
    with pytest.raises(ValueError, match=r"this pack runs on cpu; use fp32 or bf16-mixed$"):
        PopulationTrainer([_prior(1)], [1], TASK, ModelConfig(), _cfg(precision="tf32"))


def test_a_noisy_set_with_its_own_noise_is_accepted_for_a_noise_free_model() -> None:
    ev = EvaluationConfig(sets=["noisy"], noise_in=0.1)
    tr = PopulationTrainer([_prior(1)], [1], TASK, ModelConfig(noise_in=0.0), _cfg(), evaluation=ev)
    assert tr.evaluation.extra_sets == ["noisy"]


# ----- MaskedAdam ---------------------------------------------------------------------------


def test_masked_adam_defaults_are_keras_and_are_recorded() -> None:
    """Defaults lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-7 (Keras'); one step from zero
    moments on gradient g moves w by lr * g / (|g| + eps / sqrt(1 - b2)) (hand-computed)."""
    w = torch.nn.Parameter(torch.zeros(1, 3, dtype=torch.float64))
    opt = MaskedAdam({"w": w})
    st = opt.state_dict()
    assert st["hyper"] == {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-7}
    assert set(st) == {"m", "v", "t", "hyper"} and st["t"].tolist() == [0]
    assert st["t"].dtype == torch.int64  # a counter: a float32 one stops counting at 2**24
    g = torch.tensor([[1e-5, -2e-6, 3.0]], dtype=torch.float64)
    w.grad = g.clone()
    opt.step(torch.tensor([True]))
    want = -1e-3 * g / (g.abs() + 1e-7 / math.sqrt(1 - 0.999))
    torch.testing.assert_close(w.detach(), want, rtol=1e-12, atol=0)


def test_masked_adam_refuses_no_parameters_and_mismatched_networks() -> None:
    with pytest.raises(ValueError, match=r"^MaskedAdam needs at least one parameter$"):
        MaskedAdam({})
    with pytest.raises(
        ValueError, match=r"^parameter 'b' has leading size 2, expected 3 networks$"
    ):
        MaskedAdam({"a": torch.zeros(3, 2), "b": torch.zeros(2, 5)})


def test_masked_adam_keeps_its_state_on_the_parameters_device() -> None:
    """Moments and step counts live where the parameters do, also when they are loaded from
    a checkpoint written on another device (a CPU checkpoint resumed on a GPU). The meta
    device stands in for the other device on a CPU-only box."""
    params = {"w": torch.zeros(2, 3, device="meta"), "b": torch.zeros(2, 1, device="meta")}
    opt = MaskedAdam(params)
    on_cpu = MaskedAdam({k: torch.zeros(v.shape) for k, v in params.items()}).state_dict()
    for state in (opt.state_dict(), None):
        if state is None:
            opt.load_state_dict(on_cpu)
            state = opt.state_dict()
        assert {t.device.type for t in [*state["m"].values(), *state["v"].values()]} == {"meta"}
        assert state["t"].device.type == "meta"


def test_a_parameter_without_gradient_is_skipped_and_the_others_still_move() -> None:
    """A frozen parameter (no gradient this step) stays, with its moments; the ones after it
    in the dictionary are still updated."""
    a = torch.nn.Parameter(torch.ones(2, 3, dtype=torch.float64))
    b = torch.nn.Parameter(torch.ones(2, 3, dtype=torch.float64))
    opt = MaskedAdam({"a": a, "b": b}, lr=0.1, eps=1e-15)
    b.grad = torch.full((2, 3), 2.0, dtype=torch.float64)
    opt.step(torch.tensor([True, True]))
    assert torch.equal(a.detach(), torch.ones(2, 3, dtype=torch.float64))
    assert not opt.m["a"].any() and not opt.v["a"].any()
    torch.testing.assert_close(b.detach(), torch.full((2, 3), 0.9, dtype=torch.float64))


def test_masked_adam_state_resumes_exactly_and_refuses_a_state_of_another_shape() -> None:
    """Saving the state after k steps and loading it into a fresh optimiser (float64 state
    into float32 parameters, as a checkpoint written elsewhere) continues as if never
    interrupted; the moments take the parameters' precision."""
    rng = np.random.default_rng(0)
    grads = [torch.tensor(rng.normal(size=(2, 4)), dtype=torch.float32) for _ in range(10)]
    mask = [torch.tensor([True, i % 3 != 0]) for i in range(10)]

    def run(steps, opt, w):
        for g, a in steps:
            w.grad = g.clone()
            opt.step(a)

    w_full = torch.nn.Parameter(torch.zeros(2, 4))
    full = MaskedAdam({"w": w_full}, lr=0.05)
    run(zip(grads, mask, strict=True), full, w_full)

    w_a = torch.nn.Parameter(torch.zeros(2, 4))
    first = MaskedAdam({"w": w_a}, lr=0.05)
    run(zip(grads[:4], mask[:4], strict=True), first, w_a)
    st = first.state_dict()
    st64 = {
        "m": {"w": st["m"]["w"].double()},
        "v": {"w": st["v"]["w"].double()},
        "t": st["t"].clone(),
    }
    w_b = torch.nn.Parameter(w_a.detach().clone())
    second = MaskedAdam({"w": w_b}, lr=0.05)
    second.load_state_dict(st64)
    assert second.m["w"].dtype == torch.float32 and second.v["w"].dtype == torch.float32
    assert second.t.tolist() == [4, 2]
    run(zip(grads[4:], mask[4:], strict=True), second, w_b)
    assert torch.equal(w_b.detach(), w_full.detach())
    assert torch.equal(second.t, full.t)

    for bad in ({"m": {}, "v": {}, "t": st["t"]}, {**st64, "m": {"w": torch.zeros(2, 3)}}):
        with pytest.raises(ValueError, match="'w' is missing or has the wrong shape"):
            MaskedAdam({"w": torch.nn.Parameter(torch.zeros(2, 4))}).load_state_dict(bad)


# ----- sign projection -----------------------------------------------------------------------


def test_sign_projection_clamps_each_networks_columns_and_leaves_free_ones_alone() -> None:
    """Columns are presynaptic units: "positive" clamps every entry at >= 0, "dale" clamps
    excitatory columns at >= 0 and inhibitory ones at <= 0 (hand-computed), "free" is
    untouched, in one pack."""
    w = torch.tensor([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]])
    exc = np.array([True, False, True])
    priors = [
        NetworkPrior(w_init=np.eye(3)),
        NetworkPrior(w_init=np.eye(3), sign="positive"),
        NetworkPrior(w_init=np.eye(3), sign="dale", excitatory=exc),
    ]
    proj = SignProjection(priors, torch.device("cpu"), torch.float32)
    assert proj.enabled
    ws = torch.stack([w, w, w]).clone()
    ws = torch.cat([ws, torch.zeros(3, 1, 3)], dim=1)  # [3, 3, 3]
    proj(ws)
    assert torch.equal(ws[0, :2], w)
    assert torch.equal(ws[1, :2], torch.tensor([[1.0, 0.0, 3.0], [0.0, 5.0, 0.0]]))
    assert torch.equal(ws[2, :2], torch.tensor([[1.0, -2.0, 3.0], [0.0, 0.0, 0.0]]))
    free = SignProjection(priors[:1], torch.device("cpu"), torch.float32)
    assert not free.enabled
    ws0 = ws[:1].clone()
    free(ws0)
    assert torch.equal(ws0, ws[:1])


def test_sign_projection_takes_a_0_1_mask_and_lives_on_the_packs_device() -> None:
    """A mask of 0/1 integers means what the boolean one does (not column indices), and the
    bounds are made on the pack's device and dtype (the meta device stands in for a GPU: a
    bound made without the device lands on the CPU)."""
    w = torch.tensor([[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]])[None]
    as_bool = SignProjection(
        [NetworkPrior(w_init=np.eye(3), sign="dale", excitatory=np.array([True, False, False]))],
        torch.device("cpu"),
        torch.float32,
    )
    as_int = SignProjection(
        [NetworkPrior(w_init=np.eye(3), sign="dale", excitatory=np.array([1, 0, 0]))],
        torch.device("cpu"),
        torch.float32,
    )
    a, b = w.clone(), w.clone()
    as_bool(a)
    as_int(b)
    assert torch.equal(b, a) and torch.equal(
        a[0], torch.tensor([[1.0, -2.0, 0.0], [0.0, 0.0, -6.0]])
    )
    meta = SignProjection(
        [NetworkPrior(w_init=np.eye(3), sign="positive")], torch.device("meta"), torch.float32
    )
    for bound in (meta.lo, meta.hi):  # numpy's bounds are float64: the pack's dtype is asked for
        assert bound.device.type == "meta" and bound.dtype == torch.float32


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(sign="dale"), r"prior 0: sign 'dale' needs an excitatory mask of shape \(3,\)"),
        (dict(sign="dale", excitatory=np.ones(2, bool)), "excitatory mask of shape"),
        (dict(sign="negative"), "unknown sign 'negative': use free, positive or dale"),
    ],
)
def test_sign_projection_refuses_what_it_cannot_enforce(kw: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SignProjection([NetworkPrior(w_init=np.eye(3), **kw)], torch.device("cpu"), torch.float32)


# ----- held-out sets ------------------------------------------------------------------------


def test_heldout_sets_refuse_what_they_cannot_build() -> None:
    ev = EvaluationConfig(sets=["noisy", "jitter"])
    with pytest.raises(ValueError, match="unseen_coherence set needs perceptual decision"):
        heldout_batch(TASK, "unseen_coherence", ev, 0.05, 1, 0, 4)
    with pytest.raises(
        ValueError, match=r"^the noisy set needs evaluation\.noise_in > 0 or a model noise_in > 0$"
    ):
        heldout_batch(TASK, "noisy", ev, 0.0, 1, 0, 4)
    with pytest.raises(ValueError, match="unknown evaluation set 'typo'"):
        heldout_batch(TASK, "typo", ev, 0.05, 1, 0, 4)
    # The recall set is the task's own trials from (seed, "test", chunk), unchanged.
    got = heldout_batch(TASK, "recall", ev, 0.05, 9, 3, 5)
    want = TASK.generate(5, batch_generator(9, 3, "test"))
    assert torch.equal(got.inputs, want.inputs) and torch.equal(got.labels, want.labels)


def test_unseen_coherences_are_the_sorted_distinct_midpoints_or_the_given_ones() -> None:
    ev = EvaluationConfig()
    assert ev.unseen_for((25.6, 0.0, 6.4, 6.4, 12.8)) == (3.2, 9.6, 19.2)
    # The exact midpoints of the coherences as written, whatever their number of digits.
    assert ev.unseen_for((12.8, 0.1234567, 0, 6.4)) == (0.06172835, 3.26172835, 9.6)
    assert ev.unseen_for((0.0, 1e-9)) == (5e-10,)
    assert EvaluationConfig(unseen_cohs=[40, 2]).unseen_for((0.0, 10.0)) == (40.0, 2.0)
    only_recall = EvaluationConfig(sets=["recall"])
    assert only_recall.is_default and only_recall.sets_for("perceptual_decision_making") == []
    all_sets = EvaluationConfig(sets=["unseen_coherence", "jitter", "noisy"])
    assert all_sets.sets == ["recall", "noisy", "jitter", "unseen_coherence"]
    assert all_sets.sets_for("go_no_go") == ["noisy", "jitter"]
    assert all_sets.sets_for("perceptual_decision_making") == [
        "noisy",
        "jitter",
        "unseen_coherence",
    ]


# ----- checkpoint files and fingerprints ----------------------------------------------------


def test_checkpoint_round_trips_and_unreadable_or_foreign_files_are_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deep" / "er" / "c.pt"  # folders are created
    save_checkpoint({"step": 3, "w": torch.arange(4.0)}, path)
    st = load_checkpoint(path)
    assert st["format"] == 1 and st["step"] == 3 and torch.equal(st["w"], torch.arange(4.0))
    assert [p.name for p in path.parent.iterdir()] == ["c.pt"]  # no temporary file left
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk.pt cannot be read safely \(UnpicklingError: "):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"step": 3}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match=r"not a CortexRNN trainer checkpoint \(format 1\)"):
        load_checkpoint(tmp_path / "foreign.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="not a CortexRNN trainer checkpoint"):
        load_checkpoint(tmp_path / "list.pt")


_RAN: list[str] = []


def _ran(what: str) -> None:
    _RAN.append(what)


class _Payload:
    """A pickle that calls a function when loaded: what a hostile checkpoint would hold."""

    def __reduce__(self):  # noqa: ANN204
        return (_ran, ("code",))


def test_a_checkpoint_that_would_run_code_is_refused_without_running_it(tmp_path: Path) -> None:
    torch.save({"format": 1, "step": 1, "x": _Payload()}, tmp_path / "evil.pt")
    _RAN.clear()
    with pytest.raises(ValueError, match="cannot be read safely"):
        load_checkpoint(tmp_path / "evil.pt")
    assert _RAN == []


def test_a_checkpoint_of_another_pack_says_how_to_start_afresh(tmp_path: Path) -> None:
    ck = tmp_path / "c.pt"
    train_population([_prior(1)], [1], TASK, ModelConfig(), _cfg(epochs=1), checkpoint=ck)
    with pytest.raises(
        ValueError,
        match=r"settings differ\); delete it or point `checkpoint` elsewhere to start afresh$",
    ):
        train_population([_prior(1)], [2], TASK, ModelConfig(), _cfg(epochs=1), checkpoint=ck)


def test_a_checkpoint_is_written_beside_its_target_under_a_hidden_name_then_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rename is atomic only within one filesystem, so the temporary file lies in the
    target's folder; it is a hidden file named after the target, so that one left by a crash
    is neither taken for a checkpoint nor hard to trace."""
    from cortexrnn.services.training import checkpoint as ckpt_mod

    renames: list[tuple[str, str]] = []
    orig = ckpt_mod.os.replace

    def replace(src: str, dst: str) -> None:
        renames.append((str(src), str(dst)))
        orig(src, dst)

    monkeypatch.setattr(ckpt_mod.os, "replace", replace)
    path = tmp_path / "run" / "c.pt"
    save_checkpoint({"step": 1}, path)
    ((src, dst),) = renames
    assert Path(dst) == path and Path(src).parent == path.parent
    assert Path(src).name.startswith(".c.pt.") and src.endswith(".tmp")


def test_a_failed_checkpoint_write_keeps_the_previous_file_and_leaves_no_debris(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.pt"
    save_checkpoint({"step": 1}, path)
    with pytest.raises(Exception):  # noqa: B017 - whatever pickling raises
        save_checkpoint({"step": 2, "bad": lambda: None}, path)
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_fingerprint_changes_with_what_changes_results_only() -> None:
    rng = np.random.default_rng(0)
    exc = rng.random(N) < 0.5
    target = np.sort(rng.gamma(0.5, 0.2, size=N * (N - 1)))
    base = _prior(1, communicability="emd", lam=0.01, lam_emd=0.1, emd_target=target)
    cfg, model = _cfg(), ModelConfig()

    def fp(priors=None, seeds=(1,), task=TASK, m=model, c=cfg) -> str:
        return pack_fingerprint(priors or [base], list(seeds), task, m, c)

    ref = fp()
    assert ref == fp() and len(ref) == 64
    assert fp(c=_cfg(checkpoint_every_steps=7)) == ref  # where checkpoints go changes nothing
    d = base.distance
    assert d is not None
    changed = [
        fp(seeds=(2,)),
        fp(c=_cfg(lr=3e-2)),
        fp(m=ModelConfig(alpha=0.5)),
        fp(task=get_task("go_no_go", fixation=2, stimulus=3, delay=1, decision=1, sigma=0.1)),
        fp([_prior(2, communicability="emd", lam=0.01, lam_emd=0.1, emd_target=target)]),
        fp([_replace(base, distance=None)]),
        fp([_replace(base, distance=d * 2)]),
        fp([_replace(base, emd_target=target * 2)]),
        fp([_replace(base, emd_target=None)]),
        fp([_replace(base, sign="dale", excitatory=exc)]),
        fp([_replace(base, sign="dale", excitatory=~exc)]),
        fp([_replace(base, communicability="direct")]),
        fp([_replace(base, communicability_grad=False)]),
        fp([_replace(base, lam=0.02)]),
        fp([_replace(base, lam_emd=0.2)]),
        fp([_replace(base, strength_eps=1e-9)]),
        fp([_replace(base, emd_weighting=True)]),
        fp([_replace(base, fixed_batch_order=True)]),
        fp([_replace(base, w_init=base.w_init.astype(np.float32))]),
        fp([_replace(base, w_init=base.w_init.reshape(-1))]),
        fp([_replace(base, w_init=base.w_init.view(np.int64))]),
        fp([base, base], seeds=(1, 1)),
    ]
    assert len({ref, *changed}) == len(changed) + 1


def _replace(pr: NetworkPrior, **kw: object) -> NetworkPrior:
    import dataclasses

    return dataclasses.replace(pr, **kw)  # type: ignore[arg-type]


FIXED_PACK_FINGERPRINT = "a11bff2c2b10d75e9f667bd02d640a38b12e661e4f16a7880f64052418dd50ea"


def test_fingerprint_of_a_fixed_pack_stays_what_earlier_versions_wrote() -> None:
    """A worker upgraded while a pack is half-trained resumes it from its checkpoint only if
    the new code computes the same fingerprint for the same pack; this one was written by the
    2026.12.2 code. A change here orphans every checkpoint in flight: change this value only
    together with a note in the release that running packs restart from step 0."""
    pr = NetworkPrior(
        w_init=np.arange(9.0).reshape(3, 3) / 10,
        distance=np.ones((3, 3)) - np.eye(3),
        communicability="emd",
        lam=0.01,
        lam_emd=0.1,
        emd_target=np.linspace(0.0, 1.0, 6),
    )
    task = get_task("go_no_go", fixation=2, stimulus=3, delay=1, decision=1)
    cfg = TrainingConfig(batch_size=4, train_trials=8, test_trials=4, epochs=1)
    assert pack_fingerprint([pr], [7], task, ModelConfig(), cfg) == FIXED_PACK_FINGERPRINT
