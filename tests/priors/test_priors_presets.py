"""Conditions, fidelity shorthands and the paper-2026 preset."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from cortexrnn.services.priors import (
    PAPER_2026_NAMES,
    Condition,
    Fidelity,
    ascii_alias,
    expand_preset,
)
from cortexrnn.services.priors.presets import parse_paper_name, resolve_alias

# Written out by hand from SCIENCE.md §2 (W* functional, W! permuted, D* real, D grid, C direct,
# C* EMD).
EXPECTED = [
    ("W*D*C", "functional", "real", "direct"),
    ("WD*C", "orthogonal", "real", "direct"),
    ("WDC", "orthogonal", "grid", "direct"),
    ("WD*", "orthogonal", "real", "none"),
    ("WD", "orthogonal", "grid", "none"),
    ("W", "orthogonal", "none", "none"),
    ("W*D*C*", "functional", "real", "emd"),
    ("WD*C*", "orthogonal", "real", "emd"),
    ("W*DC*", "functional", "grid", "emd"),
    ("W!D*C", "functional-permuted", "real", "direct"),
    ("W!D*C*", "functional-permuted", "real", "emd"),
]


def test_paper_preset_expands_to_the_eleven_variants_in_order() -> None:
    conditions = expand_preset("paper-2026")
    assert list(conditions) == [e[0] for e in EXPECTED] == list(PAPER_2026_NAMES)
    for name, init, space, comm in EXPECTED:
        c = conditions[name]
        assert (c.init, c.space, c.communicability) == (init, space, comm), name
        assert (c.lam, c.lam_emd, c.sign) == (0.3, 0.1, "free")


def test_ascii_aliases_are_unique_and_round_trip() -> None:
    aliases = [ascii_alias(n) for n in PAPER_2026_NAMES]
    assert len(set(aliases)) == 11 and all(a.isascii() and a.isalnum() for a in aliases)
    assert ascii_alias("W!D*C*") == "WpDsCs"
    assert all(resolve_alias(ascii_alias(n)) == n for n in PAPER_2026_NAMES)


def test_positive_preset_and_bad_names() -> None:
    pos = expand_preset("paper-2026-positive")
    assert len(pos) == 11 and all(c.sign == "positive" for c in pos.values())
    with pytest.raises(ValueError, match="unknown condition preset"):
        expand_preset("paper-2025")
    with pytest.raises(ValueError, match="notation"):
        parse_paper_name("WX")


def test_fidelity_shorthands() -> None:
    assert Fidelity() == Fidelity.model_validate("corrected") and Fidelity().label == "corrected"
    paper = Fidelity.model_validate("paper")
    assert all(paper.model_dump().values()) and paper.label == "paper"
    mixed = Fidelity.model_validate({"base": "paper", "reshape_positions": False})
    assert not mixed.reshape_positions and mixed.l1_without_lambda
    assert Fidelity.model_validate({"keep_functional_diagonal": True}).keep_functional_diagonal
    with pytest.raises(ValidationError):
        Fidelity.model_validate("faithful")
    with pytest.raises(ValidationError):
        Fidelity.model_validate({"reshape": True})


def test_condition_validation() -> None:
    with pytest.raises(ValidationError, match="init"):
        Condition(init="random")
    with pytest.raises(ValidationError, match="finite"):
        Condition(lam=float("nan"))
    with pytest.raises(ValidationError, match="greater than or equal"):
        Condition(lam=-0.1)
    with pytest.raises(ValidationError, match="grid_shape"):
        Condition(space="real", grid_shape=(2, 2, 2))
    with pytest.raises(ValidationError, match="Extra inputs"):
        Condition(reg=0.1)


def test_the_sign_presets_built_at_import_are_the_paper_variants_with_their_sign() -> None:
    """The three paper presets are built when the module loads; reloading it rebuilds them
    (so that a change to how they are built is what this test sees), and each holds the
    eleven hand-written variants under its suffix, with its sign and nothing else changed."""
    import importlib

    from cortexrnn.services.priors import presets

    presets = importlib.reload(presets)
    for preset, suffix, sign in (
        ("paper-2026", "", "free"),
        ("paper-2026-positive", "+", "positive"),
        ("paper-2026-dale", "(dale)", "dale"),
    ):
        conditions = presets.expand_preset(preset)
        assert list(conditions) == [name + suffix for name, *_ in EXPECTED], preset
        for name, init, space, comm in EXPECTED:
            want = Condition(init=init, space=space, communicability=comm, sign=sign)
            assert conditions[name + suffix] == want, (preset, name)
