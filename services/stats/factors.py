"""The paper's condition names as factors: W ∈ {W, W*, W!} (init: default, functional,
permuted functional), D ∈ {none, D, D*} (space: none, grid, real), C ∈ {none, C, C*}
(communicability: none, direct, EMD). "W*D*C" → {W: "W*", D: "D*", C: "C"}."""

from __future__ import annotations

import re

FACTORS = ("W", "D", "C")
LEVELS = {"W": ("W", "W*", "W!"), "D": ("none", "D", "D*"), "C": ("none", "C", "C*")}
_NAME = re.compile(r"^(W[*!]?)(D\*?)?(C\*?)?$")


def parse_condition(name: str) -> dict[str, str]:
    """Factor levels of a paper-style condition name; ValueError names what is wrong."""
    text = str(name).strip().replace(" ", "")
    match = _NAME.match(text)
    if not match:
        raise ValueError(
            f"condition name {name!r} is not of the paper's form W[*|!][D[*]][C[*]] "
            "(e.g. W*D*C, WD*C*, W!D*C); pass an explicit factor mapping instead"
        )
    w, d, c = match.groups()
    return {"W": w, "D": d or "none", "C": c or "none"}


def factor_table(
    conditions: list[str], mapping: dict[str, dict[str, str]] | None = None
) -> dict[str, dict[str, str]]:
    """condition → {W, D, C}: from `mapping` where given, else parsed from the name.
    Conditions that neither map nor parse are left out (they carry no factor labels)."""
    out: dict[str, dict[str, str]] = {}
    for cond in conditions:
        if mapping is not None and cond in mapping:
            levels = dict(mapping[cond])
            missing = [f for f in FACTORS if f not in levels]
            if missing:
                raise ValueError(
                    f"factor mapping for condition {cond!r} lacks {missing}; give W, D and C"
                )
            out[cond] = {f: str(levels[f]) for f in FACTORS}
            continue
        try:
            out[cond] = parse_condition(cond)
        except ValueError:
            continue
    return out
