"""Sweeps in the spec: expansion counts and labels, product vs zip, seeded designs, bad
paths named, and each run's effective values (services/spec/sweep.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cortexrnn.services.spec import ExperimentSpec, SpecError, load_spec, parse_spec

REPO = Path(__file__).resolve().parents[2]
PAIR = {"preset": "paper-2026", "only": ["W*D*C", "WD*C"]}


def _spec(sweep: dict[str, Any], **extra: Any) -> ExperimentSpec:
    return parse_spec({"conditions": PAIR, "seeds": 3, "sweep": sweep, **extra})


def _errors(sweep: Any, **extra: Any) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        parse_spec({"sweep": sweep, **extra})
    return info.value.errors


def test_a_list_crosses_every_condition_and_labels_say_the_values() -> None:
    spec = _spec({"fields": {"condition.lam": [0.01, 0.1, 1]}})
    labels = [c.label for c in spec.swept_conditions()]
    assert labels == [
        "W*D*C lam=0.01",
        "W*D*C lam=0.1",
        "W*D*C lam=1",
        "WD*C lam=0.01",
        "WD*C lam=0.1",
        "WD*C lam=1",
    ]
    runs = spec.expand_runs()
    assert spec.n_runs == len(runs) == 2 * 3 * 3
    assert {r.condition_name: r.condition.lam for r in runs}["WD*C lam=0.1"] == 0.1
    # The rest of each condition is the preset's: only lam changes.
    w_d_c = {r.condition_name: r.condition for r in runs}["W*D*C lam=1"]
    assert (w_d_c.init, w_d_c.space, w_d_c.communicability) == ("functional", "real", "direct")


def test_linspace_and_logspace_include_both_ends() -> None:
    lin = _spec({"fields": {"model.noise_in": {"linspace": [0, 0.1, 5]}}})
    assert [c.point.values["model.noise_in"] for c in lin.swept_conditions()][:5] == (
        pytest.approx([0, 0.025, 0.05, 0.075, 0.1])
    )
    log = _spec({"fields": {"condition.lam": {"logspace": [0.001, 1, 8]}}})
    lams = [c.condition.lam for c in log.swept_conditions()][:8]
    assert lams == pytest.approx(np.geomspace(0.001, 1, 8))
    assert lams[0] == pytest.approx(0.001) and lams[-1] == pytest.approx(1)
    assert log.n_runs == 2 * 8 * 3


def test_labels_keep_close_values_apart() -> None:
    spec = _spec({"fields": {"condition.lam": [0.1, 0.10001]}})
    assert [c.label for c in spec.swept_conditions()][:2] == ["W*D*C lam=0.1", "W*D*C lam=0.10001"]


def test_product_and_zip() -> None:
    fields = {"condition.lam": [0.01, 0.1], "training.lr": [0.001, 0.003]}
    product = _spec({"fields": fields})
    zipped = _spec({"fields": fields, "combine": "zip"})
    assert product.n_runs == 2 * 4 * 3 and zipped.n_runs == 2 * 2 * 3
    assert [c.label for c in zipped.swept_conditions()][:2] == [
        "W*D*C lam=0.01 training.lr=0.001",
        "W*D*C lam=0.1 training.lr=0.003",
    ]
    assert len({c.label for c in product.swept_conditions()}) == 8


@pytest.mark.parametrize("method", ["sobol", "lhs"])
def test_seeded_designs_are_reproducible_and_stay_in_range(method: str) -> None:
    sweep = {
        "design": {"method": method, "n": 16, "seed": 7},
        "fields": {
            "condition.lam": {"logspace": [0.001, 1]},
            "training.lr": {"linspace": [0.0005, 0.005]},
            "model.activation": ["relu", "tanh"],
        },
    }
    a, b = _spec(sweep), _spec(sweep)
    other = _spec({**sweep, "design": {"method": method, "n": 16, "seed": 8}})
    points = [c.point.values for c in a.swept_conditions()][:16]
    assert points == [c.point.values for c in b.swept_conditions()][:16]
    assert points != [c.point.values for c in other.swept_conditions()][:16]
    assert a.n_runs == 2 * 16 * 3
    lams = np.array([p["condition.lam"] for p in points])
    assert ((lams >= 0.001) & (lams <= 1)).all()
    # Log-uniform: about half the points below the geometric middle (0.0316).
    assert 4 <= (lams < 0.001**0.5).sum() <= 12
    assert {p["model.activation"] for p in points} == {"relu", "tanh"}
    assert len({c.label for c in a.swept_conditions()}) == 32
    # The same design gives the same experiment, and its hash changes with the seed.
    assert a.canonical_hash() == b.canonical_hash() != other.canonical_hash()


def test_lhs_stratifies_each_field() -> None:
    spec = parse_spec(
        {
            "sweep": {
                "design": {"method": "lhs", "n": 10, "seed": 0},
                "fields": {"condition.lam": {"linspace": [0, 1]}},
            }
        }
    )
    lams = sorted(c.condition.lam for c in spec.swept_conditions())
    assert [int(v * 10) for v in lams] == list(range(10))  # one point in each tenth


@pytest.mark.parametrize(
    ("sweep", "path", "words"),
    [
        ({"fields": {"training.lrr": [0.1]}}, "sweep.fields.training.lrr", "no such field"),
        ({"fields": {"regulariser.lam": [0.1]}}, "sweep.fields.regulariser.lam", "no such field"),
        ({"fields": {"condition.lam": [-1]}}, "sweep.fields.condition.lam", "greater than"),
        (
            {"fields": {"model.activation": ["relu", "sigmoid"]}},
            "sweep.fields.model.activation",
            "",
        ),
        (
            {"fields": {"training.lr": {"logspace": [-4, -2, 3]}}},
            "sweep.fields.training.lr",
            "not exponents",
        ),
        (
            {"fields": {"training.lr": {"linspace": [0.1, 0.2]}}},
            "sweep.fields.training.lr",
            "[start, stop, n]",
        ),
        (
            {"fields": {"model.activation": {"linspace": [0, 1, 2]}}},
            "sweep.fields.model.activation",
            "numeric",
        ),
        ({"fields": {"condition.lam": []}}, "sweep.fields.condition.lam", "empty"),
        ({"fields": {"condition.lam": [0.1, 0.1]}}, "sweep.fields.condition.lam", "repeated"),
        (
            {"fields": {"training.batch_size": [64, 8192]}},
            "sweep.fields.training.batch_size",
            "train_trials",
        ),
        (
            {"fields": {"sampling.n_neurons": [10, 6000]}},
            "sweep.fields.sampling.n_neurons",
            "limit",
        ),
        (
            {"fields": {"training.epochs": {"linspace": [1, 2, 5]}}},
            "sweep.fields.training.epochs",
            "repeats integers",
        ),
        (
            {"fields": {"condition.lam": [1, 2], "training.lr": [0.001]}, "combine": "zip"},
            "sweep.combine",
            "zip",
        ),
        (
            {
                "fields": {"condition.lam": {"linspace": [0, 1]}},
                "design": {"method": "sobol", "n": 6},
            },
            "sweep.design",
            "power of two",
        ),
        (
            {
                "fields": {"condition.lam": [0.1]},
                "combine": "zip",
                "design": {"method": "lhs", "n": 4},
            },
            "sweep.combine",
            "design",
        ),
    ],
)
def test_a_bad_sweep_names_the_path_to_fix(sweep: dict[str, Any], path: str, words: str) -> None:
    errors = _errors(sweep)
    assert [p for p, _ in errors] == [path], errors
    assert words in errors[0][1]


def test_a_grid_shape_sweep_on_a_condition_without_a_grid_names_the_sweep_path() -> None:
    errors = _errors({"fields": {"condition.grid_shape": [[2, 2, 2]]}})
    assert errors[0][0] == "sweep.fields.condition.grid_shape"


def test_settings_fields_give_each_point_its_own_runs_and_packs() -> None:
    spec = parse_spec(
        {
            "training": {"lr": 0.001, "epochs": 3},
            "sampling": {"strategy": "random", "n_neurons": 20},
            "sweep": {
                "fields": {
                    "training.lr": [0.001, 0.01],
                    "sampling.n_neurons": [10, 20],
                    "model.noise_in": [0.0],
                }
            },
        }
    )
    runs = spec.expand_runs()
    effective = {
        r.condition_name: (spec.settings_of(r)[2].lr, spec.settings_of(r)[0].n_neurons)
        for r in runs
    }
    assert effective == {
        "baseline training.lr=0.001 sampling.n_neurons=10 model.noise_in=0": (0.001, 10),
        "baseline training.lr=0.001 sampling.n_neurons=20 model.noise_in=0": (0.001, 20),
        "baseline training.lr=0.01 sampling.n_neurons=10 model.noise_in=0": (0.01, 10),
        "baseline training.lr=0.01 sampling.n_neurons=20 model.noise_in=0": (0.01, 20),
    }
    # The other settings stay the spec's; each point trains apart (its own pack key).
    assert all(spec.settings_of(r)[2].epochs == 3 for r in runs)
    assert all(spec.settings_of(r)[1].noise_in == 0.0 for r in runs)
    assert len({spec.pack_key(r) for r in runs}) == 4
    one = spec.spec_for(runs[3])
    assert (one.training.lr, one.sampling.n_neurons, one.sweep) == (0.01, 20, None)
    assert one.n_runs == 1


def test_run_hashes_depend_only_on_effective_values() -> None:
    """A swept point equal to a plain spec's settings is the same run (answered from cache),
    whichever sweep produced it; so extending a sweep adds only the new points' hashes."""
    base = {"conditions": {"W": {}}, "seeds": 2, "training": {"epochs": 2}}
    plain = parse_spec({**base, "training": {"epochs": 2, "lr": 0.003}})
    plain_lam = parse_spec({**base, "conditions": {"W": {"lam": 0.01}}})
    swept = parse_spec({**base, "sweep": {"fields": {"training.lr": [0.001, 0.003]}}})
    extended = parse_spec({**base, "sweep": {"fields": {"training.lr": [0.001, 0.003, 0.01]}}})
    lam_sweep = parse_spec({**base, "sweep": {"fields": {"condition.lam": [0.01, 0.1]}}})

    def hashes(spec: ExperimentSpec) -> set[str]:
        return {spec.run_hash(r, "sha") for r in spec.expand_runs()}

    assert hashes(plain) < hashes(swept) < hashes(extended)
    assert len(hashes(extended) - hashes(swept)) == 2  # the new point, two seeds
    assert hashes(plain_lam) < hashes(lam_sweep)
    packs = {plain.pack_key(r) for r in plain.expand_runs()}
    assert packs < {swept.pack_key(r) for r in swept.expand_runs()}


