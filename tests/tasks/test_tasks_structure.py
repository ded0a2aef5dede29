"""Trial structure of the three tasks, checked against the tables of SCIENCE.md §3."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.stats import norm

from cortexrnn.services.tasks import STREAM_TEST, batch_generator, get_task

torch.set_num_threads(1)

# SCIENCE.md §3, written out independently of the implementation: goal channels 0-3 are
# maze goals 7, 9, 17, 19; direction channels 4-7 are l, u, r, d.
OCI_TABLE = [
    (9, "ul", "u"),
    (9, "rd", "r"),
    (19, "ld", "d"),
    (17, "rd", "d"),
    (17, "ul", "l"),
    (7, "ur", "u"),
    (19, "lr", "r"),
    (7, "lr", "l"),
]
GOAL_CH = {7: 0, 9: 1, 17: 2, 19: 3}
DIR_CH = {"l": 0, "u": 1, "r": 2, "d": 3}


def test_registry_metadata() -> None:
    oci, gng, pdm = (
        get_task(n) for n in ("one_choice_inference", "go_no_go", "perceptual_decision_making")
    )
    assert (oci.n_inputs, oci.n_outputs, oci.n_steps, oci.chance) == (8, 4, 50, 0.25)
    assert (gng.n_inputs, gng.n_outputs, gng.n_steps, gng.chance) == (3, 2, 40, 0.5)
    assert (pdm.n_inputs, pdm.n_outputs, pdm.n_steps, pdm.chance) == (3, 2, 41, 0.5)
    assert get_task("go-no-go", stimulus=7).n_steps == 5 + 7 + 10 + 5


def test_registry_rejects_bad_names_and_params() -> None:
    with pytest.raises(ValueError, match="unknown task 'maze'"):
        get_task("maze")
    with pytest.raises(ValueError, match=r"no parameter.*stimulis"):
        get_task("go_no_go", stimulis=3)
    with pytest.raises(ValueError, match="'delay' must be a non-negative"):
        get_task("perceptual_decision_making", delay=-1)
    with pytest.raises(ValueError, match="cohs"):
        get_task("perceptual_decision_making", cohs=[])


@pytest.mark.parametrize("name", ["one_choice_inference", "go_no_go", "perceptual_decision_making"])
def test_shapes_dtypes_and_seeding(name: str) -> None:
    task = get_task(name)
    a = task.generate(64, batch_generator(3, 7))
    b = task.generate(64, batch_generator(3, 7))
    c = task.generate(64, batch_generator(3, 8))
    d = task.generate(64, batch_generator(3, 7, stream=STREAM_TEST))
    assert a.inputs.shape == (task.n_steps, 64, task.n_inputs) and a.inputs.dtype == torch.float32
    assert a.labels.shape == (64,) and a.labels.dtype == torch.int64
    assert int(a.labels.min()) >= 0 and int(a.labels.max()) < task.n_outputs
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.labels, b.labels)
    assert not (torch.equal(a.inputs, c.inputs) and torch.equal(a.labels, c.labels))
    assert not (torch.equal(a.inputs, d.inputs) and torch.equal(a.labels, d.labels))


def test_generator_device_mismatch_is_explained() -> None:
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA to build a generator on another device")
    with pytest.raises(ValueError, match="generator lives on"):
        get_task("go_no_go").generate(4, batch_generator(0, 0, device="cuda"), device="cpu")


def test_labels_are_uniform() -> None:
    for name, k in [
        ("one_choice_inference", 4),
        ("go_no_go", 2),
        ("perceptual_decision_making", 2),
    ]:
        labels = get_task(name).generate(40_000, batch_generator(1, 0)).labels
        freq = torch.bincount(labels, minlength=k).double() / labels.numel()
        assert torch.allclose(freq, torch.full((k,), 1.0 / k, dtype=torch.float64), atol=0.015), (
            name,
            freq,
        )


def test_one_choice_inference_problems_match_the_table() -> None:
    task = get_task("one_choice_inference")
    batch = task.generate(4000, batch_generator(0, 0))
    x, y = batch.inputs, batch.labels
    assert torch.equal(x[20:30], torch.zeros_like(x[20:30])), "delay must be all zeros"
    # The goal is constant over the goal period, the directions over the choice period.
    assert torch.equal(x[:20], x[:1].expand(20, -1, -1)) and torch.equal(
        x[30:], x[30:31].expand(20, -1, -1)
    )
    seen = set()
    for i in range(x.shape[1]):
        goal_part, dirs_part = x[0, i, :4], x[30, i, 4:]
        assert x[0, i, 4:].sum() == 0 and x[30, i, :4].sum() == 0
        goal = [g for g, ch in GOAL_CH.items() if goal_part[ch] == 1]
        dirs = "".join(sorted(d for d, ch in DIR_CH.items() if dirs_part[ch] == 1))
        assert len(goal) == 1 and goal_part.sum() == 1 and len(dirs) == 2
        matches = [
            ans for g, shown, ans in OCI_TABLE if g == goal[0] and "".join(sorted(shown)) == dirs
        ]
        assert len(matches) == 1, (goal, dirs)
        assert int(y[i]) == DIR_CH[matches[0]]
        seen.add((goal[0], dirs))
    assert len(seen) == 8


def test_one_choice_inference_goal_ignoring_observer_gets_0625() -> None:
    batch = get_task("one_choice_inference").generate(80_000, batch_generator(5, 0))
    # The best a goal-blind observer can do: per direction pattern, answer its most frequent label.
    pattern = (batch.inputs[-1, :, 4:] * torch.tensor([1, 2, 4, 8])).sum(1).long()
    joint = torch.zeros(16, 4, dtype=torch.long)
    joint.index_put_((pattern, batch.labels), torch.ones_like(pattern), accumulate=True)
    accuracy = joint.max(1).values.sum().item() / pattern.numel()
    assert accuracy == pytest.approx(0.625, abs=0.01)
    # With the goal, the answer is determined: a lookup table is always right.
    key = pattern * 4 + batch.inputs[0, :, :4].argmax(1)
    joint2 = torch.zeros(64, 4, dtype=torch.long)
    joint2.index_put_((key, batch.labels), torch.ones_like(key), accumulate=True)
    assert joint2.max(1).values.sum().item() == key.numel()


def test_go_no_go_periods() -> None:
    task = get_task("go_no_go")
    batch = task.generate(512, batch_generator(0, 0))
    x, y = batch.inputs, batch.labels
    fix, nogo, go, zero = (
        torch.tensor(v, dtype=torch.float32) for v in ([1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0])
    )
    for i in range(x.shape[1]):
        stim = go if int(y[i]) == 1 else nogo
        expected = torch.stack([fix] * 5 + [stim] * 20 + [fix] * 10 + [zero] * 5)
        assert torch.equal(x[:, i], expected)


def test_perceptual_decision_making_inputs() -> None:
    task = get_task("perceptual_decision_making", sigma=0.0)
    batch = task.generate(1000, batch_generator(0, 0))
    x, y, coh = batch.inputs, batch.labels, batch.meta["coherence"]
    assert torch.equal(x[:, :, 0], torch.ones_like(x[:, :, 0])), (
        "fixation is always 1 with the paper's timings"
    )
    assert torch.equal(x[0, :, 1:], torch.zeros_like(x[0, :, 1:])) and torch.equal(
        x[31:, :, 1:], torch.zeros_like(x[31:, :, 1:])
    )
    assert {round(c, 4) for c in coh.tolist()} == {0.0, 6.4, 12.8, 25.6, 51.2}
    # cos(theta_c - theta_gt) * coh / 200 + 0.5, theta in {0, pi}
    theta = torch.tensor([0.0, math.pi], dtype=torch.float64)
    theta_gt = theta[y]
    expected = torch.cos(theta[None, :] - theta_gt[:, None]) * coh[:, None].double() / 200 + 0.5
    assert torch.allclose(x[1:31, :, 1:].double(), expected[None].expand(30, -1, -1), atol=1e-6)
    noisy = get_task("perceptual_decision_making").generate(4000, batch_generator(0, 1))
    resid = noisy.inputs[1:31, :, 1:] - (noisy.inputs[1:31, :, 1:].mean(0, keepdim=True))
    assert resid.std().item() == pytest.approx(0.1 * math.sqrt(29 / 30), rel=0.03)


def _pdm_ideal_analytic(cohs: list[float], steps: int, sigma: float) -> float:
    # Sum over the stimulus of (ch1 - ch2): mean +-steps*coh/100, std sqrt(2*steps)*sigma.
    acc = [
        0.5 if c == 0 else norm.cdf(steps * c / 100 / (math.sqrt(2 * steps) * sigma)) for c in cohs
    ]
    return sum(acc) / len(acc)


def test_perceptual_decision_making_ideal_observer_is_near_09() -> None:
    task = get_task("perceptual_decision_making")
    batch = task.generate(50_000, batch_generator(11, 0))
    evidence = batch.inputs[task.stimulus_slice, :, 1:].sum(0)
    choice = (evidence[:, 1] > evidence[:, 0]).long()
    accuracy = (choice == batch.labels).double().mean().item()
    expected = _pdm_ideal_analytic([0, 6.4, 12.8, 25.6, 51.2], 30, 0.1)
    assert 0.88 < expected < 0.91
    assert accuracy == pytest.approx(expected, abs=0.01)
    zero = batch.meta["coherence"] == 0
    assert (choice[zero] == batch.labels[zero]).double().mean().item() == pytest.approx(
        0.5, abs=0.02
    )
