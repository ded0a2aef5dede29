"""Named sets of conditions. `paper-2026` is the seed paper's eleven variants, in its order.

Notation: W* functional init, W! functional-permuted, W orthogonal; D* real space, D grid;
C direct communicability, C* EMD. ASCII aliases replace '*' by 's' and '!' by 'p'
(W*D*C -> WsDsC, W!D*C* -> WpDsCs).
"""

from __future__ import annotations

from cortexrnn.services.priors.conditions import Condition

_INIT = {"W*": "functional", "W!": "functional-permuted", "W": "orthogonal"}
_SPACE = {"D*": "real", "D": "grid", "": "none"}
_COMM = {"C*": "emd", "C": "direct", "": "none"}

PAPER_2026_NAMES: tuple[str, ...] = (
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
)


def ascii_alias(name: str) -> str:
    return name.replace("*", "s").replace("!", "p")


def parse_paper_name(name: str) -> Condition:
    """The condition a paper-notation name (e.g. 'W!D*C*') stands for, at paper defaults."""
    rest = name
    parts: dict[str, str] = {}
    for table, key in ((_INIT, "init"), (_SPACE, "space"), (_COMM, "communicability")):
        for token in sorted((t for t in table if t), key=len, reverse=True):
            if rest.startswith(token):
                parts[key] = table[token]
                rest = rest[len(token) :]
                break
        else:
            if "" not in table:
                raise ValueError(
                    f"'{name}' is not in the paper's notation (W/W*/W! then D/D* then C/C*)"
                )
            parts[key] = table[""]
    if rest:
        raise ValueError(f"'{name}' is not in the paper's notation: '{rest}' left over")
    return Condition(**parts)


def _paper_2026(sign: str = "free", suffix: str = "") -> dict[str, Condition]:
    return {
        name + suffix: parse_paper_name(name).model_copy(update={"sign": sign})
        for name in PAPER_2026_NAMES
    }


# Controls (issue 20): each varies one prior of a paper variant and keeps the rest.
# Geometry, on WD*C (orthogonal init, distance x direct communicability): is a real-space gain
# the cortex's geometry, any block structure, or any distances at all?
CONTROLS_GEOMETRY: dict[str, Condition] = {
    "WD*C": Condition(space="real", communicability="direct"),
    "WD(reshape)C": Condition(space="real-reshape", communicability="direct"),
    "WD(3-block)C": Condition(space="three-blocks", communicability="direct"),
    "WD(shuffled)C": Condition(space="real-shuffled", communicability="direct"),
    "WDC": Condition(space="grid", communicability="direct"),
}
# Functional initialisation, on W*D*C: which part of the functional matrix does the work?
CONTROLS_FUNCTIONAL: dict[str, Condition] = {
    f"W{tag}D*C": Condition(init=init, space="real", communicability="direct")
    for tag, init in (
        ("*", "functional"),
        ("(diagonal)", "diagonal"),
        ("(no-diagonal)", "functional-no-diagonal"),
        ("(offdiag-shuffled)", "functional-offdiag-shuffled"),
        ("(spectrum)", "functional-spectrum-matched"),
        ("(anatomical)", "anatomical"),
        ("!", "functional-permuted"),
    )
}

PRESETS: dict[str, dict[str, Condition]] = {
    "paper-2026": _paper_2026(),
    # Table 3 of the paper: recurrence restricted to non-negative weights (Keras NonNeg).
    "paper-2026-positive": _paper_2026(sign="positive", suffix="+"),
    # Dale's law for every variant: each unit's outgoing weights share one sign (E/I columns).
    "paper-2026-dale": _paper_2026(sign="dale", suffix="(dale)"),
    "controls-geometry": CONTROLS_GEOMETRY,
    "controls-functional": CONTROLS_FUNCTIONAL,
}


def expand_preset(name: str) -> dict[str, Condition]:
    """The preset's conditions, name -> Condition, in the preset's order (a fresh dict)."""
    if name not in PRESETS:
        raise ValueError(f"unknown condition preset '{name}'; available: {', '.join(PRESETS)}")
    return dict(PRESETS[name])


def resolve_alias(name: str) -> str:
    """Paper name for an ASCII alias ('WsDsC' -> 'W*D*C'); other names unchanged."""
    for paper_name in PAPER_2026_NAMES:
        if ascii_alias(paper_name) == name:
            return paper_name
    return name
