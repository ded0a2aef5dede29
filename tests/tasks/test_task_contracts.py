"""What a user of a task relies on beyond the trial tables: where the batch lives, how seeds
derive, which parameters are refused and how the refusal names them, what `describe()` says,
and the timing-jitter distribution. Expectations are written out by hand (the tables of
SCIENCE.md §3 and the docstrings of services/tasks), never read back from the code.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import torch

from cortexrnn.services.tasks import STREAM_TEST, batch_generator, derive_seed, get_task
from cortexrnn.services.tasks.go_no_go import GoNoGo
from cortexrnn.services.tasks.jitter import jittered_bounds, nominal_bounds, retime
from cortexrnn.services.tasks.one_choice import OneChoiceInference
from cortexrnn.services.tasks.perceptual import PerceptualDecisionMaking

torch.set_num_threads(1)

PeriodTaskClass = type[GoNoGo] | type[PerceptualDecisionMaking]

TASK_PARAMS = {
    "go_no_go": {"sigma": 0.3},  # noisy, so that the noise draw is covered too
    "one_choice_inference": {},
    "perceptual_decision_making": {},
}


# --- seeds ---------------------------------------------------------------------------------


def test_derived_seed_is_the_documented_blake2b_counter() -> None:
    # Stored runs are regenerated batch by batch from (seed, stream, step): the derivation is
    # part of the run record, so it is pinned to its definition (base.py's docstring):
    # blake2b with an 8-byte digest of "seed:stream:step", read little-endian, top bit cleared.
    for seed, stream, step in [(0, "train", 0), (7, "test", 3), (123456, "train", 99_999)]:
        digest = hashlib.blake2b(f"{seed}:{stream}:{step}".encode(), digest_size=8).digest()
        want = sum(b << (8 * i) for i, b in enumerate(digest)) % 2**63
        assert derive_seed(seed, stream, step) == want


@pytest.mark.parametrize(("seed", "step"), [(-1, 0), (0, -1), (-3, -3)])
def test_negative_seed_or_step_is_refused(seed: int, step: int) -> None:
    with pytest.raises(ValueError, match="seed and step must be non-negative"):
        derive_seed(seed, "train", step)


def test_noisy_go_no_go_is_reproducible_from_the_seed() -> None:
    task = get_task("go_no_go", sigma=0.3)
    a = task.generate(32, batch_generator(4, 2))
    b = task.generate(32, batch_generator(4, 2))
    c = task.generate(32, batch_generator(4, 2, stream=STREAM_TEST))
    assert torch.equal(a.inputs, b.inputs)
    assert not torch.equal(a.inputs, c.inputs)


# --- device --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(TASK_PARAMS))
def test_batch_is_on_the_requested_device_whatever_the_default_device(name: str) -> None:
    # A trainer that sets torch's default device (torch.set_default_device) still gets its
    # batches where it asked for them: every tensor of the batch is made on that device.
    task = get_task(name, **TASK_PARAMS[name])
    want = task.generate(16, batch_generator(1, 5), device="cpu")
    with torch.device("meta"):
        got = task.generate(16, batch_generator(1, 5), device="cpu")
        implicit = task.generate(16, batch_generator(1, 5))  # the generator's device
    for batch in (got, implicit):
        tensors = [batch.inputs, batch.labels, *batch.meta.values()]
        assert all(t.device.type == "cpu" for t in tensors)
        assert torch.equal(batch.inputs, want.inputs) and torch.equal(batch.labels, want.labels)


def test_templates_answers_and_jitter_follow_the_requested_device() -> None:
    with torch.device("meta"):
        assert GoNoGo().templates("cpu").device.type == "cpu"
        assert OneChoiceInference().templates("cpu").device.type == "cpu"
        assert OneChoiceInference.answers("cpu").device.type == "cpu"
        task = GoNoGo()
        bounds = jittered_bounds(task, 2, 8, torch.Generator())
        inputs = torch.zeros(task.n_steps, 8, 3, device="cpu")
        assert bounds.device.type == "cpu"
        assert retime(task, inputs, bounds).device.type == "cpu"


def test_a_device_other_than_the_generators_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError) as err:
        get_task("go_no_go").generate(4, batch_generator(0, 0), device="meta")
    assert str(err.value) == (
        "task 'go_no_go': generator lives on cpu but device is meta; create the generator on "
        "the device that should hold the batch (batch_generator(..., device=...))"
    )


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -2, 2.0, "4"])
def test_batch_size_must_be_a_positive_integer(bad: Any) -> None:
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        get_task("go_no_go").generate(bad, batch_generator(0, 0))


def test_a_batch_of_one_trial_is_allowed() -> None:
    for name in TASK_PARAMS:
        batch = get_task(name).generate(1, batch_generator(0, 0))
        assert batch.labels.shape == (1,)


@pytest.mark.parametrize("field", ["fixation", "stimulus", "delay", "decision"])
@pytest.mark.parametrize("bad", [-1, 2.5, True])
@pytest.mark.parametrize("cls", [GoNoGo, PerceptualDecisionMaking])
def test_period_lengths_must_be_non_negative_integers(
    cls: PeriodTaskClass, field: str, bad: Any
) -> None:
    with pytest.raises(
        ValueError,
        match=rf"task '{cls.name}': parameter '{field}' must be a non-negative integer",
    ):
        cls(**{field: bad})


@pytest.mark.parametrize("cls", [GoNoGo, PerceptualDecisionMaking])
def test_the_stimulus_lasts_at_least_one_step(cls: PeriodTaskClass) -> None:
    with pytest.raises(
        ValueError, match=rf"task '{cls.name}': the stimulus must last at least one step"
    ):
        cls(stimulus=0)
    assert cls(stimulus=1).n_steps == cls().n_steps - cls().stimulus + 1


@pytest.mark.parametrize("cls", [GoNoGo, PerceptualDecisionMaking])
def test_negative_sigma_is_refused_naming_sigma(cls: PeriodTaskClass) -> None:
    with pytest.raises(ValueError, match=rf"task '{cls.name}': sigma must be >= 0, got -0.1"):
        cls(sigma=-0.1)


@pytest.mark.parametrize("field", ["goal", "delay", "choices"])
@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_one_choice_periods_must_be_non_negative_integers(field: str, bad: Any) -> None:
    with pytest.raises(
        ValueError,
        match=rf"task 'one_choice_inference': parameter '{field}' must be a non-negative integer",
    ):
        OneChoiceInference(**{field: bad})


@pytest.mark.parametrize("field", ["goal", "choices"])
def test_one_choice_goal_and_choices_last_at_least_one_step(field: str) -> None:
    with pytest.raises(
        ValueError,
        match="task 'one_choice_inference': goal and choices must last at least one step",
    ):
        OneChoiceInference(**{field: 0})
    assert OneChoiceInference(**{field: 1}).n_steps == 50 - 20 + 1
    assert OneChoiceInference(delay=0).n_steps == 40  # the delay may be empty


def test_coherences_are_stored_as_a_tuple_of_floats_up_to_100() -> None:
    task = PerceptualDecisionMaking(cohs=[0, 50, 100])
    assert task.cohs == (0.0, 50.0, 100.0)
    assert type(task.cohs) is tuple and all(type(c) is float for c in task.cohs)
    assert hash(task) == hash(PerceptualDecisionMaking(cohs=(0.0, 50.0, 100.0)))
    for bad in ([100.5], [-0.1], [10, 101]):
        with pytest.raises(ValueError, match="cohs must be a non-empty list of coherences"):
            PerceptualDecisionMaking(cohs=bad)


def test_registry_normalises_names_and_lists_the_choices() -> None:
    assert get_task(" Go No-Go ").name == "go_no_go"
    assert get_task("Perceptual Decision Making").name == "perceptual_decision_making"
    with pytest.raises(
        ValueError,
        match=r"available: one_choice_inference, go_no_go, perceptual_decision_making$",
    ):
        get_task("maze")
    with pytest.raises(
        ValueError,
        match=r"task 'go_no_go' has no parameter\(s\) bogus, stimulis; allowed: fixation, "
        r"stimulus, delay, decision, sigma, fixation_during_stimulus$",
    ):
        get_task("go_no_go", stimulis=3, bogus=1)


# --- what a task says about itself ---------------------------------------------------------


def test_describe_names_the_task_its_shape_and_parameters() -> None:
    assert GoNoGo(stimulus=7).describe() == {
        "name": "go_no_go",
        "n_inputs": 3,
        "n_outputs": 2,
        "n_steps": 5 + 7 + 10 + 5,
        "chance": 0.5,
        "params": {
            "fixation": 5,
            "stimulus": 7,
            "delay": 10,
            "decision": 5,
            "sigma": 0.0,
            "fixation_during_stimulus": False,
        },
    }
    assert OneChoiceInference().describe() == {
        "name": "one_choice_inference",
        "n_inputs": 8,
        "n_outputs": 4,
        "n_steps": 50,
        "chance": 0.25,
        "params": {"goal": 20, "delay": 10, "choices": 20},
    }


def test_templates_hold_one_trial_per_class_or_problem() -> None:
    assert GoNoGo().templates().shape == (2, 40, 3)  # no-go, go
    assert OneChoiceInference().templates().shape == (8, 50, 8)  # eight maze problems
    # Answers of the eight problems (SCIENCE.md §3): u, r, d, d, l, u, r, l; l, u, r, d = 0..3.
    answers = OneChoiceInference.answers()
    assert answers.tolist() == [1, 2, 3, 3, 0, 1, 2, 0] and answers.dtype == torch.int64


# --- timing jitter -------------------------------------------------------------------------


def test_zero_jitter_keeps_the_nominal_timings() -> None:
    task = GoNoGo()
    bounds = jittered_bounds(task, 0, 50, torch.Generator().manual_seed(0))
    assert bounds.tolist() == [[0, 5, 25, 35, 40]] * 50
    with pytest.raises(ValueError, match="max_shift must be >= 0, got -1"):
        jittered_bounds(task, -1, 5, torch.Generator())


def test_jitter_shifts_are_uniform_on_minus_j_to_j_and_independent() -> None:
    # Go/no-go's default boundaries 5, 25, 35 with J = 2 never hit a clamp, so each shift is
    # uniform on {-2, ..., 2} and the boundaries move independently of each other.
    task = GoNoGo()
    n = 20_000
    bounds = jittered_bounds(task, 2, n, torch.Generator().manual_seed(3))
    shifts = bounds[:, 1:-1] - torch.tensor([5, 25, 35])
    assert bounds[:, 0].eq(0).all() and bounds[:, -1].eq(40).all()
    for i in range(3):
        freq = torch.bincount(shifts[:, i] + 2, minlength=5).double() / n
        assert torch.allclose(freq, torch.full((5,), 0.2, dtype=torch.float64), atol=0.015), freq
    corr = torch.corrcoef(shifts.T.double())
    assert (corr - torch.eye(3, dtype=torch.float64)).abs().max() < 0.04, corr


def test_jitter_clamps_a_one_step_fixation_at_one_step() -> None:
    # Perceptual decision making: fixation 1, so the stimulus onset 1 + s (s uniform on
    # -5..5) is clamped at 1; it lands on 1 for s <= 0, i.e. with probability 6/11.
    task = get_task("perceptual_decision_making")
    n = 20_000
    onset = jittered_bounds(task, 5, n, torch.Generator().manual_seed(1))[:, 1]
    assert int(onset.min()) == 1 and int(onset.max()) == 6
    assert float((onset == 1).double().mean()) == pytest.approx(6 / 11, abs=0.015)
    for k in range(2, 7):
        assert float((onset == k).double().mean()) == pytest.approx(1 / 11, abs=0.01)


def test_jitter_leaves_room_for_the_periods_after_a_boundary() -> None:
    # A one-step decision and a shift larger than every period: no period may vanish, and the
    # decision, already at its minimum, cannot start later than step total - 1.
    task = GoNoGo(fixation=2, stimulus=2, delay=2, decision=1)
    bounds = jittered_bounds(task, 3, 5000, torch.Generator().manual_seed(2))
    assert bool(((bounds[:, 1:] - bounds[:, :-1]) >= 1).all())
    assert int(bounds[:, 3].max()) == 6  # the decision onset never passes 7 - 1
    assert int(bounds[:, 1].min()) == 1 and int(bounds[:, 2].max()) == 5


def test_retime_reads_each_period_from_its_own_nominal_steps() -> None:
    # Nominal periods of GoNoGo(2, 3, 2, 1): [0, 2), [2, 5), [5, 7), [7, 8). Jittered to
    # [0, 1), [1, 5), [5, 7), [7, 8): step t of a period starting at s reads the nominal step
    # start + (t - s) mod length, so the 4-step stimulus replays nominal steps 2, 3, 4, 2.
    task = GoNoGo(fixation=2, stimulus=3, delay=2, decision=1)
    assert nominal_bounds(task) == [0, 2, 5, 7, 8]
    inputs = torch.arange(8.0)[:, None, None].expand(8, 1, 3)  # value = nominal step
    bounds = torch.tensor([[0, 1, 5, 7, 8]])
    out = retime(task, inputs, bounds)
    assert out[:, 0, 0].tolist() == [0.0, 2.0, 3.0, 4.0, 2.0, 5.0, 6.0, 7.0]
    assert torch.equal(out[..., 0], out[..., 2])
