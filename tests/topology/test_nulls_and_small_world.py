"""Null models and small-world indices: exact properties, and statistical agreement with
networkx / bctpy nulls on the named graphs."""

from __future__ import annotations

import itertools
import math

import bct
import networkx as nx
import numpy as np
import pytest
import scipy.stats
import torch
from topo_cases import graph_adjacency, nx_graph, trained_looking_weights

from cortexrnn.services.topology import (
    batch_stats,
    compute_metrics,
    ring_lattice,
    top_fraction_graph,
)
from cortexrnn.services.topology.nulls import gnm_batch, rewire_batch


def test_gnm_nulls_have_exactly_m_edges_and_are_uniform_chi_square() -> None:
    """n = 5, m = 4: all C(10, 4) = 210 graphs must be equally likely."""
    nulls = gnm_batch(5, 4, 21000, np.random.default_rng(0))
    assert bool((nulls.sum((1, 2)) == 8).all())
    assert not bool(nulls.diagonal(dim1=1, dim2=2).any())
    assert bool((nulls == nulls.transpose(1, 2)).all())
    iu = torch.triu_indices(5, 5, 1)
    codes = (nulls[:, iu[0], iu[1]].long() * (2 ** torch.arange(10))).sum(1).numpy()
    counts = np.bincount(codes, minlength=1024)
    valid = [sum(2**i for i in c) for c in itertools.combinations(range(10), 4)]
    assert counts[valid].sum() == 21000
    assert scipy.stats.chisquare(counts[valid]).pvalue > 1e-3


def test_gnm_null_statistics_agree_with_networkx_gnm_on_erdos_renyi() -> None:
    n, m, k = 60, 300, 300
    ours = batch_stats(gnm_batch(n, m, k, np.random.default_rng(1)))
    ref_c = [nx.average_clustering(nx.gnm_random_graph(n, m, seed=s)) for s in range(k)]
    ref_e = [nx.global_efficiency(nx.gnm_random_graph(n, m, seed=s)) for s in range(k)]
    for a, b in ((ours.avg_clustering, ref_c), (ours.efficiency, ref_e)):
        se = math.sqrt(np.var(a) / k + np.var(b) / k)
        assert abs(np.mean(a) - np.mean(b)) < 4 * se


def test_rewired_nulls_keep_degrees_and_agree_with_bctpy_randmio_on_planted_modules() -> None:
    adj = graph_adjacency("planted_modules")
    nulls = rewire_batch(adj, 100, np.random.default_rng(2), swaps_per_edge=10)
    deg = adj.sum(1)
    assert bool((nulls.sum(2) == torch.from_numpy(deg)).all())
    assert not bool(nulls.diagonal(dim1=1, dim2=2).any())
    assert bool((nulls == nulls.transpose(1, 2)).all())
    changed = (nulls & ~torch.from_numpy(adj)).sum((1, 2)) / adj.sum()
    assert float(changed.mean()) > 0.6  # mostly rewired
    ours = batch_stats(nulls)
    ref = []
    for s in range(60):
        r, _ = bct.randmio_und(adj.astype(float), 10, seed=s)
        ref.append(nx.average_clustering(nx_graph(r > 0)))
    se = math.sqrt(np.var(ours.avg_clustering) / 100 + np.var(ref) / 60)
    assert abs(np.mean(ours.avg_clustering) - np.mean(ref)) < 4 * se + 1e-3
    # Rewiring destroys the planted modules' clustering.
    assert np.mean(ours.avg_clustering) < 0.6 * nx.average_clustering(nx_graph(adj))


def test_ring_lattice_reference_is_muldoons() -> None:
    lat = ring_lattice(
        30, 75, np.random.default_rng(0)
    )  # r = 3: rings 1, 2 full, 15 nodes of ring 3
    assert lat.sum() // 2 == 75
    assert bool((lat == lat.T).all())
    g = nx.from_numpy_array(lat.astype(int))
    assert nx.is_connected(g)
    full = nx.to_numpy_array(nx.watts_strogatz_graph(30, 4, 0.0)).astype(bool)
    assert bool((lat | ~full).all())  # contains the k = 4 ring lattice


def _reference_sigma(adj: np.ndarray, n_nulls: int) -> float:
    """σ = (C / C_null) / (E_null / E) with networkx functions and networkx G(n, m) nulls."""
    g = nx_graph(adj)
    n, m = g.number_of_nodes(), g.number_of_edges()
    cs, es = [], []
    for s in range(n_nulls):
        r = nx.gnm_random_graph(n, m, seed=1000 + s)
        cs.append(nx.average_clustering(r))
        es.append(nx.global_efficiency(r))
    return (nx.average_clustering(g) / np.mean(cs)) / (np.mean(es) / nx.global_efficiency(g))


