"""Generalisation sets: each differs from the recall set in its one intended way only.

The recall set is rebuilt here from the task's own generator (stream "test", the chunk
counter); each other set must keep its labels and differ only where and by what it says:
jitter moves period boundaries by at most J steps (checked against the task built with the
jittered timings), unseen coherences change the evidence by exactly the coherence difference
and none is a training coherence, the noisy set adds N(0, sigma) noise and nothing else.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.priors.network_prior import NetworkPrior
from cortexrnn.services.tasks import get_task
from cortexrnn.services.tasks.go_no_go import GoNoGo
from cortexrnn.services.tasks.jitter import jittered_bounds, nominal_bounds
from cortexrnn.services.tasks.one_choice import OneChoiceInference
from cortexrnn.services.tasks.perceptual import COHERENCES
from cortexrnn.services.training.evaluation import EvaluationConfig
from cortexrnn.services.training.heldout import heldout_batch
from cortexrnn.services.training.trainer import PopulationTrainer

torch.set_num_threads(1)

ALL = EvaluationConfig(sets=["recall", "noisy", "jitter", "unseen_coherence"], jitter_steps=3)


def _batch(task, name, cfg=ALL, seed=7, chunk=2, size=256, noise_in=0.05):
    return heldout_batch(task, name, cfg, noise_in, seed, chunk, size)


@pytest.mark.parametrize("task_name", ["go_no_go", "one_choice_inference"])
def test_jitter_moves_boundaries_within_the_bound_and_changes_nothing_else(task_name) -> None:
    task = get_task(task_name)
    recall, jit = _batch(task, "recall"), _batch(task, "jitter")
    assert torch.equal(recall.labels, jit.labels)
    assert jit.inputs.shape == recall.inputs.shape  # same length, same read-out step
    bounds = jit.meta["bounds"]
    nominal = torch.tensor(nominal_bounds(task))
    shift = bounds - nominal
    assert int(shift.abs().max()) == 3  # the stated amount is reached, never exceeded
    assert bool((shift != 0).any(dim=1).float().mean() > 0.9)  # nearly every trial moved
    assert bool(((bounds[:, 1:] - bounds[:, :-1]) >= 1).all())  # no period vanishes
    # Each jittered trial is exactly what the task generates with that trial's timings.
    for b in range(0, 256, 17):
        steps = (bounds[b, 1:] - bounds[b, :-1]).tolist()
        if isinstance(task, GoNoGo):
            fix, stim, delay, dec = steps
            timed = GoNoGo(fixation=fix, stimulus=stim, delay=delay, decision=dec)
            want = timed.templates()[recall.labels[b]]
        else:
            goal, delay, choices = steps
            timed = OneChoiceInference(goal=goal, delay=delay, choices=choices)
            want = timed.templates()[recall.meta["problem"][b]]
        assert torch.equal(jit.inputs[:, b], want)


def test_jitter_keeps_empty_periods_empty_and_a_one_step_fixation() -> None:
    task = get_task("perceptual_decision_making")  # fixation 1, stimulus 30, delay 10, decision 0
    g = torch.Generator().manual_seed(0)
    bounds = jittered_bounds(task, 5, 500, g)
    assert bounds.shape == (500, 4)  # three non-empty periods
    assert bool(((bounds[:, 1:] - bounds[:, :-1]) >= 1).all())
    assert bool(((bounds - torch.tensor(nominal_bounds(task))).abs() <= 5).all())
    # The stimulus keeps its own samples: every jittered step is some step of the same period.
    recall, jit = _batch(task, "recall"), _batch(task, "jitter")
    stim = recall.inputs[1:31]
    for b in range(0, 256, 31):
        lo, hi = int(jit.meta["bounds"][b, 1]), int(jit.meta["bounds"][b, 2])
        rows = {tuple(r.tolist()) for r in stim[:, b]}
        assert all(tuple(r.tolist()) in rows for r in jit.inputs[lo:hi, b])


def test_unseen_coherences_are_not_training_ones_and_change_only_the_evidence() -> None:
    task = get_task("perceptual_decision_making")
    recall, unseen = _batch(task, "recall"), _batch(task, "unseen_coherence")

    def cohs(batch) -> set[float]:  # float32 in the batch
        return {round(c, 4) for c in batch.meta["coherence"].tolist()}

    trained = set(COHERENCES)
    held = cohs(unseen)
    assert held and held.isdisjoint(trained) and cohs(recall) <= trained
    assert np.allclose(sorted(held), [3.2, 9.6, 19.2, 38.4], atol=1e-4)
    assert torch.equal(recall.labels, unseen.labels)
    # Same trials, same noise: the evidence channels differ by +-(coh_unseen - coh_train)/200.
    sign = torch.where(torch.arange(2)[None, :] == recall.labels[:, None], 1.0, -1.0)
    dcoh = (unseen.meta["coherence"] - recall.meta["coherence"])[:, None] / 200.0
    diff = unseen.inputs - recall.inputs
    assert torch.allclose(diff[task.stimulus_slice, :, 1:], (sign * dcoh)[None], atol=1e-6)
    diff[task.stimulus_slice, :, 1:] = 0
    assert torch.equal(diff, torch.zeros_like(diff))
    own = EvaluationConfig(sets=["unseen_coherence"], unseen_cohs=[40.0])
    assert cohs(_batch(task, "unseen_coherence", own)) == {40.0}


@pytest.mark.parametrize(("cfg_sigma", "sigma"), [(None, 0.05), (0.2, 0.2)])
def test_noisy_set_adds_gaussian_noise_of_the_stated_sigma(cfg_sigma, sigma) -> None:
    task = get_task("go_no_go")
    cfg = EvaluationConfig(sets=["noisy"], noise_in=cfg_sigma)
    recall, noisy = _batch(task, "recall", cfg), _batch(task, "noisy", cfg)
    assert torch.equal(recall.labels, noisy.labels)
    resid = (noisy.inputs - recall.inputs).flatten()
    assert abs(float(resid.std()) - sigma) < 0.02 * sigma
    assert abs(float(resid.mean())) < 0.02 * sigma
    assert float((resid == 0).float().mean()) == 0.0  # every input, every step


@pytest.mark.parametrize("name", ["recall", "noisy", "jitter", "unseen_coherence"])
def test_sets_are_deterministic_per_seed_and_chunk(name) -> None:
    task = get_task("perceptual_decision_making")
    a, b = _batch(task, name), _batch(task, name)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.labels, b.labels)
    other = _batch(task, name, seed=8)
    assert not torch.equal(a.inputs, other.inputs)


def test_trainer_reports_each_applicable_set_once_at_the_end() -> None:
    from cortexrnn.services.training.config import TrainingConfig

    rng = np.random.default_rng(0)
    priors = [NetworkPrior(w_init=np.linalg.qr(rng.normal(size=(6, 6)))[0]) for _ in range(2)]
    cfg = TrainingConfig(
        batch_size=8, train_trials=16, epochs=1, test_trials=12, checkpoint_every_steps=None
    )
    go = GoNoGo(fixation=1, stimulus=3, delay=2, decision=1)
    res = PopulationTrainer(priors, [0, 1], go, ModelConfig(), cfg, evaluation=ALL).run()
    for net in res.networks:
        assert set(net.heldout_acc) == {"test_acc_noisy", "test_acc_jitter"}  # no coherences
        assert all(0.0 <= v <= 1.0 for v in net.heldout_acc.values())
    plain = PopulationTrainer(priors, [0, 1], go, ModelConfig(), cfg).run()
    assert all(net.heldout_acc == {} for net in plain.networks)
    # Recall is untouched by the extra sets: the same test accuracy with or without them.
    assert [n.evals for n in plain.networks] == [n.evals for n in res.networks]
    # A noisy set without any noise to add is refused before training, not after.
    with pytest.raises(ValueError, match="noise_in"):
        PopulationTrainer(priors, [0, 1], go, ModelConfig(noise_in=0.0), cfg, evaluation=ALL)


@pytest.mark.parametrize("name", ["recall", "noisy", "jitter", "unseen_coherence"])
def test_sets_describe_their_trials_and_follow_the_requested_device(name) -> None:
    """Every set's batch, made while torch's default device is another one (meta stands in
    for a GPU on a CPU-only box), is made where it was asked for and equals the one made
    without that default; the noisy and jittered sets keep the recall trials' description
    (here each trial's coherence)."""
    task = get_task("perceptual_decision_making")
    want = _batch(task, name, size=64)
    with torch.device("meta"):
        got = heldout_batch(task, name, ALL, 0.05, 7, 2, 64, device="cpu")
    tensors = [got.inputs, got.labels, *got.meta.values()]
    assert all(t.device.type == "cpu" for t in tensors)
    assert torch.equal(got.inputs, want.inputs) and torch.equal(got.labels, want.labels)
    assert got.meta.keys() == want.meta.keys()
    assert all(torch.equal(got.meta[k], want.meta[k]) for k in want.meta)
    if name in ("noisy", "jitter"):
        recall = _batch(task, "recall", size=64)
        assert torch.equal(got.meta["coherence"], recall.meta["coherence"])


def test_a_perceptual_pack_reports_the_unseen_coherences() -> None:
    from cortexrnn.services.training.config import TrainingConfig

    rng = np.random.default_rng(1)
    priors = [NetworkPrior(w_init=np.linalg.qr(rng.normal(size=(6, 6)))[0]) for _ in range(2)]
    cfg = TrainingConfig(
        batch_size=8, train_trials=16, epochs=1, test_trials=12, checkpoint_every_steps=None
    )
    pdm = get_task("perceptual_decision_making", stimulus=3, delay=1)
    res = PopulationTrainer(priors, [0, 1], pdm, ModelConfig(), cfg, evaluation=ALL).run()
    for net in res.networks:
        assert set(net.heldout_acc) == {
            "test_acc_noisy",
            "test_acc_jitter",
            "test_acc_unseen_coherence",
        }
