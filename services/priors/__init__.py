"""Priors: weight inits, space, communicability, regulariser settings, presets.

`build_network_prior(connectome, indices, condition, fidelity, seed, cache=None)` returns the
`NetworkPrior` the trainer consumes; `expand_preset('paper-2026')` the paper's eleven
conditions.
"""

from cortexrnn.services.priors.builder import build_network_prior, build_network_priors
from cortexrnn.services.priors.conditions import FIDELITY_SWITCHES, Condition, Fidelity
from cortexrnn.services.priors.network_prior import NetworkPrior
from cortexrnn.services.priors.presets import (
    PAPER_2026_NAMES,
    PRESETS,
    ascii_alias,
    expand_preset,
    parse_paper_name,
)

__all__ = [
    "FIDELITY_SWITCHES",
    "PAPER_2026_NAMES",
    "PRESETS",
    "Condition",
    "Fidelity",
    "NetworkPrior",
    "ascii_alias",
    "build_network_prior",
    "build_network_priors",
    "expand_preset",
    "parse_paper_name",
]