@pytest.mark.parametrize("name", ["planted_modules", "ring_lattice", "erdos_renyi"])
def test_sigma_agrees_with_networkx_nulls(name: str) -> None:
    adj = graph_adjacency(name)
    w = adj.astype(float) * 2.0 + 0.0  # a weight matrix whose top-10 % graph we control below
    m = compute_metrics(w, n_nulls=400, fraction=float(adj.mean()) + 1e-9, seed=3)
    assert m.n_edges == adj.sum() // 2
    ref = _reference_sigma(adj, 150)
    assert m.small_world_sigma == pytest.approx(ref, rel=0.03)


def test_small_world_indices_order_lattice_small_world_random() -> None:
    """Watts–Strogatz rewiring p = 0 (lattice), 0.1 (small world), 1 (random): σ and SWP peak
    in the middle; ω runs from -1 (lattice) through ~0 (small world) to +1 (random)."""
    res = {}
    for p in (0.0, 0.1, 1.0):
        adj = nx.to_numpy_array(nx.watts_strogatz_graph(150, 10, p, seed=4)).astype(bool)
        res[p] = compute_metrics(
            adj.astype(float),
            n_nulls=100,
            fraction=float(adj.mean()) + 1e-9,
            louvain=False,
        )
    assert res[0.1].small_world_sigma > res[0.0].small_world_sigma
    assert res[0.1].small_world_sigma > res[1.0].small_world_sigma
    assert res[0.0].small_world_omega < -0.6
    assert res[1.0].small_world_omega > 0.7
    assert abs(res[0.1].small_world_omega) < 0.5
    assert res[0.1].small_world_propensity > res[0.0].small_world_propensity
    assert res[0.1].small_world_propensity > res[1.0].small_world_propensity


def test_omega_and_propensity_follow_their_formulas_with_networkx_values_on_trained_looking() -> (
    None
):
    w, _ = trained_looking_weights()
    m = compute_metrics(w, n_nulls=300, seed=5)
    adj, _ = top_fraction_graph(w)
    g = nx_graph(adj)
    lat = nx_graph(ring_lattice(adj.shape[0], int(adj.sum() // 2), np.random.default_rng(5)))
    c, length = nx.average_clustering(g), nx.average_shortest_path_length(g)
    c_lat = nx.average_clustering(lat)
    omega = m.null_char_path_length / length - c / c_lat
    assert m.small_world_omega == pytest.approx(omega, rel=1e-9)
    # Muldoon's path length: mean over all n² entries of the distance matrix, unreachable = 0.
    n = adj.shape[0]

    def mpl(h: nx.Graph) -> float:
        return sum(v for _, t in nx.all_pairs_shortest_path_length(h) for v in t.values()) / n**2

    nulls = [nx.gnm_random_graph(n, g.number_of_edges(), seed=s) for s in range(100)]
    c_r, l_r = (
        np.mean([nx.average_clustering(h) for h in nulls]),
        np.mean([mpl(h) for h in nulls]),
    )
    dl = min(1, max(-1, max(mpl(g) - l_r, 0) / (mpl(lat) - l_r)))
    dc = min(1, max(-1, max(c_lat - c, 0) / (c_lat - c_r)))
    ref = 1 - math.sqrt(dc**2 + dl**2) / math.sqrt(2)
    assert m.small_world_propensity == pytest.approx(ref, abs=0.01)


def test_rewire_null_model_runs_through_compute_metrics_on_trained_looking() -> None:
    w, _ = trained_looking_weights()
    m = compute_metrics(w, n_nulls=40, null_model="rewire", seed=1)
    assert m.small_world_sigma is not None and m.small_world_sigma > 0
    # Degree-preserving nulls keep more clustering than G(n, m) nulls.
    r = compute_metrics(w, n_nulls=40, null_model="random", seed=1)
    assert m.null_avg_clustering > r.null_avg_clustering * 0.9
    assert m.info["null_model"] == "rewire"


def test_results_are_deterministic_in_the_seed() -> None:
    w, _ = trained_looking_weights(60)
    a = compute_metrics(w, n_nulls=30, seed=9).values()
    b = compute_metrics(w, n_nulls=30, seed=9).values()
    assert a == b
