"""Go/no-go and perceptual decision making against NeuroGym, the reference for their semantics.

NeuroGym is a test-only dependency. neurogym 2.3.1 pins numpy==2.2.*, which conflicts with
the project's numpy; it works when installed with `pip install --no-deps neurogym gymnasium`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from cortexrnn.services.tasks import batch_generator, get_task

torch.set_num_threads(1)
warnings.filterwarnings("ignore", category=DeprecationWarning)
ngym = pytest.importorskip(
    "neurogym",
    reason="neurogym is not installed (its numpy pin conflicts with ours: pip install "
    "--no-deps neurogym 'gymnasium==0.29.*' loguru tqdm tomlkit natsort)",
)

DT = 100


def _ng_pdm(sigma: float = 1.0):
    from neurogym.envs.native.perceptualdecisionmaking import PerceptualDecisionMaking

    return PerceptualDecisionMaking(
        dt=DT,
        timing={"fixation": 100, "stimulus": 3000, "delay": 1000, "decision": 100},
        sigma=sigma,
    )


def _ng_gonogo():
    from neurogym.envs.native.gonogo import GoNogo

    return GoNogo(dt=DT, timing={"fixation": 500, "stimulus": 2000, "delay": 1000, "decision": 500})


def test_pdm_trial_structure_matches_neurogym() -> None:
    env = _ng_pdm(sigma=0.0)
    ours = get_task("perceptual_decision_making", sigma=0.0)
    env.seed(0)
    for gt in (0, 1):
        for coh in (0.0, 6.4, 51.2):
            env.new_trial(ground_truth=gt, coh=coh)
            ob = np.asarray(env.ob, dtype=np.float64)
            assert env.start_ind["stimulus"] == ours.fixation
            assert env.end_ind["stimulus"] - env.start_ind["stimulus"] == ours.stimulus
            assert env.end_ind["delay"] - env.start_ind["delay"] == ours.delay
            # Build our trial for the same (gt, coh) from a batch by selecting a matching one.
            batch = ours.generate(2000, batch_generator(1, 0))
            idx = torch.nonzero(
                (batch.labels == gt) & (torch.isclose(batch.meta["coherence"], torch.tensor(coh)))
            ).flatten()[0]
            mine = batch.inputs[:, idx].double().numpy()
            t_end = ours.n_steps  # neurogym appends its decision period after ours
            np.testing.assert_allclose(mine[:t_end, 1:], ob[:t_end, 1:], atol=1e-6)
            # NeuroGym 2.x lights fixation only in its fixation period (older releases kept it on
            # until the decision); the paper's trials have no decision period: ours is always 1.
            assert ob[0, 0] == 1.0 and mine[0, 0] == 1.0
            assert env.gt[-1] == gt + 1  # neurogym action = direction index + 1 (0 is fixate)


def test_pdm_ideal_observer_matches_neurogym() -> None:
    env = _ng_pdm()
    env.seed(123)
    ours = get_task("perceptual_decision_making")
    n = 6000
    correct = 0
    for _ in range(n):
        env.new_trial()
        stim = np.asarray(env.ob)[env.start_ind["stimulus"] : env.end_ind["stimulus"], 1:]
        choice = int(stim[:, 1].sum() > stim[:, 0].sum())
        correct += choice == env.trial["ground_truth"]
    ng_acc = correct / n
    batch = ours.generate(n, batch_generator(2, 0))
    ev = batch.inputs[ours.stimulus_slice, :, 1:].sum(0)
    our_acc = ((ev[:, 1] > ev[:, 0]).long() == batch.labels).double().mean().item()
    # Two independent samples of n trials each; binomial sd of the difference ~ 0.0055.
    assert abs(ng_acc - our_acc) < 0.025
    assert 0.87 < ng_acc < 0.93 and 0.87 < our_acc < 0.93


def test_go_no_go_matches_neurogym() -> None:
    env = _ng_gonogo()
    env.seed(0)
    ours = get_task("go_no_go", fixation_during_stimulus=True)
    templates = ours.templates().double().numpy()
    for gt in (0, 1):
        env.new_trial(ground_truth=gt)
        ob = np.asarray(env.ob, dtype=np.float64)
        assert ob.shape == templates[gt].shape
        np.testing.assert_array_equal(ob, templates[gt])
        assert env.gt[-1] == gt
    # The paper's version differs only in fixation being off during the stimulus.
    paper = get_task("go_no_go").templates().numpy()
    diff = np.nonzero(paper != templates)
    assert set(diff[1].tolist()) == set(range(5, 25)) and set(diff[2].tolist()) == {0}


def test_go_no_go_ideal_observer_matches_neurogym() -> None:
    env = _ng_gonogo()
    env.seed(4)
    n = 500
    ng_correct = 0
    for _ in range(n):
        env.new_trial()
        ob = np.asarray(env.ob)
        ng_correct += int(ob[:, 2].sum() > ob[:, 1].sum()) == env.trial["ground_truth"]
    batch = get_task("go_no_go").generate(n, batch_generator(0, 0))
    ours = (
        ((batch.inputs[:, :, 2].sum(0) > batch.inputs[:, :, 1].sum(0)).long() == batch.labels)
        .double()
        .mean()
        .item()
    )
    assert ng_correct / n == 1.0 and ours == 1.0
