"""Held-out evaluation never sees a training trial.

During a short real training run every task batch is recorded together with the phase that
asked for it (training step or `evaluate`), the seed of the generator it was drawn from, and
every (seed, counter, stream) the trainer derived a generator from. The held-out generators
and trials must be disjoint from the training ones, and the held-out set must be the same at
every evaluation (a fixed test set, SCIENCE.md §4). With the generalisation sets on (noisy,
jitter: services/training/evaluation.py) their generators, extra streams included, and their
trials are disjoint from training too, and they start from the recall set's trials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import torch

from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.priors.network_prior import NetworkPrior
from cortexrnn.services.tasks.go_no_go import GoNoGo
from cortexrnn.services.training import heldout as heldout_mod
from cortexrnn.services.training import trainer as trainer_mod
from cortexrnn.services.training.config import TrainingConfig
from cortexrnn.services.training.evaluation import EvaluationConfig

torch.set_num_threads(1)

N = 6
_LOG: dict[str, list] = {"batches": [], "gens": [], "shown": []}
_PHASE = ["train"]


@dataclass(frozen=True)
class RecordingGoNoGo(GoNoGo):
    """Go/no-go with input noise (so every trial is unique) that logs what it generates."""

    name: ClassVar[str] = "go_no_go"

    def generate(self, batch_size, generator, device=None):
        b = super().generate(batch_size, generator, device)
        _LOG["batches"].append((_PHASE[0], generator.initial_seed(), b.inputs.detach().clone()))
        return b


def _trial_keys(x: torch.Tensor) -> set[bytes]:
    """One key per trial: the bytes of its [T, n_in] inputs."""
    return {x[:, i].contiguous().numpy().tobytes() for i in range(x.shape[1])}


GENERALISE = EvaluationConfig(sets=["recall", "noisy", "jitter"], jitter_steps=1)


@pytest.mark.parametrize(
    ("stream", "evaluation"), [("fixed", None), ("fresh", None), ("fixed", GENERALISE)]
)
def test_heldout_trials_and_generators_are_disjoint_from_training(
    stream: str, evaluation: EvaluationConfig | None, monkeypatch
) -> None:
    _LOG["batches"].clear()
    _LOG["gens"].clear()
    _LOG["shown"].clear()
    _PHASE[0] = "train"
    orig_eval = trainer_mod.PopulationTrainer.evaluate
    orig_gen = trainer_mod.batch_generator

    def evaluate(self, name="recall", nets=None):
        _PHASE[0] = "eval" if name == "recall" else f"eval:{name}"
        try:
            return orig_eval(self, name, nets)
        finally:
            _PHASE[0] = "train"

    def batch_generator(seed, step, stream="train", device="cpu"):
        _LOG["gens"].append((_PHASE[0], seed, step, stream))
        return orig_gen(seed, step, stream, device)

    monkeypatch.setattr(trainer_mod.PopulationTrainer, "evaluate", evaluate)
    monkeypatch.setattr(trainer_mod, "batch_generator", batch_generator)
    monkeypatch.setattr(heldout_mod, "batch_generator", batch_generator)
    orig_heldout = trainer_mod.heldout_batch

    def heldout_batch(*args, **kwargs):  # what the network is shown, after the set's change
        b = orig_heldout(*args, **kwargs)
        _LOG["shown"].append((_PHASE[0], b.inputs.detach().clone()))
        return b

    monkeypatch.setattr(trainer_mod, "heldout_batch", heldout_batch)

    task = RecordingGoNoGo(fixation=1, stimulus=3, delay=1, decision=1, sigma=0.3)
    rng = np.random.default_rng(0)
    priors = [NetworkPrior(w_init=np.linalg.qr(rng.normal(size=(N, N)))[0]) for _ in range(2)]
    seeds = [3, 4]
    cfg = TrainingConfig(
        lr=1e-2,
        batch_size=8,
        train_trials=8 * 4,
        epochs=3,
        test_trials=20,
        eval_every_steps=3,
        checkpoint_every_steps=None,
        trial_stream=stream,
    )
    res = trainer_mod.PopulationTrainer(
        priors, seeds, task, ModelConfig(), cfg, evaluation=evaluation
    ).run()
    assert res.step == 12

    train_b = [(s, x) for ph, s, x in _LOG["batches"] if ph == "train"]
    eval_b = [(s, x) for ph, s, x in _LOG["batches"] if ph == "eval"]
    n_evals = len(res.networks[0].evals)
    assert n_evals >= 4
    # 12 steps x 2 networks of training batches; 3 chunks (8, 8, 4) x 2 networks per evaluation
    # (an evaluation with nothing changed since the last may reuse it without drawing).
    assert len(train_b) == 12 * 2
    assert len(eval_b) >= 2 * 3 * 2 and len(eval_b) % 6 == 0

    # 1. generator seeds: disjoint.
    train_seeds = {s for s, _ in train_b}
    eval_seeds = {s for s, _ in eval_b}
    assert train_seeds.isdisjoint(eval_seeds)
    # 2. (seed, counter, stream) triples the trainer derived for task trials: disjoint. The
    # training ones are the "train"-phase generators whose seed produced a training batch.
    triples = {(ph, s, k, st) for ph, s, k, st in _LOG["gens"]}
    seed_of = {t: orig_gen(t[1], t[2], t[3]).initial_seed() for t in triples}
    train_trip = {t[1:] for t in triples if t[0] == "train" and seed_of[t] in train_seeds}
    eval_trip = {t[1:] for t in triples if t[0] == "eval" and seed_of[t] in eval_seeds}
    assert len(eval_trip) == 3 * 2 and train_trip.isdisjoint(eval_trip)
    # ... and no generator of any other training purpose (init, noise, order) is reused either.
    all_train = {t[1:] for t in triples if t[0] == "train"}
    assert all_train.isdisjoint(eval_trip)
    # 3. trial contents: no held-out trial equals any training trial.
    train_keys = set().union(*(_trial_keys(x) for _, x in train_b))
    eval_keys = set().union(*(_trial_keys(x) for _, x in eval_b))
    assert len(eval_keys) == 2 * 20  # 20 distinct held-out trials per network
    assert train_keys.isdisjoint(eval_keys)
    # 4. the held-out set is fixed: every evaluation draws the very same trials.
    per_eval = [frozenset(s for s, _ in eval_b[i : i + 6]) for i in range(0, len(eval_b), 6)]
    assert len(set(per_eval)) == 1

    extra = evaluation.extra_sets if evaluation else []
    assert set(res.networks[0].heldout_acc) == {f"test_acc_{n}" for n in extra}
    for name in extra:
        # 5. each generalisation set: evaluated once, at the end, from the recall trials'
        # generators; every generator it derives (extra streams too) is unused by training;
        # none of its trials is a training trial.
        phase = f"eval:{name}"
        set_b = [(s, x) for ph, s, x in _LOG["batches"] if ph == phase]
        assert len(set_b) == 3 * 2 and {s for s, _ in set_b} == per_eval[0]
        set_trip = {t[1:] for t in triples if t[0] == phase}
        assert {t[2] for t in set_trip} == {"test", f"test_{name}"}
        assert all_train.isdisjoint(set_trip)
        shown = [x for ph, x in _LOG["shown"] if ph == phase]
        set_keys = set().union(*(_trial_keys(x) for x in shown))
        assert len(shown) == 3 * 2 and len(set_keys) == 2 * 20
        assert train_keys.isdisjoint(set_keys)