def test_specs_without_a_sweep_hash_as_before() -> None:
    """No sweep adds nothing to the experiment's canonical form (stored hashes stay valid)."""
    spec = parse_spec({"conditions": PAIR})
    assert "sweep" not in spec.canonical()
    assert [r.point for r in spec.expand_runs()] == [None, None]
    assert "sweep" in _spec({"fields": {"condition.lam": [0.1]}}).canonical()


def test_a_stored_swept_spec_validates_again_to_the_same_runs() -> None:
    spec = _spec(
        {
            "design": {"method": "sobol", "n": 4, "seed": 1},
            "fields": {"condition.lam": {"logspace": [0.001, 1]}},
        }
    )
    again = ExperimentSpec.model_validate(spec.model_dump(mode="json"))
    assert again.expand_runs() == spec.expand_runs()
    assert again.canonical_hash() == spec.canonical_hash()


def test_the_example_sweep_is_a_lambda_sweep_of_the_two_paper_variants() -> None:
    spec = load_spec(REPO / "examples" / "sweep-lambda.yaml")
    families = {c.point.family for c in spec.swept_conditions() if c.point}
    assert families == {"W*D*C", "WD*C"}
    lams = sorted({c.condition.lam for c in spec.swept_conditions()})
    assert len(lams) >= 4 and lams[0] < 0.01 and lams[-1] >= 0.3
    assert np.allclose(np.diff(np.log(lams)), np.log(lams[1] / lams[0]))  # a log range
