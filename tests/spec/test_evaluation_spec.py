"""The spec's `evaluation` section (generalisation sets) and the example sweeps that use it:
bad sets named, the default hashing exactly as before the field, and examples/sweeps/
expanding to the runs they promise."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cortexrnn.services.spec import CODE_VERSION, ExperimentSpec, SpecError, load_spec, parse_spec

REPO = Path(__file__).resolve().parents[2]
ALL_SETS = ["recall", "noisy", "jitter", "unseen_coherence"]
BOTH = ["go_no_go", "perceptual_decision_making"]


def _errors(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    return dict(info.value.errors)


@pytest.mark.parametrize(
    ("data", "path", "words"),
    [
        ({"evaluation": {"sets": ["recall", "noisey"]}}, "evaluation.sets", "'noisey'"),
        ({"evaluation": {"sets": ["heldout_problems"]}}, "evaluation.sets", "no problem"),
        ({"evaluation": {"sets": ["unseen_coherence"]}}, "evaluation.sets", "perceptual"),
        (
            {
                "tasks": ["perceptual_decision_making"],
                "evaluation": {"sets": ["unseen_coherence"], "unseen_cohs": [6.4, 10]},
            },
            "evaluation.unseen_cohs",
            "[6.4]",
        ),
        (
            {"model": {"noise_in": 0}, "evaluation": {"sets": ["noisy"]}},
            "evaluation.noise_in",
            "noise_in",
        ),
        ({"evaluation": {"sets": ["jitter"], "jitter_steps": 0}}, "evaluation.jitter_steps", ""),
        ({"evaluation": {"sets": ["recall"], "extra": 1}}, "evaluation.extra", ""),
    ],
)
def test_a_bad_evaluation_names_the_field(data: dict[str, Any], path: str, words: str) -> None:
    errors = _errors(data)
    assert path in errors, errors
    assert words in errors[path]


def test_a_spec_without_evaluation_hashes_exactly_as_before() -> None:
    """The run hash of a spec without the section is the hash of the inputs a run had before
    the field existed (rebuilt here from their documented list), so cached results stay hits."""
    spec = parse_spec({"seeds": 1, "tasks": ["go_no_go"], "conditions": {"base": {}}})
    run = spec.expand_runs()[0]
    before = {
        "code_version": CODE_VERSION,
        "dataset": spec.dataset,
        "sampling": spec.sampling.model_dump(mode="json"),
        "model": spec.model.model_dump(mode="json"),
        "training": spec.training.model_dump(mode="json"),
        "task": run.task.canonical(),
    }
    text = json.dumps(before, sort_keys=True, separators=(",", ":"), allow_nan=False)
    assert spec.pack_key(run) == hashlib.sha256(text.encode()).hexdigest()
    with_run = {
        **before,
        "condition": run.condition.model_dump(mode="json"),
        "seed": run.seed,
        "fidelity": spec.fidelity.model_dump(mode="json"),
    }
    text = json.dumps(with_run, sort_keys=True, separators=(",", ":"), allow_nan=False)
    assert spec.run_hash(run) == hashlib.sha256(text.encode()).hexdigest()
    assert "evaluation" not in spec.canonical()
    # Recall alone, written out, is the default: the same hashes.
    explicit = parse_spec({**spec.model_dump(mode="json"), "evaluation": {"sets": ["recall"]}})
    assert explicit.run_hash(explicit.expand_runs()[0]) == spec.run_hash(run)
    assert explicit.canonical_hash() == spec.canonical_hash()


def test_generalisation_sets_are_part_of_the_run_and_its_pack() -> None:
    base: dict[str, Any] = {"seeds": 1, "tasks": BOTH}
    plain = parse_spec(base)
    ev = parse_spec({**base, "evaluation": {"sets": ALL_SETS}})
    reordered = parse_spec({**base, "evaluation": {"sets": list(reversed(ALL_SETS))}})
    other = parse_spec({**base, "evaluation": {"sets": ALL_SETS, "jitter_steps": 3}})

    def hashes(s: ExperimentSpec) -> list[str]:
        return [s.run_hash(r) for r in s.expand_runs()]

    def packs(s: ExperimentSpec) -> set[str]:
        return {s.pack_key(r) for r in s.expand_runs()}

    assert hashes(ev) == hashes(reordered)  # listing order is not an input
    assert set(hashes(plain)).isdisjoint(hashes(ev))  # a cached recall-only run lacks the sets
    assert set(hashes(ev)).isdisjoint(hashes(other))
    assert packs(plain).isdisjoint(packs(ev))
    assert ev.evaluation.sets == ALL_SETS
    # A stored spec validates again to the same evaluation.
    again = ExperimentSpec.model_validate(ev.model_dump(mode="json"))
    assert again.evaluation == ev.evaluation and hashes(again) == hashes(ev)
    # Recall is always evaluated (it is the criterion's), listed or not.
    assert parse_spec({**base, "evaluation": {"sets": ["noisy"]}}).evaluation.sets == [
        "recall",
        "noisy",
    ]


def test_the_noisy_set_may_use_its_own_sigma_or_a_swept_models() -> None:
    quiet = {"seeds": 1, "model": {"noise_in": 0}}
    assert parse_spec({**quiet, "evaluation": {"sets": ["noisy"], "noise_in": 0.1}})
    swept = {**quiet, "sweep": {"fields": {"model.noise_in": [0.05, 0.1]}}}
    assert parse_spec({**swept, "evaluation": {"sets": ["noisy"]}}).n_runs == 2
    with_zero = {**quiet, "sweep": {"fields": {"model.noise_in": [0.0, 0.1]}}}
    assert "evaluation.noise_in" in _errors({**with_zero, "evaluation": {"sets": ["noisy"]}})


@pytest.mark.parametrize(
    ("name", "dataset", "families"),
    [
        ("lambda-4_7_2", "microns-4_7_2", ["W*D*C", "WD*C", "WDC", "W", "W!D*C"]),
        ("lambda-6_6_2", "microns-6_6_2", ["W*D*C", "WD*C", "W"]),
    ],
)
def test_example_sweeps_expand_to_the_promised_runs(
    name: str, dataset: str, families: list[str]
) -> None:
    spec = load_spec(REPO / "examples" / "sweeps" / f"{name}.yaml")
    assert spec.dataset == dataset and spec.seed_list == [0, 1, 2, 3, 4]
    lams = sorted({c.condition.lam for c in spec.swept_conditions()})
    assert len(lams) == 8 and np.isclose(lams[0], 0.001) and np.isclose(lams[-1], 1.0)
    assert np.allclose(np.diff(np.log(lams)), np.log(1000) / 7)  # log-spaced
    got = [c.point.family for c in spec.swept_conditions() if c.point]
    assert list(dict.fromkeys(got)) == families
    runs = spec.expand_runs()
    assert spec.n_runs == len(runs) == len(families) * 8 * 5 * 3
    assert len({spec.run_hash(r) for r in runs}) == len(runs)
    assert spec.evaluation.sets == ALL_SETS
