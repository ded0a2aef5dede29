"""The experiment spec: validation with field paths, expansion, canonical hashes, YAML loading."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cortexrnn.services.spec import CODE_VERSION, ExperimentSpec, SpecError, load_spec, parse_spec

PAPER_ORDER = [
    "W*D*C",
    "WD*C",
    "WDC",
    "WD*",
    "WD",
    "W",
    "W*D*C*",
    "WD*C*",
    "W*DC*",
    "W!D*C",
    "W!D*C*",
]


def errors_of(data: dict) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    return dict(info.value.errors)


def test_defaults_are_the_papers() -> None:
    spec = parse_spec({})
    assert spec.dataset == "synthetic-cortex" and spec.priority_value == 0 and not spec.force
    assert (spec.model.activation, spec.model.alpha, spec.model.noise_in, spec.model.noise_rec) == (
        "relu",
        1.0,
        0.05,
        0.0,
    )
    t = spec.training
    assert (
        t.optimizer,
        t.lr,
        t.batch_size,
        t.train_trials,
        t.test_trials,
        t.epochs,
        t.criterion,
    ) == ("adam", 1e-3, 128, 5120, 2560, 10, 0.9)
    assert spec.fidelity.label == "corrected"


def test_expansion_is_conditions_x_seeds_x_tasks() -> None:
    spec = parse_spec(
        {
            "conditions": {"preset": "paper-2026"},
            "seeds": 3,
            "tasks": ["go_no_go", "perceptual_decision_making"],
        }
    )
    runs = spec.expand_runs()
    assert len(runs) == 11 * 3 * 2 == spec.n_runs
    assert list(dict.fromkeys(r.condition_name for r in runs)) == PAPER_ORDER
    assert {(r.condition_name, r.seed, r.task_name) for r in runs} == {
        (c, s, t)
        for c in PAPER_ORDER
        for s in range(3)
        for t in ("go_no_go", "perceptual_decision_making")
    }
    assert spec.conditions["W!D*C*"].init == "functional-permuted"
    explicit = parse_spec({"seeds": [7, 3], "conditions": {"a": {}}})
    assert [r.seed for r in explicit.expand_runs()] == [7, 3]


def test_field_paths_in_errors() -> None:
    assert "conditions.full.lam" in errors_of(
        {"conditions": {"full": {"init": "functional", "lam": -1}}}
    )
    assert "tasks[1].name" in errors_of({"tasks": ["go_no_go", "maze"]})
    assert "training.lr" in errors_of({"training": {"lr": float("nan")}})
    assert "training.batch_size" in errors_of({"training": {"batch_size": 0}})
    assert "model.alpha" in errors_of({"model": {"alpha": 0}})
    assert "sampling.strategy" in errors_of({"sampling": {"strategy": "best"}})
    assert "fidelity" in errors_of({"fidelity": "faithful"})
    assert "seeds" in errors_of({"seeds": -2})
    assert "conditions.x.space" in errors_of({"conditions": {"x": {"space": "hyperbolic"}}})
    assert "bogus" in errors_of({"bogus": 1})
    assert "conditions.x.reg" in errors_of({"conditions": {"x": {"reg": 0.1}}})  # extra="forbid"
    msg = errors_of({"tasks": [{"name": "go_no_go", "params": {"stimulis": 3}}]})["tasks[0]"]
    assert "stimulis" in msg and "stimulus" in msg


def test_absurd_sizes_are_refused() -> None:
    assert "seeds" in errors_of({"seeds": 10_000})
    assert "sampling" in errors_of({"sampling": {"strategy": "random", "n_neurons": 10**6}})
    errs = errors_of(
        {
            "conditions": {"preset": "paper-2026"},
            "seeds": 1000,
            "tasks": ["go_no_go", "perceptual_decision_making"],
        }
    )
    assert any("runs" in m for m in errs.values())
    assert "seeds" in errors_of({"seeds": [1, 1]})
    assert "conditions" in errors_of({"conditions": {}})
    assert "conditions" in errors_of({"conditions": {"a/b": {}}})


def test_preset_with_override_and_fidelity_shorthand() -> None:
    spec = parse_spec(
        {
            "conditions": {"preset": "paper-2026", "override": {"sign": "positive"}},
            "fidelity": "paper",
        }
    )
    assert list(spec.conditions) == PAPER_ORDER and all(
        c.sign == "positive" for c in spec.conditions.values()
    )
    assert spec.fidelity.label == "paper"
    assert "conditions" in errors_of(
        {"conditions": {"preset": "paper-2026", "override": {"sgn": 1}}}
    )
    assert "conditions" in errors_of({"conditions": {"preset": "nope"}})


def test_preset_subset_keeps_the_presets_order_and_names_what_is_unknown() -> None:
    spec = parse_spec(
        {"conditions": {"preset": "paper-2026", "only": ["W", "W*D*C"], "override": {"lam": 0.1}}}
    )
    assert list(spec.conditions) == ["W*D*C", "W"] and all(
        c.lam == 0.1 for c in spec.conditions.values()
    )
    full = parse_spec({"conditions": {"preset": "paper-2026"}})
    assert spec.conditions["W"].model_copy(update={"lam": 0.3}) == full.conditions["W"]
    errs = errors_of({"conditions": {"preset": "paper-2026-positive", "only": ["W*D*C"]}})
    assert (
        "W*D*C not in preset 'paper-2026-positive'" in errs["conditions"]
        and "W*D*C+" in errs["conditions"]
    )
    assert "conditions" in errors_of({"conditions": {"preset": "paper-2026", "only": []}})
    assert "conditions" in errors_of({"conditions": {"preset": "paper-2026", "only": "W"}})


def test_hashes_ignore_labels_and_fill_defaults() -> None:
    a = parse_spec(
        {
            "name": "a",
            "tags": ["x"],
            "priority": "high",
            "force": True,
            "seeds": 2,
            "tasks": ["go_no_go"],
            "conditions": {"base": {}},
        }
    )
    b = parse_spec(
        {
            "name": "b",
            "seeds": [0, 1],
            "tasks": [{"name": "go-no-go", "params": {"stimulus": 20}}],
            "conditions": {"base": {"init": "orthogonal", "lam": 0.3}},
            "training": {"lr": 0.001},
        }
    )
    assert a.canonical_hash() == b.canonical_hash()
    assert [a.run_hash(r) for r in a.expand_runs()] == [b.run_hash(r) for r in b.expand_runs()]
    c = parse_spec({"seeds": 2, "tasks": ["go_no_go"], "conditions": {"base": {"lam": 0.31}}})
    assert c.canonical_hash() != a.canonical_hash()
    # A run's hash does not depend on its condition's name or on the other runs of the spec.
    d = parse_spec(
        {
            "seeds": [1],
            "tasks": ["go_no_go", "perceptual_decision_making"],
            "conditions": {"renamed": {}, "other": {"space": "grid"}},
        }
    )
    assert a.run_hash(a.expand_runs()[1]) == d.run_hash(d.expand_runs()[0])
    assert len({a.run_hash(r) for r in a.expand_runs()}) == 2
    assert len(CODE_VERSION) > 0 and CODE_VERSION in json.dumps(a.canonical())
    assert a.run_hash(a.expand_runs()[0], dataset_sha="ab" * 32) != a.run_hash(a.expand_runs()[0])


def test_pack_key_groups_what_can_train_together() -> None:
    spec = parse_spec(
        {
            "conditions": {"preset": "paper-2026"},
            "seeds": 2,
            "tasks": ["go_no_go", "one_choice_inference"],
        }
    )
    keys = {}
    for r in spec.expand_runs():
        keys.setdefault(spec.pack_key(r), set()).add(r.task_name)
    assert len(keys) == 2 and all(len(v) == 1 for v in keys.values())
    other_model = parse_spec({"seeds": 1, "tasks": ["go_no_go"], "model": {"noise_in": 0.1}})
    same = parse_spec(
        {
            "seeds": 1,
            "tasks": ["go_no_go"],
            "conditions": {"x": {"init": "functional"}},
            "fidelity": "paper",
        }
    )
    base = parse_spec({"seeds": 1, "tasks": ["go_no_go"]})
    k = lambda s: s.pack_key(s.expand_runs()[0])  # noqa: E731
    assert k(base) == k(same) and k(base) != k(other_model)


def test_round_trip_through_json() -> None:
    spec = parse_spec(
        {
            "conditions": {"preset": "paper-2026"},
            "tasks": [
                "go_no_go",
                {
                    "name": "perceptual_decision_making",
                    "params": {"cohs": [0, 51.2]},
                    "label": "pdm-easy",
                },
            ],
            "sampling": {"strategy": "spatial", "n_neurons": 50},
            "fidelity": {"base": "paper", "reshape_positions": False},
        }
    )
    again = ExperimentSpec.model_validate(json.loads(json.dumps(spec.model_dump(mode="json"))))
    assert again == spec and again.canonical_hash() == spec.canonical_hash()
    assert again.expand_runs()[1].task_name == "pdm-easy"


def test_load_spec_yaml(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "name: t\ndataset: synthetic-cortex\nsampling: {strategy: spatial, n_neurons: 40}\n"
        "tasks: [go_no_go]\nseeds: 2\nconditions:\n  preset: paper-2026\nfidelity: paper\n"
    )
    spec = load_spec(good)
    assert spec.n_runs == 22 and spec.sampling.n_neurons == 40
    bad = tmp_path / "bad.yaml"
    bad.write_text("tasks: [go_no_go]\nconditions:\n  full: {init: functional, lam: -3}\n")
    with pytest.raises(SpecError) as info:
        load_spec(bad)
    assert str(bad) in str(info.value) and "conditions.full.lam" in str(info.value)
    broken = tmp_path / "broken.yaml"
    broken.write_text("tasks: [go_no_go\nseeds: 2\n")
    with pytest.raises(SpecError, match="not valid YAML: line"):
        load_spec(broken)
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(SpecError, match="mapping"):
        load_spec(tmp_path / "list.yaml")


def test_spec_module_imports_no_server_or_torch() -> None:
    import subprocess

    code = (
        "import sys, cortexrnn.services.spec; print(sorted(m for m in "
        "('torch','sqlalchemy','fastapi','celery') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_examples_validate() -> None:
    examples = Path(__file__).resolve().parents[2] / "examples"
    quick = load_spec(examples / "quickstart.yaml")
    assert quick.n_runs == 9 and quick.dataset == "synthetic-cortex" and len(quick.tasks) == 1
    for path in sorted(examples.rglob("*.yaml")):
        load_spec(path)  # every example a user may copy is valid


def test_replication_specs_pair_with_the_corrected_grid() -> None:
    """The deviation and positive experiments are compared run by run with paper-2026-corrected:
    the same field, tasks, model, training, seeds and condition definitions, one switch apart."""
    from cortexrnn.services.priors.conditions import CORRECTED_SWITCHES

    examples = Path(__file__).resolve().parents[2] / "examples"
    corrected = load_spec(examples / "paper-2026-corrected.yaml")
    paper = load_spec(examples / "paper-2026.yaml")
    assert (
        paper.fidelity.label == "paper"
        and corrected.fidelity.label == "corrected"
        and paper.seed_list == list(range(20))
    )
    shared = ("dataset", "sampling", "tasks", "model", "training", "seeds")
    for path in [
        *sorted((examples / "replication").glob("deviation-*.yaml")),
        examples / "replication/positive-6_6_2.yaml",
    ]:
        spec = load_spec(path)
        for field in shared:
            assert getattr(spec, field) == getattr(corrected, field), (path.name, field)
        switches = spec.fidelity.model_dump()
        changed = [k for k, v in switches.items() if v != CORRECTED_SWITCHES[k]]
        assert len(changed) == (0 if path.name.startswith("positive") else 1), (path.name, changed)
        for name, cond in spec.conditions.items():
            base = corrected.conditions[name.removesuffix("+")]
            assert cond == (
                base.model_copy(update={"sign": "positive"}) if name.endswith("+") else base
            ), name


def test_positive_specs_run_table_3_at_both_fidelities() -> None:
    """Table 3 with all eleven variants at both fidelities: each positive spec's X+ is its
    grid's X with non-negative weights, on the same field, tasks, model, training, seeds and
    fidelity, so every run pairs with one of the grid's: 11 x 20 seeds x 3 tasks = 660 runs."""
    from cortexrnn.services.priors.presets import PAPER_2026_NAMES

    examples = Path(__file__).resolve().parents[2] / "examples"
    for positive, grid in (
        ("replication/positive-6_6_2.yaml", "paper-2026-corrected.yaml"),
        ("replication/positive-6_6_2-paper.yaml", "paper-2026.yaml"),
    ):
        spec, base = load_spec(examples / positive), load_spec(examples / grid)
        assert list(spec.conditions) == [f"{x}+" for x in PAPER_2026_NAMES], positive
        for field in ("dataset", "sampling", "tasks", "model", "training", "seeds", "fidelity"):
            assert getattr(spec, field) == getattr(base, field), (positive, field)
        for name, cond in spec.conditions.items():
            assert cond == base.conditions[name.removesuffix("+")].model_copy(
                update={"sign": "positive"}
            ), (positive, name)
        runs = spec.expand_runs()
        assert len(runs) == spec.n_runs == 11 * 20 * 3 == 660
        assert {(r.condition_name.removesuffix("+"), r.seed, r.task_name) for r in runs} == {
            (r.condition_name, r.seed, r.task_name) for r in base.expand_runs()
        }
    assert load_spec(examples / "replication/positive-6_6_2-paper.yaml").fidelity.label == "paper"
