"""Every graph metric against networkx on the test graphs named in each test id."""

from __future__ import annotations

import math
import warnings

import networkx as nx
import numpy as np
import pytest
from topo_cases import (
    GRAPHS,
    graph_adjacency,
    nx_graph,
    paper_top10_graph,
    trained_looking_weights,
)

from cortexrnn.services.topology import (
    batch_stats,
    cnm_communities,
    cnm_modularity,
    degree_assortativity,
    directed_stats,
    louvain_modularity,
    top_fraction_graph,
)


@pytest.mark.parametrize("name", GRAPHS)
def test_clustering_efficiency_path_length_match_networkx(name: str) -> None:
    adj = graph_adjacency(name)
    g = nx_graph(adj)
    st = batch_stats(adj)
    assert st.avg_clustering[0] == pytest.approx(nx.average_clustering(g), rel=1e-12, abs=1e-15)
    assert st.transitivity[0] == pytest.approx(nx.transitivity(g), rel=1e-12, abs=1e-15)
    assert st.efficiency[0] == pytest.approx(nx.global_efficiency(g), rel=1e-12)
    assert bool(st.connected[0]) == nx.is_connected(g)
    if nx.is_connected(g):
        assert st.char_path_length[0] == pytest.approx(
            nx.average_shortest_path_length(g), rel=1e-12
        )
    else:
        assert math.isnan(st.char_path_length[0])


def test_batched_stats_equal_one_graph_at_a_time_on_mixed_batch() -> None:
    """A batch mixing all test graphs of one size gives each graph's own networkx values."""
    rng = np.random.default_rng(0)
    graphs = [
        nx.gnm_random_graph(50, m, seed=int(s))
        for m, s in zip([30, 60, 120, 400, 1000], rng.integers(0, 99, 5), strict=True)
    ]
    adj = np.stack([nx.to_numpy_array(g, nodelist=range(50)).astype(bool) for g in graphs])
    st = batch_stats(adj)
    for k, g in enumerate(graphs):
        assert st.efficiency[k] == pytest.approx(nx.global_efficiency(g), rel=1e-12)
        assert st.avg_clustering[k] == pytest.approx(nx.average_clustering(g), rel=1e-12, abs=1e-15)


def test_high_degree_graph_uses_exact_counts() -> None:
    """Degrees above 255 (beyond bfloat16's exact integers) still give exact clustering."""
    g = nx.gnm_random_graph(300, 40000, seed=1)
    adj = nx.to_numpy_array(g).astype(bool)
    st = batch_stats(adj)
    assert max(d for _, d in g.degree()) > 256
    assert st.avg_clustering[0] == pytest.approx(nx.average_clustering(g), rel=1e-12)
    assert st.transitivity[0] == pytest.approx(nx.transitivity(g), rel=1e-12)


@pytest.mark.parametrize("name", GRAPHS)
def test_assortativity_matches_networkx(name: str) -> None:
    adj = graph_adjacency(name)
    value, reason = degree_assortativity(adj)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # networkx warns (0/0) on regular graphs
        ref = nx.degree_assortativity_coefficient(nx_graph(adj))
    if math.isnan(ref):
        assert value is None and reason
    else:
        assert value == pytest.approx(ref, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", GRAPHS)
def test_cnm_partition_and_q_equal_networkx_greedy_modularity(name: str) -> None:
    adj = graph_adjacency(name)
    g = nx_graph(adj)
    ref = nx.community.greedy_modularity_communities(g)
    ours = cnm_communities(adj)
    assert [set(c) for c in ours] == [set(c) for c in ref]
    q, labels = cnm_modularity(adj)
    assert q == pytest.approx(nx.community.modularity(g, ref), rel=1e-12, abs=1e-15)
    assert len(set(labels.tolist())) == len(ref)


@pytest.mark.parametrize("name", GRAPHS)
def test_louvain_q_equals_networkx_louvain_with_same_seed(name: str) -> None:
    adj = graph_adjacency(name)
    g = nx_graph(adj)
    ref = nx.community.louvain_communities(g, seed=7)
    q, labels = louvain_modularity(adj, seed=7)
    assert q == pytest.approx(nx.community.modularity(g, ref), rel=1e-12, abs=1e-15)
    assert sorted(map(len, ref)) == sorted(np.bincount(labels).tolist())


def test_planted_modules_are_recovered_by_cnm_and_louvain() -> None:
    adj = graph_adjacency("planted_modules")
    truth = np.repeat(np.arange(4), 20)
    for labels in (cnm_modularity(adj)[1], louvain_modularity(adj, 0)[1]):
        # Every found module lies inside one planted module.
        for c in np.unique(labels):
            assert len(set(truth[labels == c])) == 1


def test_top_fraction_graph_is_the_paper_recipe_on_trained_looking_matrix() -> None:
    w, _ = trained_looking_weights()
    adj, thr = top_fraction_graph(w, 0.1)
    assert np.array_equal(adj, paper_top10_graph(w))
    assert thr == np.quantile(np.abs(w), 0.9)
    directed, _ = top_fraction_graph(w, 0.1, directed=True)
    expected = np.abs(w) > thr
    np.fill_diagonal(expected, False)
    assert np.array_equal(directed, expected)


def test_top_fraction_graph_of_sparse_matrix_keeps_zeros_out() -> None:
    w = np.zeros((20, 20))
    w[0, 1] = w[2, 3] = 1.0
    adj, thr = top_fraction_graph(w)
    assert thr == 0.0
    assert adj.sum() == 4


@pytest.mark.parametrize("name", ["trained_looking", "erdos_renyi_directed"])
def test_directed_metrics_match_networkx(name: str) -> None:
    if name == "trained_looking":
        w, _ = trained_looking_weights()
        adj, _ = top_fraction_graph(w, directed=True)
    else:
        g0 = nx.gnm_random_graph(60, 300, seed=2, directed=True)
        adj = nx.to_numpy_array(g0, nodelist=range(60)).astype(bool)
    g = nx.DiGraph()
    g.add_nodes_from(range(adj.shape[0]))
    g.add_edges_from(zip(*map(list, np.nonzero(adj)), strict=True))
    d = directed_stats(adj)
    assert d["n_edges"] == g.number_of_edges()
    assert d["reciprocity"] == pytest.approx(nx.reciprocity(g), rel=1e-12)
    assert d["avg_clustering"] == pytest.approx(nx.average_clustering(g), rel=1e-12)
    n = g.number_of_nodes()
    inv = sum(
        1.0 / dist
        for s, t in nx.all_pairs_shortest_path_length(g)
        for dist in t.values()
        if dist > 0
    )
    assert d["efficiency"] == pytest.approx(inv / (n * (n - 1)), rel=1e-12)
