"""The held-out trials of each evaluation set (services/training/evaluation.py).

Chunk `c` of a network with seed `s` is the recall chunk, drawn from generator (s, "test", c),
changed the set's one way, with any extra randomness from a stream of its own: (s,
"test_<set>", c). No stream is one the trainer draws training trials, noise, initial weights
or batch order from, so no set shares a generator with training.
"""

from __future__ import annotations

import dataclasses

import torch

from cortexrnn.services.tasks.base import STREAM_TEST, Task, TrialBatch, batch_generator
from cortexrnn.services.tasks.jitter import jittered_bounds, retime
from cortexrnn.services.tasks.perceptual import PerceptualDecisionMaking
from cortexrnn.services.training.evaluation import RECALL, EvaluationConfig

STREAM_TEST_NOISE = "test_noisy"
STREAM_TEST_JITTER = "test_jitter"


def set_task(task: Task, name: str, cfg: EvaluationConfig) -> Task:
    """The task whose trials set `name` starts from (the training task, or for unseen
    coherences the same task over the held-out coherences)."""
    if name != "unseen_coherence":
        return task
    if not isinstance(task, PerceptualDecisionMaking):
        raise ValueError(
            f"the unseen_coherence set needs perceptual decision making, not {task.name}"
        )
    return dataclasses.replace(task, cohs=cfg.unseen_for(task.cohs))


def heldout_batch(
    task: Task,
    name: str,
    cfg: EvaluationConfig,
    noise_in: float,
    seed: int,
    chunk: int,
    size: int,
    device: torch.device | str = "cpu",
) -> TrialBatch:
    """Chunk `chunk` (`size` trials) of set `name` for the network with `seed`; `noise_in` is
    the model's, used by "noisy" where the config names no std of its own."""
    base = set_task(task, name, cfg).generate(
        size, batch_generator(seed, chunk, STREAM_TEST, device), device
    )
    if name in (RECALL, "unseen_coherence"):
        return base
    if name == "noisy":
        sigma = cfg.noise_in if cfg.noise_in is not None else noise_in
        if not sigma > 0:
            raise ValueError("the noisy set needs evaluation.noise_in > 0 or a model noise_in > 0")
        g = batch_generator(seed, chunk, STREAM_TEST_NOISE, device)
        noise = torch.randn(base.inputs.shape, generator=g, device=base.inputs.device)
        return TrialBatch(inputs=base.inputs + sigma * noise, labels=base.labels, meta=base.meta)
    if name == "jitter":
        g = batch_generator(seed, chunk, STREAM_TEST_JITTER, device)
        bounds = jittered_bounds(task, cfg.jitter_steps, size, g)
        return TrialBatch(
            inputs=retime(task, base.inputs, bounds),
            labels=base.labels,
            meta={**base.meta, "bounds": bounds},
        )
    raise ValueError(f"unknown evaluation set {name!r}")
