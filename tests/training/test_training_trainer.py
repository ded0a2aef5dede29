"""Population trainer: determinism, resume, packing independence, divergence, signs, cancel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.priors.network_prior import NetworkPrior
from cortexrnn.services.tasks import get_task
from cortexrnn.services.training.config import TrainingConfig
from cortexrnn.services.training.results import PackResult, TrainingCallbacks
from cortexrnn.services.training.trainer import train_population

torch.set_num_threads(1)
N = 16
TASK = get_task("go_no_go", fixation=2, stimulus=5, delay=3, decision=2)
MODEL = ModelConfig(noise_in=0.05, noise_rec=0.02)


def _cfg(**kw) -> TrainingConfig:
    base = dict(
        batch_size=16,
        train_trials=160,
        test_trials=64,
        epochs=3,
        eval_every_steps=5,
        checkpoint_every_steps=None,
        lr=5e-3,
    )
    base.update(kw)
    return TrainingConfig(**base)


def _priors(n_nets: int, seed: int = 0) -> list[NetworkPrior]:
    rng = np.random.default_rng(seed)
    pos = rng.random((N, 3))
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    d /= d.max()
    target = np.sort(rng.gamma(0.5, 0.2, size=N * (N - 1)))
    kinds = [
        dict(),
        dict(distance=d, lam=0.01),
        dict(distance=d, communicability="direct", lam=0.01),
        dict(communicability="direct", communicability_grad=False, lam=0.02),
        dict(distance=d, communicability="emd", lam=0.01, lam_emd=0.1, emd_target=target),
        dict(lam=0.01, sign="positive"),
    ]
    out = []
    for i in range(n_nets):
        q, _ = np.linalg.qr(rng.normal(size=(N, N)))
        w = np.abs(q) if kinds[i % len(kinds)].get("sign") == "positive" else q
        out.append(NetworkPrior(w_init=w, **kinds[i % len(kinds)]))
    return out


def _w(res: PackResult, i: int) -> np.ndarray:
    return res.networks[i].final_weights["W"]


def test_repeat_is_bit_identical() -> None:
    pr = _priors(3)
    a = train_population(pr, [1, 2, 3], TASK, MODEL, _cfg(epochs=2))
    b = train_population(pr, [1, 2, 3], TASK, MODEL, _cfg(epochs=2))
    for x, y in zip(a.networks, b.networks, strict=True):
        for k in x.final_weights:
            assert np.array_equal(x.final_weights[k], y.final_weights[k]), k
        assert np.array_equal(x.step_loss, y.step_loss, equal_nan=True)
    # Different seeds see different data and inits.
    c = train_population(pr, [1, 2, 4], TASK, MODEL, _cfg(epochs=2))
    assert not np.array_equal(_w(a, 2), _w(c, 2)) and np.array_equal(_w(a, 0), _w(c, 0))


DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(
            not torch.cuda.is_available(), reason="no CUDA device on this machine"
        ),
    ),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("precision", ["fp32", "bf16-mixed"])
def test_resume_from_mid_run_checkpoint_is_bit_identical(
    tmp_path: Path, precision: str, device: str
) -> None:
    pr = _priors(3)
    cfg = _cfg(checkpoint_every_steps=4, precision=precision)
    full = train_population(
        pr, [7, 8, 9], TASK, MODEL, cfg, checkpoint=tmp_path / "full.pt", device=device
    )
    ck = tmp_path / "part.pt"
    stop_at = {"n": 0}

    def cancel() -> bool:
        stop_at["n"] += 1
        return stop_at["n"] == 13  # mid-epoch (10 steps per epoch), between checkpoints

    part = train_population(
        pr,
        [7, 8, 9],
        TASK,
        MODEL,
        cfg,
        callbacks=TrainingCallbacks(should_cancel=cancel),
        checkpoint=ck,
        device=device,
    )
    assert (
        part.cancelled and part.step == 13 and all(n.status == "cancelled" for n in part.networks)
    )
    resumed = train_population(pr, [7, 8, 9], TASK, MODEL, cfg, checkpoint=ck, device=device)
    assert not resumed.cancelled and resumed.step == cfg.total_steps
    for x, y in zip(full.networks, resumed.networks, strict=True):
        for k in x.final_weights:
            assert np.array_equal(x.final_weights[k], y.final_weights[k]), k
        assert np.array_equal(x.snapshots, y.snapshots)
        assert np.array_equal(x.step_loss, y.step_loss, equal_nan=True)
        assert x.evals == y.evals and x.epochs == y.epochs
        assert x.steps_to_criterion == y.steps_to_criterion


def test_network_in_pack_of_8_equals_network_alone() -> None:
    pr = _priors(8, seed=3)
    seeds = list(range(100, 108))
    cfg = _cfg(train_trials=16 * 50, epochs=1, eval_every_steps=None)
    assert cfg.total_steps == 50
    pack = train_population(pr, seeds, TASK, MODEL, cfg)
    for i in (2, 4, 5):  # direct C, EMD, positive sign
        alone = train_population([pr[i]], [seeds[i]], TASK, MODEL, cfg)
        for k, w_alone in alone.networks[0].final_weights.items():
            w_pack = pack.networks[i].final_weights[k]
            rel = np.linalg.norm(w_pack - w_alone) / np.linalg.norm(w_alone)
            assert rel < 1e-5, (i, k, rel)
        # and it did move: the comparison is not trivially between initial weights
        assert not np.allclose(alone.networks[0].final_weights["W"], pr[i].w_init, atol=1e-3)


def test_divergence_freezes_only_the_bad_network() -> None:
    pr = _priors(3)
    bad = NetworkPrior(w_init=np.full((N, N), 1e30))  # activity overflows to inf at once
    cfg = _cfg(epochs=2)
    res = train_population([pr[0], bad, pr[2]], [1, 2, 3], TASK, MODEL, cfg)
    ref = train_population([pr[0], pr[2]], [1, 3], TASK, MODEL, cfg)
    b = res.networks[1]
    assert b.status == "diverged" and b.diverged_step == 0 and b.steps_trained == 0
    assert np.array_equal(b.final_weights["W"], np.full((N, N), 1e30, dtype=np.float32))
    assert np.all(np.isnan(b.step_loss))
    for i, j in ((0, 0), (2, 1)):
        good = res.networks[i]
        assert (
            good.status == "completed"
            and good.diverged_step is None
            and good.steps_trained == cfg.total_steps
        )
        np.testing.assert_allclose(
            good.final_weights["W"], ref.networks[j].final_weights["W"], rtol=1e-5, atol=1e-6
        )


def test_networks_that_diverged_or_stopped_are_not_computed_any_more() -> None:
    """A pack costs what its networks still training cost: after a network diverges (step 0)
    the forward passes, training and held-out, carry only the others, and the diverged
    network's held-out numbers are NaN from then on; a network stopped early is still
    evaluated but no longer trained. The others train as they would without it."""
    from cortexrnn.services.training.trainer import PopulationTrainer

    pr = _priors(3)
    bad = NetworkPrior(w_init=np.full((N, N), 1e30))
    cfg = _cfg(epochs=2)
    trainer = PopulationTrainer([pr[0], bad, pr[2]], [1, 2, 3], TASK, MODEL, cfg)
    widths: list[tuple[bool, int]] = []
    forward = trainer.model.forward

    def counting(x, *args, **kwargs):
        widths.append((torch.is_grad_enabled(), int(x.shape[1])))
        return forward(x, *args, **kwargs)

    trainer.model.forward = counting  # type: ignore[method-assign]
    res = trainer.run()
    training = [w for grad, w in widths if grad]
    held_out = [w for grad, w in widths if not grad]
    assert training == [3] + [2] * (cfg.total_steps - 1)
    assert held_out and set(held_out) == {2}
    assert all(np.isnan(e["test_acc"]) for e in res.networks[1].evals)
    ref = train_population([pr[0], pr[2]], [1, 3], TASK, MODEL, cfg)
    for i, j in ((0, 0), (2, 1)):
        np.testing.assert_allclose(
            res.networks[i].final_weights["W"], ref.networks[j].final_weights["W"], rtol=1e-5
        )
        assert [e["test_acc"] for e in res.networks[i].evals] == pytest.approx(
            [e["test_acc"] for e in ref.networks[j].evals], abs=1e-6
        )

    stop = _cfg(epochs=2, criterion=0.01, early_stop=True)  # every network stops at step 5
    trainer = PopulationTrainer([pr[0], pr[2]], [1, 3], TASK, MODEL, stop)
    widths.clear()
    forward = trainer.model.forward
    trainer.model.forward = counting  # type: ignore[method-assign]
    trainer.run()
    assert [w for grad, w in widths if grad] == [2] * 5
    assert {w for grad, w in widths if not grad} == {2}


def test_sign_projection_keeps_constraints() -> None:
    rng = np.random.default_rng(5)
    exc = rng.random(N) < 0.8
    w0 = np.abs(rng.normal(size=(N, N))) / N
    w0[:, ~exc] *= -1
    pos = NetworkPrior(w_init=np.abs(rng.normal(size=(N, N))) / N, sign="positive", lam=0.01)
    dale = NetworkPrior(w_init=w0, sign="dale", excitatory=exc, lam=0.01)
    res = train_population([pos, dale], [1, 2], TASK, MODEL, _cfg(lr=2e-2))
    p, d = res.networks
    assert np.all(p.snapshots >= 0)
    assert np.all(d.snapshots[:, :, exc] >= 0) and np.all(d.snapshots[:, :, ~exc] <= 0)
    assert (p.snapshots[-1] == 0).any()  # the projection was active, not vacuous
    assert not np.array_equal(p.snapshots[0], p.snapshots[-1])


def test_cancel_stops_cleanly_with_checkpoint_and_reports_progress(tmp_path: Path) -> None:
    seen: list[tuple[int, int, int]] = []
    cb = TrainingCallbacks(
        progress=lambda s, t, m: seen.append((s, t, len(m))), should_cancel=lambda: len(seen) >= 7
    )
    ck = tmp_path / "c.pt"
    res = train_population(_priors(2), [1, 2], TASK, MODEL, _cfg(), callbacks=cb, checkpoint=ck)
    assert res.cancelled and res.step == 7
    assert seen == [(s, 30, 2) for s in range(1, 8)]
    state = torch.load(ck, weights_only=True)
    assert int(state["step"]) == 7


def test_checkpoint_of_another_pack_is_refused(tmp_path: Path) -> None:
    ck = tmp_path / "c.pt"
    train_population(_priors(2), [1, 2], TASK, MODEL, _cfg(epochs=1), checkpoint=ck)
    with pytest.raises(ValueError, match="different pack"):
        train_population(_priors(2), [1, 5], TASK, MODEL, _cfg(epochs=1), checkpoint=ck)


def test_records_snapshots_epochs_and_early_stop() -> None:
    pr = _priors(2)
    cfg = _cfg(epochs=4, criterion=0.5, early_stop=True, eval_every_steps=2)
    res = train_population(pr, [1, 2], TASK, MODEL, cfg)
    for n in res.networks:
        assert n.snapshots.shape == (5, N, N)
        np.testing.assert_array_equal(n.snapshots[0], pr[n.index].w_init.astype(np.float32))
        assert [e["epoch"] for e in n.epochs] == [1, 2, 3, 4]
        assert len(n.step_loss) == cfg.total_steps
        # criterion 0.5 on a 2-class task is reached at the first or second evaluation
        assert n.status == "stopped" and n.steps_to_criterion is not None
        assert n.steps_trained == n.steps_to_criterion
        frozen = n.snapshots[1 + (n.steps_to_criterion - 1) // cfg.steps_per_epoch :]
        assert all(np.array_equal(s, frozen[0]) for s in frozen)


def test_fixed_training_set_is_revisited_each_epoch_in_a_new_order() -> None:
    from cortexrnn.services.training.trainer import PopulationTrainer

    cfg = _cfg()
    tr = PopulationTrainer(_priors(2), [1, 2], TASK, MODEL, cfg)
    spe = cfg.steps_per_epoch
    orders = [[tr._batch_index(e * spe + j, 0)[0] for j in range(spe)] for e in range(3)]
    assert all(sorted(o) == list(range(spe)) for o in orders)
    assert orders[0] != orders[1] != orders[2]
    # the same batch index gives the same trials in every epoch
    x0, _ = tr._train_batch(0, range(tr.p))
    later = next(e * spe + j for e in (1, 2) for j in range(spe) if orders[e][j] == orders[0][0])
    x1, _ = tr._train_batch(later, range(tr.p))
    assert torch.equal(x0[:, 0], x1[:, 0])
    fresh = PopulationTrainer(_priors(2), [1, 2], TASK, MODEL, _cfg(trial_stream="fresh"))
    assert [fresh._batch_index(s, 0)[0] for s in range(25)] == list(range(25))
