"""Value tests of every small-world output of `compute_metrics` against networkx.

The null graphs are the project's own (regenerated here from the same seed, as `_nulls`
draws them), but every statistic of the graph, of each null and of the lattice reference is
recomputed with networkx (`average_clustering`, `global_efficiency`,
`average_shortest_path_length`, `all_pairs_shortest_path_length`), averaged here, and σ, σ_L,
ω and small-world propensity are computed from the textbook formulas:

    σ   = (C / <C_null>) / (<E_null> / E)                (SCIENCE.md §6, efficiency form)
    σ_L = (C / <C_null>) / (L / <L_null>)                 (Humphries & Gurney 2008; nx.sigma)
    ω   = <L_null> / L - C / C_latt                       (Telesford et al. 2011; nx.omega)
    SWP = 1 - sqrt((ΔC² + ΔL²) / 2), ΔC = (C_latt - C)+ / (C_latt - C_rand),
          ΔL = (L - L_rand)+ / (L_latt - L_rand), clipped to [-1, 1]   (Muldoon et al. 2016)

with <·> the mean over the nulls (<L_null> over the connected ones: L is undefined on a
disconnected graph) and Muldoon's L the mean of all n² distances, unreachable = 0.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
from topo_cases import nx_graph, paper_top10_graph, trained_looking_weights

from cortexrnn.services.topology import compute_metrics, ring_lattice, top_fraction_graph
from cortexrnn.services.topology import metrics as metrics_mod
from cortexrnn.services.topology.nulls import gnm_batch, gnp_batch, rewire_batch
from cortexrnn.services.topology.smallworld import omega, propensity, sigma_efficiency, sigma_path

REL = 1e-9


def _muldoon_length(g: nx.Graph) -> float:
    n = g.number_of_nodes()
    return sum(d for _, row in nx.all_pairs_shortest_path_length(g) for d in row.values()) / n**2


def _nx_stats(g: nx.Graph) -> dict[str, float]:
    connected = nx.is_connected(g)
    return {
        "C": nx.average_clustering(g),
        "E": nx.global_efficiency(g),
        "L": nx.average_shortest_path_length(g) if connected else math.nan,
        "LM": _muldoon_length(g),
        "connected": connected,
    }


def _project_nulls(
    adj: np.ndarray, k: int, model: str, seed: int, swaps: float = 10.0
) -> np.ndarray:
    """The nulls `compute_metrics` draws: one chunk, from default_rng(seed)."""
    n = adj.shape[0]
    m = int(adj.sum() // 2)
    assert k <= metrics_mod.CHUNK_ENTRIES // (n * n)  # a single chunk, as below
    rng = np.random.default_rng(seed)
    if model == "random":
        out = gnm_batch(n, m, k, rng)
    elif model == "gnp":
        out = gnp_batch(n, m / (n * (n - 1) / 2), k, rng)
    else:
        out = rewire_batch(adj, k, rng, swaps)
    return out.numpy()


def _reference(adj: np.ndarray, nulls: np.ndarray, seed: int, model: str) -> dict[str, float]:
    g = nx_graph(adj)
    n, m = g.number_of_nodes(), g.number_of_edges()
    st = _nx_stats(g)
    ns = []
    for a in nulls:
        h = nx_graph(a)
        if model == "random":
            assert h.number_of_edges() == m
        if model == "rewire":
            assert sorted(d for _, d in h.degree()) == sorted(d for _, d in g.degree())
        ns.append(_nx_stats(h))
    c_null = float(np.mean([s["C"] for s in ns]))
    e_null = float(np.mean([s["E"] for s in ns]))
    conn = [s["L"] for s in ns if s["connected"]]
    l_null = float(np.mean(conn)) if conn else math.nan
    lm_null = float(np.mean([s["LM"] for s in ns]))
    lat = nx_graph(ring_lattice(n, m, np.random.default_rng(seed)))
    assert lat.number_of_edges() == m
    c_lat, lm_lat = nx.average_clustering(lat), _muldoon_length(lat)
    c, e, length, lm = st["C"], st["E"], st["L"], st["LM"]

    def clip(x: float) -> float:
        return min(1.0, max(-1.0, x))

    dc = clip(max(c_lat - c, 0.0) / (c_lat - c_null))
    dl = clip(max(lm - lm_null, 0.0) / (lm_lat - lm_null))
    return {
        "avg_clustering": c,
        "global_efficiency": e,
        "char_path_length": length,
        "null_avg_clustering": c_null,
        "null_global_efficiency": e_null,
        "null_char_path_length": l_null,
        "small_world_sigma": (c / c_null) / (e_null / e),
        "small_world_sigma_path": (c / c_null) / (length / l_null),
        "small_world_omega": l_null / length - c / c_lat,
        "small_world_propensity": 1.0 - math.sqrt((dc * dc + dl * dl) / 2.0),
        "swp_delta_c": dc,
        "swp_delta_l": dl,
        "_null_connected_fraction": len(conn) / len(ns),
        "_l_null_max": max(conn) if conn else math.nan,
    }


def _compare(m, ref: dict[str, float]) -> None:
    for name, want in ref.items():
        if name.startswith("_"):
            continue
        got = getattr(m, name)
        assert got is not None, (name, m.reasons.get(name))
        assert got == pytest.approx(want, rel=REL, abs=1e-12), name


def _sparse_small_world() -> np.ndarray:
    """Connected Watts–Strogatz graph, n = 40, mean degree 4: its G(n, m) nulls are
    disconnected about half of the time, which exercises the connected-nulls rule."""
    g = nx.connected_watts_strogatz_graph(40, 4, 0.15, seed=2)
    return nx.to_numpy_array(g, nodelist=range(40)).astype(bool)


def test_small_world_values_on_sparse_watts_strogatz_match_networkx() -> None:
    adj = _sparse_small_world()
    k, seed = 120, 7
    m = compute_metrics(
        adj.astype(float), n_nulls=k, seed=seed, fraction=float(adj.mean()) + 1e-9, louvain=False
    )
    assert np.array_equal(top_fraction_graph(adj.astype(float), float(adj.mean()) + 1e-9)[0], adj)
    ref = _reference(adj, _project_nulls(adj, k, "random", seed), seed, "random")
    # The nulls must really contain disconnected graphs, and their path lengths must spread, so
    # that the mean over connected nulls is a sharp check (not the max, not all nulls).
    assert 0.2 < ref["_null_connected_fraction"] < 0.9
    assert m.info["null_connected_fraction"] == pytest.approx(ref["_null_connected_fraction"])
    assert ref["_l_null_max"] > ref["null_char_path_length"] * 1.05
    _compare(m, ref)
    # Sanity of the science: a small-world graph is more clustered than its random nulls.
    assert m.small_world_sigma > 1.5 and m.small_world_sigma_path > 1.5


@pytest.mark.parametrize("model", ["random", "gnp", "rewire"])
def test_small_world_values_on_trained_looking_weights_match_networkx(model: str) -> None:
    w, _ = trained_looking_weights(48, seed=1)
    adj = paper_top10_graph(w)  # the paper's top-10 % recipe, written out in topo_cases
    assert np.array_equal(top_fraction_graph(w)[0], adj)
    k, seed = 60, 3
    m = compute_metrics(
        w, n_nulls=k, seed=seed, null_model=model, louvain=False, swaps_per_edge=5.0
    )
    ref = _reference(adj, _project_nulls(adj, k, model, seed, swaps=5.0), seed, model)
    assert nx.is_connected(nx_graph(adj))
    _compare(m, ref)


def test_smallworld_formulas_on_hand_computed_values() -> None:
    # σ = (0.5 / 0.1) / (0.5 / 0.4) = 5 / 1.25 = 4
    assert sigma_efficiency(0.5, 0.1, 0.4, 0.5) == (pytest.approx(4.0), None)
    # σ_L = (0.5 / 0.1) / (2.0 / 1.6) = 5 / 1.25 = 4; inverting L / L_null would give 6.25
    assert sigma_path(0.5, 0.1, 2.0, 1.6) == (pytest.approx(4.0), None)
    # ω = 1.6 / 2.0 - 0.3 / 0.6 = 0.8 - 0.5 = 0.3
    assert omega(0.3, 0.6, 2.0, 1.6) == (pytest.approx(0.3), None)
    # SWP: ΔC = (0.6 - 0.3) / (0.6 - 0.1) = 0.6, ΔL = (2.0 - 1.6) / (3.6 - 1.6) = 0.2,
    # SWP = 1 - sqrt((0.36 + 0.04) / 2) = 1 - sqrt(0.2)
    swp, dc, dl, reason = propensity(0.3, 0.1, 0.6, 2.0, 1.6, 3.6)
    assert reason is None and dc == pytest.approx(0.6) and dl == pytest.approx(0.2)
    assert swp == pytest.approx(1 - math.sqrt(0.2))
    # More clustered than the lattice and shorter than random: both deltas clip at 0, SWP = 1.
    assert propensity(0.7, 0.1, 0.6, 1.5, 1.6, 3.6)[0] == pytest.approx(1.0)
    # Undefined inputs give a reason, never a number.
    assert sigma_path(0.5, 0.1, math.nan, 1.6)[0] is None
    assert omega(0.3, 0.0, 2.0, 1.6)[0] is None


def test_sigma_path_and_omega_reproduce_nx_sigma_and_nx_omega_exactly() -> None:
    """nx.sigma and nx.omega draw their references from one shared random.Random; recreating
    them in the same order gives the very pieces networkx combined, and our formula functions
    must then return networkx's own numbers. (nx.sigma's C is transitivity, nx.omega's C is
    average clustering with C_latt the max over its lattice references.)"""
    import random

    g = nx.connected_watts_strogatz_graph(24, 4, 0.1, seed=4)
    niter, nrand, s = 2, 3, 11
    rng = random.Random(s)
    refs = [nx.random_reference(g, niter=niter, seed=rng) for _ in range(nrand)]
    value, _ = sigma_path(
        nx.transitivity(g),
        float(np.mean([nx.transitivity(r) for r in refs])),
        nx.average_shortest_path_length(g),
        float(np.mean([nx.average_shortest_path_length(r) for r in refs])),
    )
    assert value == pytest.approx(nx.sigma(g, niter=niter, nrand=nrand, seed=s), rel=1e-12)
    assert value > 1.0  # the small-world regime

    rng = random.Random(s)
    c = nx.average_clustering(g)
    c_lat, lr = c, []
    for _ in range(nrand):
        lr.append(
            nx.average_shortest_path_length(nx.random_reference(g, niter=2 * niter, seed=rng))
        )
        c_lat = max(c_lat, nx.average_clustering(nx.lattice_reference(g, niter=niter, seed=rng)))
    value, _ = omega(c, c_lat, nx.average_shortest_path_length(g), float(np.mean(lr)))
    assert value == pytest.approx(nx.omega(g, niter=niter, nrand=nrand, seed=s), rel=1e-12)
