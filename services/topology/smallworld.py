"""Small-world indices from the statistics of a graph, its nulls and its lattice reference.
Each returns (value, None) or (None, reason).

- σ (SCIENCE.md §6, the paper): (C / C_null) / (E_null / E), C = average clustering (the C
  of `nx.omega`; `nx.sigma` uses transitivity), E = global efficiency; C_null and E_null are
  means over the nulls. Efficiency stays defined on disconnected graphs, which is why the
  paper uses it instead of L.
- σ_L (Humphries; `nx.sigma`'s formula, with average clustering as C): (C / C_null) /
  (L / L_null), L = characteristic path length; L_null is the mean over the connected nulls.
- ω (Telesford et al. 2011; `nx.omega`'s formula): L_null / L - C / C_lattice. The lattice is
  Muldoon's ring lattice with the same n and m, not networkx's latticised rewiring (which costs
  minutes at N = 312); the random reference is the chosen null ensemble.
- Small-world propensity (Muldoon, Bridgeford & Bassett 2016), binary form as their code with
  'bin': ΔC = max(C_latt - C, 0) / (C_latt - C_rand), ΔL = max(L - L_rand, 0) / (L_latt -
  L_rand), both clipped to [-1, 1], SWP = 1 - sqrt((ΔC² + ΔL²) / 2), with L their path length
  (mean over all n² entries, unreachable = 0). C_rand and L_rand average the null ensemble
  (their code draws one random graph).
"""

from __future__ import annotations

import math

Result = tuple[float | None, str | None]


def _finite(*xs: float) -> bool:
    return all(x is not None and math.isfinite(x) for x in xs)


def sigma_efficiency(c: float, c_null: float, e: float, e_null: float) -> Result:
    if not _finite(c, c_null, e, e_null):
        return None, "clustering or efficiency of the graph or its nulls is undefined"
    if c_null == 0:
        return None, "the nulls have zero clustering"
    if e == 0:
        return None, "the graph has zero global efficiency (no edges)"
    return (c / c_null) / (e_null / e), None


def _path_ratio_undefined(
    c: float, c_ref: float, length: float, length_null: float, zero_clustering: str
) -> str | None:
    """Why an index of C / c_ref and the path lengths is undefined (`zero_clustering` when
    c_ref is zero or undefined), or None."""
    if not _finite(length):
        return "the graph is disconnected: characteristic path length undefined"
    if not _finite(length_null):
        return "no connected null graph: null path length undefined"
    if not _finite(c, c_ref) or c_ref == 0:
        return zero_clustering
    return None


def sigma_path(c: float, c_null: float, length: float, length_null: float) -> Result:
    reason = _path_ratio_undefined(
        c, c_null, length, length_null, "the nulls have zero or undefined clustering"
    )
    return (None, reason) if reason else ((c / c_null) / (length / length_null), None)


def omega(c: float, c_lattice: float, length: float, length_null: float) -> Result:
    reason = _path_ratio_undefined(
        c,
        c_lattice,
        length,
        length_null,
        "the lattice reference has zero clustering (mean degree below 4)",
    )
    return (None, reason) if reason else (length_null / length - c / c_lattice, None)


def propensity(
    c: float, c_rand: float, c_latt: float, length: float, l_rand: float, l_latt: float
) -> tuple[float | None, float | None, float | None, str | None]:
    """(SWP, ΔC, ΔL, reason)."""
    if not _finite(c, c_rand, c_latt, length, l_rand, l_latt):
        return (
            None,
            None,
            None,
            "clustering or path length of the graph or its references is undefined",
        )
    dl = _ratio(max(length - l_rand, 0.0), l_latt - l_rand)
    dc = _ratio(max(c_latt - c, 0.0), c_latt - c_rand)
    if dl is None or dc is None:
        return None, dc, dl, "the lattice and random references coincide (0/0)"
    swp = 1.0 - math.sqrt(dc * dc + dl * dl) / math.sqrt(2.0)
    return swp, dc, dl, None


def _ratio(num: float, den: float) -> float | None:
    """num / den clipped to [-1, 1], with MATLAB's x/0 = ±inf (clipped) and 0/0 = NaN (None)."""
    if den == 0:
        if num == 0:
            return None
        return 1.0 if num > 0 else -1.0
    return min(1.0, max(-1.0, num / den))
