"""Contracts of the topology record a scientist reads: what each metric is on hand-computed
and networkx/bctpy/scipy references at the edges the other files leave out (disconnected and
long-path graphs, loops in the released nulls, chunked nulls, tiny and degenerate inputs), and
that every undefined metric says why.
"""

from __future__ import annotations

import math

import bct
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import scipy.stats
from topo_cases import nx_graph, trained_looking_weights

from cortexrnn.services.topology import (
    EPOCH_NULLS,
    METRIC_NAMES,
    TopologyMetrics,
    batch_stats,
    cnm_communities,
    cnm_modularity,
    compute_epoch_metrics,
    compute_metrics,
    degree_assortativity,
    directed_stats,
    louvain_modularity,
    modularity,
    records_to_frame,
    ring_lattice,
    spatial,
    top_fraction_graph,
    top_fraction_threshold,
)
from cortexrnn.services.topology import entropy as ent
from cortexrnn.services.topology import metrics as metrics_mod
from cortexrnn.services.topology import smallworld as sw
from cortexrnn.services.topology.nulls import gnm_batch, gnp_batch, rewire_batch
from cortexrnn.services.topology.released_nulls import (
    RELEASED_DENSITY,
    clustering_bu,
    released_null_batch,
    released_null_means,
)
from cortexrnn.services.topology.smallworld import omega, propensity, sigma_efficiency, sigma_path

# --- the record ---------------------------------------------------------------------------


def test_a_record_stores_finite_values_and_explains_every_missing_one() -> None:
    m = TopologyMetrics()
    assert set(m.values()) == set(METRIC_NAMES) and all(v is None for v in m.values().values())
    m.set("density", 0.25)
    assert m.density == 0.25 and "density" not in m.reasons
    m.set("density", math.inf)
    assert m.density is None and m.reasons["density"] == "density is not finite (inf)"
    m.set("density", math.nan, "no graph")
    assert m.density is None and m.reasons["density"] == "no graph"
    m.set("density", None)
    assert m.reasons["density"] == "not computed"
    m.set("density", np.float32(0.5))
    assert m.density == 0.5 and type(m.density) is float and "density" not in m.reasons
    with pytest.raises(KeyError, match="unknown topology metric 'densty'"):
        m.set("densty", 1.0)
    # `fail` keeps the first reason, and never overwrites a value.
    m.fail(("density", "threshold", "n_edges"), "first")
    m.fail(("threshold",), "second")
    assert m.density == 0.5 and "density" not in m.reasons
    assert m.reasons["threshold"] == "first" and m.reasons["n_edges"] == "first"
    rows = m.to_rows()
    assert [r["metric"] for r in rows] == list(METRIC_NAMES)
    assert {"metric": "density", "value": 0.5, "reason": None} in rows
    assert {"metric": "threshold", "value": None, "reason": "first"} in rows
    d = m.to_dict()
    assert d["density"] == 0.5 and d["reasons"]["threshold"] == "first"


def test_records_become_the_tidy_frame_the_stats_take() -> None:
    a, b = TopologyMetrics(), TopologyMetrics()
    a.set("density", 0.1)
    b.fail(("density",), "no graph")
    frame = records_to_frame({("WD", "task1", 0): a, ("W", "task1", 3): b}, prefix="topo_")
    assert list(frame.columns) == ["condition", "task", "seed", "metric", "value", "reason"]
    assert len(frame) == 2 * len(METRIC_NAMES)
    row = frame[(frame.condition == "WD") & (frame.metric == "topo_density")].iloc[0]
    assert (row.task, row.seed, row.value) == ("task1", 0, 0.1)
    row = frame[(frame.condition == "W") & (frame.metric == "topo_density")].iloc[0]
    assert row.seed == 3 and pd.isna(row.value) and row.reason == "no graph"
    assert records_to_frame({("W", "t", 1): a})["metric"].iloc[0] == METRIC_NAMES[0]
    for key in (("W", "t"), "W"):
        with pytest.raises(ValueError, match="record keys must be"):
            records_to_frame({key: a})
    empty = records_to_frame({})
    assert empty.empty and list(empty.columns)[-1] == "reason"


# --- compute_metrics: inputs, options and reasons -------------------------------------------


def test_bad_options_are_clear_errors() -> None:
    w = np.eye(6)
    with pytest.raises(ValueError, match="null_model must be"):
        compute_metrics(w, null_model="lattice")
    with pytest.raises(ValueError, match="null counts must be >= 0, got -1 and 0"):
        compute_metrics(w, n_nulls=-1)
    with pytest.raises(ValueError, match="got 0 and -2"):
        compute_metrics(w, n_nulls=0, released_nulls=-2)
    with pytest.raises(ValueError, match=r"anatomical must have the shape of W \(6, 6\)"):
        compute_metrics(w, anatomical=np.eye(5), n_nulls=0)
    with pytest.raises(ValueError, match=r"^functional must have the shape of W \(6, 6\), got"):
        compute_metrics(w, functional=np.eye(7), n_nulls=0)
    with pytest.raises(
        ValueError, match=r"^distance must have the shape of W \(6, 6\), got \(2, 2\)$"
    ):
        compute_metrics(w, distance=np.eye(2), n_nulls=0)
    with pytest.raises(ValueError, match="square"):
        compute_metrics(np.zeros(4))
    with pytest.raises(ValueError, match=r"fraction must lie in \(0, 1\], got 0"):
        top_fraction_threshold(w, 0.0)
    with pytest.raises(ValueError, match=r"got 1\.5"):
        top_fraction_threshold(w, 1.5)
    assert top_fraction_threshold(np.arange(4.0).reshape(2, 2) - 1, 1.0) == 0.0  # min |W|


def test_the_record_says_how_it_was_computed_and_which_metrics_were_not_asked_for() -> None:
    w, _ = trained_looking_weights(40, seed=2)
    m = compute_metrics(w, n_nulls=0, seed=4, fraction=0.15, louvain=False)
    assert {k: m.info[k] for k in ("n", "fraction", "n_nulls", "null_model", "seed")} == {
        "n": 40,
        "fraction": 0.15,
        "n_nulls": 0,
        "null_model": "random",
        "seed": 4,
    }
    assert m.info["released_nulls"] == 0
    assert {"entropy", "spectral", "graph", "modularity", "directed", "space"} <= set(
        m.info["timings_s"]
    )
    assert all(t >= 0 for t in m.info["timings_s"].values())
    for name in metrics_mod.NULL_METRICS:
        assert m.reasons[name] == "n_nulls = 0: null-based metrics not requested"
    assert m.reasons["modularity_louvain"] == "Louvain not requested"
    assert m.reasons["n_modules_louvain"] == "Louvain not requested" and m.modules_louvain is None
    for name in ("wiring_cost", "wiring_cost_graph", "weight_distance_pearson"):
        assert m.reasons[name] == "no distance matrix given"
    assert m.reasons["functional_spearman"] == "no functional matrix given"
    assert m.reasons["anatomical_pearson"] == "no anatomical matrix given"
    # The top-15 % graph: threshold, edges and density as networkx counts them.
    adj, thr = top_fraction_graph(w, 0.15)
    g = nx_graph(adj)
    assert m.threshold == thr == np.quantile(np.abs(w), 0.85)
    assert m.n_edges == g.number_of_edges() and m.density == pytest.approx(nx.density(g))
    assert m.transitivity == pytest.approx(nx.transitivity(g), rel=1e-12)
    assert nx.is_connected(g)
    assert m.char_path_length == pytest.approx(nx.average_shortest_path_length(g), rel=1e-12)


GROUPS = {
    "_entropy": ("entropy", {"entropy_kde", "entropy_hist"}),
    "spectral_radius": ("spectral", {"spectral_radius"}),
    "_graph": ("graph", set(metrics_mod.GRAPH_METRICS)),
    "_modularity": (
        "modularity",
        {"modularity_cnm", "n_modules_cnm", "modularity_louvain", "n_modules_louvain"},
    ),
    "_nulls": ("nulls", set(metrics_mod.NULL_METRICS)),
    "_released_nulls": ("released_nulls", set(metrics_mod.RELEASED_NULL_METRICS)),
    "_directed": (
        "directed",
        {
            "directed_n_edges",
            "directed_reciprocity",
            "directed_avg_clustering",
            "directed_global_efficiency",
        },
    ),
    "_space": (
        "space",
        {"wiring_cost", "wiring_cost_graph", "weight_distance_pearson", "weight_distance_spearman"},
    ),
    "_references": (
        "references",
        {"functional_pearson", "functional_spearman", "anatomical_pearson", "anatomical_spearman"},
    ),
}


@pytest.mark.parametrize("target", list(GROUPS))
def test_a_failing_group_marks_exactly_its_own_metrics_failed(
    monkeypatch, caplog, target: str
) -> None:
    w, d = trained_looking_weights(24, seed=4)
    rng = np.random.default_rng(0)
    kwargs = {"functional": rng.random((24, 24)), "anatomical": rng.random((24, 24))}
    options = {"n_nulls": 4, "released_nulls": 2, "fraction": 0.2}
    healthy = compute_metrics(w, d, **kwargs, **options)
    assert all(v is not None for v in healthy.values().values())

    def broken(*args, **kw):
        raise RuntimeError("bad group")

    monkeypatch.setattr(metrics_mod, target, broken)
    m = compute_metrics(w, d, **kwargs, **options)
    step, names = GROUPS[target]
    failed = {k for k, r in m.reasons.items() if r.startswith("failed")}
    assert failed == names
    assert all(m.reasons[k] == "failed: RuntimeError: bad group" for k in names)
    for k, v in m.values().items():
        if k not in names:
            assert v == getattr(healthy, k), k
    assert step in m.info["timings_s"]
    # The operator's log names the group and carries the traceback.
    logged = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in logged] == [f"topology metric group {step} failed"]
    assert logged[0].exc_info is not None


def test_modules_are_reported_per_node_with_their_count() -> None:
    # Two 5-cliques joined by one edge: CNM and Louvain both find the two cliques.
    g = nx.barbell_graph(5, 0)
    adj = nx.to_numpy_array(g, nodelist=range(10)).astype(bool)
    m = compute_metrics(adj.astype(float), n_nulls=0, fraction=float(adj.mean()) + 1e-9)
    halves = [set(range(5)), set(range(5, 10))]
    q = nx.community.modularity(g, halves)
    assert m.modularity_cnm == pytest.approx(q) and m.modularity_louvain == pytest.approx(q)
    assert m.n_modules_cnm == 2.0 and m.n_modules_louvain == 2.0
    for labels in (m.modules_cnm, m.modules_louvain):
        assert labels is not None and len(labels) == 10
        assert len(set(labels[:5])) == 1 and len(set(labels[5:])) == 1 and labels[0] != labels[5]
    # Hand value: m = 21 edges, each clique holds 10 of them and has degree sum 21.
    assert q == pytest.approx(2 * (10 / 21 - (21 / 42) ** 2))


def test_sparse_references_and_distances_are_accepted() -> None:
    w, d = trained_looking_weights(30, seed=3)
    counts = scipy.sparse.csr_matrix((np.abs(w.T) > 0.2).astype(float))
    m = compute_metrics(w, scipy.sparse.csr_matrix(d), anatomical=counts, n_nulls=0)
    off = ~np.eye(30, dtype=bool)
    dense = counts.toarray()
    assert m.anatomical_pearson == pytest.approx(
        scipy.stats.pearsonr(w[off], dense.T[off])[0], rel=1e-10
    )
    assert m.wiring_cost == pytest.approx(float((np.abs(w) * d).sum()), rel=1e-12)


def test_epoch_metrics_use_the_smaller_null_count_unless_told() -> None:
    w, _ = trained_looking_weights(24, seed=5)
    assert EPOCH_NULLS == 100 and metrics_mod.FINAL_NULLS == 1000
    m = compute_epoch_metrics(w, louvain=False)
    assert m.info["n_nulls"] == 100 and m.small_world_sigma is not None
    assert compute_epoch_metrics(w, n_nulls=3, louvain=False).info["n_nulls"] == 3
    # The spatial metrics of an epoch use the distances given, as the final ones do.
    d = np.abs(np.subtract.outer(np.arange(24.0), np.arange(24.0)))
    spatial_epoch = compute_epoch_metrics(w, d, n_nulls=3, louvain=False)
    assert spatial_epoch.wiring_cost == pytest.approx(float((np.abs(w) * d).sum()), rel=1e-12)
    bad = d.copy()
    bad[0, 1] = np.nan
    broken = compute_epoch_metrics(w, bad, n_nulls=3, louvain=False)
    assert broken.wiring_cost is None and broken.wiring_cost_graph is None
    assert broken.reasons["wiring_cost"] == "distance matrix has non-finite entries"
    assert broken.reasons["wiring_cost_graph"] == "distance matrix has non-finite entries"


def test_too_few_nodes_for_nulls_and_one_node_graphs_say_why() -> None:
    w = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.2], [0.0, 0.2, 0.0]])
    m = compute_metrics(w, n_nulls=5, fraction=0.25)
    assert m.n_edges == 1.0 and m.density == pytest.approx(1 / 3)
    assert m.reasons["small_world_sigma"] == "too few nodes for null models (N = 3)"
    one = compute_metrics(np.array([[2.0]]), n_nulls=5)
    assert one.spectral_radius == 2.0 and one.density is None
    assert one.reasons["density"] == "fewer than 2 nodes"
    assert one.reasons["modularity_cnm"] == "the top-fraction graph has no edges"
    empty = compute_metrics(np.zeros((0, 0)))
    assert empty.reasons["spectral_radius"] == "empty matrix (N = 0)"
    bad = np.ones((3, 3))
    bad[0, 1], bad[2, 2] = np.nan, -np.inf
    reason = "W has 2 non-finite entries (NaN or infinity)"
    assert compute_metrics(bad, n_nulls=2).reasons["density"] == reason
    # Four nodes are enough for nulls: a 4-cycle and its G(4, 4) nulls.
    cycle = nx.to_numpy_array(nx.cycle_graph(4)).astype(float)
    four = compute_metrics(cycle, n_nulls=6, fraction=0.5, louvain=False)
    assert four.n_edges == 4.0
    assert four.null_global_efficiency is not None and four.null_global_efficiency > 0


def test_nulls_are_drawn_in_chunks_that_add_up_to_the_requested_count(monkeypatch) -> None:
    w, _ = trained_looking_weights(30, seed=6)
    adj, _ = top_fraction_graph(w)
    m_edges = int(adj.sum() // 2)
    drawn: list[tuple[int, int, int]] = []
    real = metrics_mod.gnm_batch

    def counting(n, m, count, rng):
        drawn.append((n, m, count))
        return real(n, m, count, rng)

    monkeypatch.setattr(metrics_mod, "gnm_batch", counting)
    monkeypatch.setattr(metrics_mod, "CHUNK_ENTRIES", 7 * 30 * 30)  # seven nulls per chunk
    m = compute_metrics(w, n_nulls=23, louvain=False, seed=2)
    assert drawn == [(30, m_edges, 7)] * 3 + [(30, m_edges, 2)]
    # The chunks' means are the means over all 23 nulls, drawn in that order from the seed.
    rng = np.random.default_rng(2)
    nulls = np.concatenate([real(30, m_edges, k, rng).numpy() for k in (7, 7, 7, 2)])
    cs = [nx.average_clustering(nx_graph(a)) for a in nulls]
    es = [nx.global_efficiency(nx_graph(a)) for a in nulls]
    assert m.null_avg_clustering == pytest.approx(np.mean(cs), rel=1e-12)
    assert m.null_global_efficiency == pytest.approx(np.mean(es), rel=1e-12)
    assert m.info["timings_s"]["null_generation"] >= 0


def test_nulls_that_are_never_connected_leave_the_path_based_indices_undefined() -> None:
    # A path over all 20 nodes (19 edges, so the graph itself is connected): a G(20, 19) null
    # is connected only if it is a spanning tree, with probability about 1e-7.
    adj = nx.to_numpy_array(nx.path_graph(20), nodelist=range(20)).astype(bool)
    m = compute_metrics(
        adj.astype(float), n_nulls=30, fraction=float(adj.mean()) + 1e-9, louvain=False
    )
    assert m.n_edges == 19 and m.char_path_length == pytest.approx(7.0)  # (n + 1) / 3
    assert m.info["null_connected_fraction"] == 0.0
    assert m.null_char_path_length is None
    assert m.reasons["null_char_path_length"] == "no connected null graph"
    assert m.small_world_sigma_path is None and m.small_world_omega is None
    assert m.null_global_efficiency is not None and m.null_global_efficiency > 0


def test_gnp_nulls_match_the_observed_density_in_expectation() -> None:
    w, _ = trained_looking_weights(40, seed=7)
    adj, _ = top_fraction_graph(w)
    density = adj.sum() / (40 * 39)
    m = compute_metrics(w, n_nulls=60, null_model="gnp", seed=1, louvain=False)
    assert m.info["null_model"] == "gnp"
    nulls = gnp_batch(40, density, 400, np.random.default_rng(0)).numpy()
    assert nulls.sum((1, 2)).mean() / (40 * 39) == pytest.approx(density, rel=0.02)
    assert (nulls == nulls.transpose(0, 2, 1)).all() and not nulls[:, range(40), range(40)].any()
    # A G(n, p) graph's expected clustering is p.
    assert m.null_avg_clustering == pytest.approx(density, rel=0.15)


# --- the released code's nulls ----------------------------------------------------------------


def test_released_nulls_against_bctpy_over_two_chunks() -> None:
    n, count, seed = 24, 70, 4  # 70 nulls: a chunk of 64 and one of 6
    means = released_null_means(n, count, np.random.default_rng([seed, 7]))
    rng = np.random.default_rng([seed, 7])
    cs, es, ds = [], [], []
    off = ~np.eye(n, dtype=bool)
    for k in (64, 6):
        u = rng.random((k, n, n))
        for g in ((u + u.transpose(0, 2, 1)) / 2 > 0.7).astype(float):
            cs.append(np.mean(bct.clustering_coef_bu(g)))
            es.append(bct.efficiency_bin(g))
            ds.append(g[off].mean())
    assert means.avg_clustering == pytest.approx(np.mean(cs), rel=1e-12)
    assert means.global_efficiency == pytest.approx(np.mean(es), rel=1e-12)
    assert means.density == pytest.approx(np.mean(ds), rel=1e-12)
    assert RELEASED_DENSITY == pytest.approx(0.6**2 / 2)  # P((U1 + U2) / 2 > 0.7)
    with pytest.raises(ValueError, match="count must be >= 1, got 0"):
        released_null_means(n, 0, np.random.default_rng(0))
    # One null is a mean over one graph.
    one = released_null_means(n, 1, np.random.default_rng(1))
    u = np.random.default_rng(1).random((n, n))
    g = ((u + u.T) / 2 > 0.7).astype(float)
    assert one.avg_clustering == pytest.approx(np.mean(bct.clustering_coef_bu(g)), rel=1e-12)
    assert one.global_efficiency == pytest.approx(bct.efficiency_bin(g), rel=1e-12)


def test_released_clustering_of_one_graph_and_a_batch_agree_with_bctpy() -> None:
    rng = np.random.default_rng(8)
    batch = released_null_batch(15, 3, rng)
    got = clustering_bu(batch)
    assert got.shape == (3, 15)
    for g, c in zip(batch, got, strict=True):
        np.testing.assert_allclose(c, bct.clustering_coef_bu(g.astype(float)), rtol=1e-12)
        np.testing.assert_allclose(clustering_bu(g)[0], c)
    # A node with one neighbour (k < 2) has clustering 0, not 0 / 0.
    star = np.zeros((4, 4), dtype=bool)
    star[0, 1:] = star[1:, 0] = True
    np.testing.assert_array_equal(clustering_bu(star)[0], [0.0, 0.0, 0.0, 0.0])


def test_released_sigma_is_the_formula_and_leaves_the_matched_nulls_alone() -> None:
    w, _ = trained_looking_weights(36, seed=8)
    plain = compute_metrics(w, n_nulls=20, seed=3, louvain=False)
    both = compute_metrics(w, n_nulls=20, seed=3, louvain=False, released_nulls=6)
    for name in metrics_mod.NULL_METRICS:
        assert getattr(both, name) == getattr(plain, name), name
    g = nx_graph(top_fraction_graph(w)[0])
    c, e = nx.average_clustering(g), nx.global_efficiency(g)
    cn, en = both.null_released_avg_clustering, both.null_released_global_efficiency
    assert both.small_world_sigma_released == pytest.approx((c / cn) / (en / e), rel=1e-10)
    assert both.info["released_nulls"] == 6
    assert both.info["null_released_density"] == pytest.approx(0.18, abs=0.03)
    assert plain.reasons["null_released_avg_clustering"].startswith(
        "the released code's nulls are reported at paper fidelity only"
    )
    # A single released null is enough to report the index.
    single = compute_metrics(w, n_nulls=0, seed=3, louvain=False, released_nulls=1)
    assert single.small_world_sigma_released is not None
    assert single.info["released_nulls"] == 1
    # No edges: nothing to compare, and the reason says so.
    none = compute_metrics(np.zeros((8, 8)), n_nulls=3, released_nulls=3)
    assert none.reasons["small_world_sigma_released"] == "the top-fraction graph has no edges"


# --- graphs and paths ---------------------------------------------------------------------


def test_many_components_of_a_large_sparse_graph_against_networkx() -> None:
    """Forests of paths and of cycles on 300 nodes: most pairs are never reached, so the
    level-by-level search beyond distance 2 runs on the whole batch."""
    graphs = [
        nx.disjoint_union_all([nx.path_graph(10) for _ in range(30)]),
        nx.disjoint_union_all([nx.cycle_graph(20) for _ in range(15)]),
    ]
    adj = np.stack([nx.to_numpy_array(g, nodelist=range(300)).astype(bool) for g in graphs])
    st = batch_stats(adj)
    for k, g in enumerate(graphs):
        assert st.efficiency[k] == pytest.approx(nx.global_efficiency(g), rel=1e-12)
        total = sum(d for _, row in nx.all_pairs_shortest_path_length(g) for d in row.values())
        assert st.muldoon_path_length[k] == pytest.approx(total / 300**2, rel=1e-12)
        assert not st.connected[k] and math.isnan(st.char_path_length[k])
        assert st.avg_clustering[k] == 0.0 and st.transitivity[k] == 0.0
    # By hand: on a 20-cycle each node's distances sum to 2 (1 + ... + 9) + 10 = 100.
    assert st.muldoon_path_length[1] == pytest.approx(300 * 100 / 300**2)


def test_dense_graphs_with_a_few_far_pairs_against_networkx() -> None:
    """Dense graphs whose few pairs beyond distance 2 sit at distance 3, 4 or more: the gathered
    search for distance 3, then the search onwards."""
    graphs = []
    for seed in range(3):
        g = nx.gnm_random_graph(60, 500, seed=seed)
        tail = nx.path_graph(range(60, 66))
        g = nx.union(g, tail)
        g.add_edge(0, 60)
        graphs.append(g)
    adj = np.stack([nx.to_numpy_array(g, nodelist=range(66)).astype(bool) for g in graphs])
    st = batch_stats(adj)
    for k, g in enumerate(graphs):
        assert st.efficiency[k] == pytest.approx(nx.global_efficiency(g), rel=1e-12)
        assert st.char_path_length[k] == pytest.approx(
            nx.average_shortest_path_length(g), rel=1e-12
        )
        assert st.avg_clustering[k] == pytest.approx(nx.average_clustering(g), rel=1e-12)


def test_small_and_empty_batches() -> None:
    for adj in (np.zeros((0, 5, 5), dtype=bool), np.zeros((2, 0, 0), dtype=bool)):
        st = batch_stats(adj)
        for values in (
            st.avg_clustering,
            st.transitivity,
            st.efficiency,
            st.char_path_length,
            st.muldoon_path_length,
        ):
            assert values.shape == (adj.shape[0],) and np.isnan(values).all()
        assert st.connected.shape == (adj.shape[0],) and not st.connected.any()
        assert st.connected.dtype == np.bool_
    one = batch_stats(np.zeros((1, 1), dtype=bool))
    assert one.efficiency[0] == 0.0 and math.isnan(one.char_path_length[0])
    # The record's types whatever the size: float64 values, boolean connectedness.
    assert one.efficiency.dtype == one.char_path_length.dtype == np.float64
    assert bool(one.connected[0]) and one.avg_clustering[0] == 0.0
    pair = batch_stats(np.array([[False, True], [True, False]]))
    assert (pair.efficiency[0], pair.char_path_length[0], pair.muldoon_path_length[0]) == (
        1.0,
        1.0,
        0.5,
    )
    assert pair.transitivity[0] == 0.0 and pair.avg_clustering[0] == 0.0


def test_directed_statistics_of_tiny_graphs_by_hand() -> None:
    # 0 -> 1 -> 2 -> 0 and 1 -> 0: reciprocity 2 / 4; directed distances 0->1 1, 0->2 2,
    # 1->0 1, 1->2 1, 2->0 1, 2->1 2: efficiency (4 + 2 / 2) / 6 = 5 / 6.
    a = np.zeros((3, 3), dtype=bool)
    a[0, 1] = a[1, 2] = a[2, 0] = a[1, 0] = True
    d = directed_stats(a)
    g = nx.DiGraph(list(zip(*np.nonzero(a), strict=True)))
    assert d["n_edges"] == 4.0 and d["reciprocity"] == pytest.approx(0.5)
    assert d["efficiency"] == pytest.approx(5 / 6)
    assert d["avg_clustering"] == pytest.approx(nx.average_clustering(g), rel=1e-12)
    empty = directed_stats(np.zeros((4, 4), dtype=bool))
    assert empty["n_edges"] == 0.0 and math.isnan(empty["reciprocity"])
    assert empty["efficiency"] == 0.0 and empty["avg_clustering"] == 0.0
    lone = directed_stats(np.zeros((1, 1), dtype=bool))
    assert math.isnan(lone["efficiency"])
    # Two nodes: 0 -> 1 alone reaches one of the two ordered pairs; both directions reach both.
    one_way = directed_stats(np.array([[False, True], [False, False]]))
    assert one_way["efficiency"] == 0.5 and one_way["reciprocity"] == 0.0
    both_ways = directed_stats(np.array([[False, True], [True, False]]))
    assert both_ways["efficiency"] == 1.0 and both_ways["reciprocity"] == 1.0
    assert math.isnan(directed_stats(np.zeros((0, 0), dtype=bool))["avg_clustering"])
    m = compute_metrics(np.zeros((5, 5)), n_nulls=0)
    assert m.directed_n_edges == 0.0
    one_node = compute_metrics(np.array([[2.0]]), n_nulls=0)
    assert one_node.reasons["directed_global_efficiency"] == "fewer than 2 nodes"
    assert m.reasons["directed_reciprocity"] == "the directed graph has no edges"


def test_ring_lattice_edge_cases() -> None:
    rng = np.random.default_rng(0)
    assert not ring_lattice(1, 3, rng).any() and not ring_lattice(6, 0, rng).any()
    assert ring_lattice(2, 1, rng).tolist() == [[False, True], [True, False]]
    # m = 2n: exactly the k = 4 ring lattice, no random choice left.
    lat = ring_lattice(10, 20, rng)
    ref = nx.to_numpy_array(nx.watts_strogatz_graph(10, 4, 0.0), nodelist=range(10)).astype(bool)
    np.testing.assert_array_equal(lat, ref)
    # m = n + 3: the ring plus three second neighbours.
    lat = ring_lattice(10, 13, rng)
    assert lat.sum() // 2 == 13 and not lat.diagonal().any()
    assert all(lat[i, (i + 1) % 10] for i in range(10))


def test_assortativity_of_hand_graphs() -> None:
    assert degree_assortativity(np.zeros((4, 4), dtype=bool)) == (None, "graph has no edges")
    assert degree_assortativity(nx.to_numpy_array(nx.cycle_graph(6)).astype(bool)) == (
        None,
        "all edge ends have the same degree: assortativity undefined",
    )
    # A star: every edge joins the hub (degree 4) to a leaf (degree 1): perfectly disassortative.
    value, _ = degree_assortativity(nx.to_numpy_array(nx.star_graph(4)).astype(bool))
    assert value == pytest.approx(-1.0)


def test_modularity_edge_cases() -> None:
    assert math.isnan(modularity(np.zeros((3, 3), dtype=bool), np.array([0, 1, 2])))
    assert cnm_communities(np.zeros((3, 3), dtype=bool)) == [frozenset({i}) for i in range(3)]
    q, labels = cnm_modularity(np.zeros((3, 3), dtype=bool))
    assert math.isnan(q) and sorted(labels.tolist()) == [0, 1, 2]
    q, labels = louvain_modularity(np.zeros((4, 4), dtype=bool), seed=0)
    assert math.isnan(q) and labels.tolist() == [0, 1, 2, 3]
    # Two triangles joined by an edge, labelled by hand: Q = 2 (3 / 7 - (7 / 14)²).
    g = nx.barbell_graph(3, 0)
    adj = nx.to_numpy_array(g, nodelist=range(6)).astype(bool)
    labels = np.array([5, 5, 5, 9, 9, 9])
    assert modularity(adj, labels) == pytest.approx(2 * (3 / 7 - 0.25))
    assert modularity(adj, labels) == pytest.approx(
        nx.community.modularity(g, [{0, 1, 2}, {3, 4, 5}])
    )
    # Louvain's labels put the largest community first.
    g = nx.disjoint_union(nx.complete_graph(3), nx.complete_graph(6))
    _, labels = louvain_modularity(nx.to_numpy_array(g).astype(bool), seed=0)
    assert labels.tolist() == [1, 1, 1] + [0] * 6


# --- nulls ----------------------------------------------------------------------------------


def test_null_generators_at_their_limits() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="cannot place 11 edges among 10 node pairs"):
        gnm_batch(5, 11, 2, rng)
    full = gnm_batch(5, 10, 3, rng).numpy()
    assert (full.sum((1, 2)) == 20).all() and not full[:, range(5), range(5)].any()
    assert not gnm_batch(5, 0, 3, rng).numpy().any()
    for m in (1, 3, 9):  # sparse to nearly complete: always exactly m edges
        nulls = gnm_batch(6, m, 50, rng).numpy()
        assert (nulls.sum((1, 2)) == 2 * m).all()
        assert (nulls == nulls.transpose(0, 2, 1)).all()
    assert not gnp_batch(5, 0.0, 2, rng).numpy().any()
    assert (gnp_batch(5, 1.0, 2, rng).numpy().sum((1, 2)) == 20).all()
    # Too few edges or nodes to swap: the graph itself, `count` times.
    one_edge = np.zeros((6, 6), dtype=bool)
    one_edge[0, 1] = one_edge[1, 0] = True
    out = rewire_batch(one_edge, 3, rng).numpy()
    assert out.shape == (3, 6, 6) and (out == one_edge).all()
    tri = nx.to_numpy_array(nx.complete_graph(3)).astype(bool)
    assert (rewire_batch(tri, 2, rng).numpy() == tri).all()
    assert rewire_batch(tri, 0, rng).shape == (0, 3, 3)


def test_rewiring_a_two_edge_graph_reaches_both_other_matchings() -> None:
    """Edges (0, 1), (2, 3) on four nodes: the only degree-preserving graphs are the three
    perfect matchings; swaps must visit the other two, and never create loops or doubles."""
    adj = np.zeros((4, 4), dtype=bool)
    adj[0, 1] = adj[1, 0] = adj[2, 3] = adj[3, 2] = True
    out = rewire_batch(adj, 300, np.random.default_rng(1), swaps_per_edge=1.0).numpy()
    assert (out.sum(2) == 1).all() and (out == out.transpose(0, 2, 1)).all()
    partner = out[:, 0].argmax(1)
    counts = np.bincount(partner, minlength=4)
    assert counts[0] == 0 and min(counts[1:]) > 50


# --- entropy, space, spectrum ---------------------------------------------------------------


def test_entropy_on_inputs_where_it_is_undefined_or_trivial() -> None:
    assert ent.kde_entropy(np.array([1.0])) == (None, "need at least 2 weights for a KDE, got 1")
    assert ent.kde_entropy(np.array([1.0, np.nan]))[1] == "weights contain NaN or infinity"
    assert ent.kde_entropy(np.full(9, 0.3)) == (
        None,
        "all weights are equal: the KDE is degenerate",
    )
    # Two weights a subnormal apart: their spread is not zero, Scott's bandwidth rounds to 0.
    assert ent.kde_entropy(np.array([0.0, 5e-324])) == (None, "zero bandwidth")
    assert ent.histogram_entropy(np.array([])) == (None, "no weights")
    assert ent.histogram_entropy(np.array([0.0, np.inf]))[1] == "weights contain NaN or infinity"
    assert ent.histogram_entropy(np.full(9, 0.3)) == (0.0, None)  # a point mass
    assert ent.histogram_entropy(np.array([-1e308, 1e308])) == (
        None,
        "the weight range overflows float64",
    )
    value, reason = ent.histogram_entropy(np.array([1.0, np.nextafter(1.0, 2.0)]))
    assert value is None and "too narrow" in str(reason)
    # Two equal halves: one bit, whatever the bin count.
    assert ent.histogram_entropy(np.array([0.0, 0.0, 1.0, 1.0]), bins=7) == (1.0, None)
    assert ent._entropy_bits(np.zeros(4)) == (None, "the density is zero everywhere on the grid")
    # The mass is normalised whatever its total, also a total of exactly one.
    assert ent._entropy_bits(np.array([0.5, 0.5, 0.0])) == (1.0, None)
    assert ent._entropy_bits(np.array([3.0, 3.0])) == (1.0, None)


def test_kde_entropy_on_a_large_matrix_and_another_grid_matches_scipy() -> None:
    w = np.random.default_rng(5).standard_t(4, size=(160, 160))  # 25,600 weights: two blocks
    for points in (100, 37):
        x = np.linspace(w.min(), w.max(), points)
        p = scipy.stats.gaussian_kde(w.ravel())(x)
        ref = scipy.stats.entropy(p / p.sum(), base=2)
        assert ent.kde_entropy(w, points)[0] == pytest.approx(ref, rel=1e-10)
    # Uniform weights on 100 bins: log2(100) bits.
    u = np.linspace(0, 1, 1000)
    assert ent.histogram_entropy(u)[0] == pytest.approx(math.log2(100), abs=1e-3)


def test_correlations_and_costs_on_degenerate_inputs() -> None:
    assert spatial.pearson(np.array([1.0]), np.array([2.0])) == (None, "fewer than 2 pairs")
    assert spatial.pearson(np.array([1.0, np.nan]), np.array([1.0, 2.0]))[1] == (
        "non-finite entries"
    )
    assert spatial.pearson(np.array([1.0, 2.0]), np.array([1.0, np.inf]))[1] == (
        "non-finite entries"
    )
    assert spatial.pearson(np.ones(3), np.arange(3.0)) == (
        None,
        "one of the matrices is constant off the diagonal",
    )
    # Two pairs are the fewest with a correlation: the line through them, -1 here.
    assert spatial.pearson(np.array([1.0, 2.0]), np.array([5.0, 3.0])) == (-1.0, None)
    assert spatial.spearman(np.array([1.0]), np.array([1.0]))[0] is None
    assert spatial.spearman(np.array([1.0, np.nan, 3.0]), np.arange(3.0))[0] is None
    x, y = np.array([1.0, 5.0, 2.0, 9.0]), np.array([0.1, 0.3, 0.2, 0.25])
    assert spatial.spearman(x, y)[0] == pytest.approx(scipy.stats.spearmanr(x, y)[0])
    assert spatial.pearson(x, y)[0] == pytest.approx(scipy.stats.pearsonr(x, y)[0])
    d = np.array([[0.0, np.inf], [np.inf, 0.0]])
    assert spatial.wiring_cost(np.ones((2, 2)), d)[0] is None
    assert spatial.graph_wiring_cost(np.ones((2, 2), dtype=bool), d)[0] is None
    # An asymmetric distance is averaged over both directions of each undirected edge.
    adj = np.array([[False, True, False], [True, False, True], [False, True, False]])
    d = np.array([[0.0, 1.0, 7.0], [3.0, 0.0, 4.0], [7.0, 6.0, 0.0]])
    assert spatial.graph_wiring_cost(adj, d) == ((1 + 3) / 2 + (4 + 6) / 2, None)
    assert spatial.wiring_cost(-np.ones((3, 3)), d) == (float(d.sum()), None)
    np.testing.assert_array_equal(spatial.offdiag(np.arange(9).reshape(3, 3)), [1, 2, 3, 5, 6, 7])


def test_spectral_radius_of_extreme_and_trivial_matrices() -> None:
    assert spatial.spectral_radius(np.zeros((0, 0)))[0] is None
    assert spatial.spectral_radius(np.zeros((3, 3))) == (0.0, None)
    # A rotation by 90 degrees scaled by 1e300: eigenvalues ±1e300 i.
    rot = np.array([[0.0, -1e300], [1e300, 0.0]])
    assert spatial.spectral_radius(rot)[0] == pytest.approx(1e300, rel=1e-12)
    assert spatial.spectral_radius(np.array([[0.0, 2.0], [8.0, 0.0]]))[0] == pytest.approx(4.0)
    m = compute_metrics(-3.0 * np.eye(4), n_nulls=0)
    assert m.spectral_radius == pytest.approx(3.0)


# --- small-world formulas at their edges ----------------------------------------------------


def test_small_world_formulas_refuse_what_they_cannot_compute() -> None:
    assert sigma_efficiency(0.5, 0.0, 0.4, 0.5) == (None, "the nulls have zero clustering")
    assert sigma_efficiency(0.5, 0.1, 0.0, 0.5)[1] == (
        "the graph has zero global efficiency (no edges)"
    )
    assert sigma_efficiency(math.nan, 0.1, 0.4, 0.5)[0] is None
    assert sigma_efficiency(0.5, 0.1, 0.4, math.inf)[0] is None
    assert sigma_efficiency(0.0, 0.1, 0.4, 0.5) == (0.0, None)
    assert sigma_path(0.5, 0.1, 2.0, math.nan)[1] == (
        "no connected null graph: null path length undefined"
    )
    assert sigma_path(0.5, 0.0, 2.0, 1.6)[1] == "the nulls have zero or undefined clustering"
    assert sigma_path(math.nan, 0.1, 2.0, 1.6)[0] is None
    assert omega(0.3, 0.6, math.inf, 1.6)[1] == (
        "the graph is disconnected: characteristic path length undefined"
    )
    lattice_flat = (None, "the lattice reference has zero clustering (mean degree below 4)")
    assert omega(0.3, 0.0, 2.0, 1.6) == lattice_flat
    assert omega(0.3, math.nan, 2.0, 1.6) == lattice_flat  # undefined, as zero
    assert sigma_path(0.5, math.inf, 2.0, 1.6)[1] == "the nulls have zero or undefined clustering"
    assert propensity(0.3, 0.1, 0.6, math.nan, 1.6, 3.6)[3] == (
        "clustering or path length of the graph or its references is undefined"
    )
    # At least as clustered as the lattice and as short as random, where the references
    # coincide: 0 / 0 on both axes, undefined.
    swp, dc, dl, reason = propensity(0.7, 0.6, 0.6, 1.5, 1.6, 1.6)
    assert (swp, dc, dl) == (None, None, None)
    assert reason == "the lattice and random references coincide (0/0)"
    # x / 0 with x > 0 is MATLAB's +inf, clipped to 1 on both axes: SWP 0.
    assert propensity(0.3, 0.6, 0.6, 2.0, 1.6, 1.6)[:3] == (pytest.approx(0.0), 1.0, 1.0)
    # References in the wrong order clip at -1 and +1, as Muldoon's code.
    swp, dc, dl, _ = propensity(0.3, 0.9, 0.6, 2.0, 1.6, 1.7)
    assert (swp, dc, dl) == (pytest.approx(0.0), pytest.approx(-1.0), 1.0)


@pytest.mark.parametrize("count", [1, 2])
def test_even_a_single_rewired_null_is_rewired(count: int) -> None:
    """However few nulls are asked for, each is a rewiring of the graph (same degrees, other
    edges), never the graph itself."""
    g = nx.gnm_random_graph(30, 90, seed=4)
    adj = nx.to_numpy_array(g, dtype=bool)
    nulls = rewire_batch(adj, count, np.random.default_rng(1)).numpy()
    assert nulls.shape == (count, 30, 30)
    for null in nulls:
        np.testing.assert_array_equal(null.sum(0), adj.sum(0))
        assert (null != adj).sum() > 30


def test_small_world_formulas_name_any_undefined_input_and_clip_like_the_released_code() -> None:
    """Each input of sigma (efficiency form) and of the propensity, made NaN alone, makes the
    value undefined with the stated reason; the propensity's ratios are clipped to [-1, 1] as
    MATLAB's code clips them, here where the lattice's path is shorter than the random one's
    (ΔL = 1 / -0.5, clipped to -1; ΔC = 0.1 / 0.5), by hand."""
    sig = (0.5, 0.2, 0.4, 0.5)
    assert sw.sigma_efficiency(*sig) == pytest.approx(((0.5 / 0.2) / (0.5 / 0.4), None))
    for i in range(len(sig)):
        bad = [math.nan if j == i else v for j, v in enumerate(sig)]
        assert sw.sigma_efficiency(*bad) == (
            None,
            "clustering or efficiency of the graph or its nulls is undefined",
        )
    swp = (0.5, 0.1, 0.6, 3.0, 2.0, 1.5)
    value, dc, dl, reason = sw.propensity(*swp)
    assert (dc, dl, reason) == (pytest.approx(0.2), -1.0, None)
    assert value == pytest.approx(1.0 - math.sqrt(0.2**2 + 1.0) / math.sqrt(2.0))
    for i in range(len(swp)):
        bad = [math.nan if j == i else v for j, v in enumerate(swp)]
        assert sw.propensity(*bad) == (
            None,
            None,
            None,
            "clustering or path length of the graph or its references is undefined",
        )


def test_a_one_edge_graph_has_networkx_louvain_modularity() -> None:
    """A graph of one edge has the Louvain modularity networkx gives it (0: one community of
    the pair, singletons), not an undefined one."""
    one = np.zeros((4, 4), dtype=bool)
    one[0, 1] = one[1, 0] = True
    q, labels = louvain_modularity(one, 0)
    g = nx.from_numpy_array(one)
    want = nx.community.modularity(g, nx.community.louvain_communities(g, seed=0))
    assert q == pytest.approx(want, abs=1e-12) and want == 0.0
    assert labels.tolist() == [0, 0, 1, 2]


def test_directed_metrics_are_those_of_the_directed_top_fraction_graph() -> None:
    """An asymmetric W at a fraction other than the default: the directed metrics are
    networkx's on the directed graph of its top entries (not on the undirected graph the
    other metrics use)."""
    rng = np.random.default_rng(8)
    w = rng.normal(size=(20, 20))
    np.fill_diagonal(w, 0.0)
    adj, _ = top_fraction_graph(w, 0.25, directed=True)
    assert not np.array_equal(adj, adj.T)
    g = nx.from_numpy_array(adj.astype(int), create_using=nx.DiGraph)
    m = compute_metrics(w, n_nulls=2, fraction=0.25, louvain=False)
    assert m.directed_n_edges == g.number_of_edges()
    assert m.directed_reciprocity == pytest.approx(nx.reciprocity(g), rel=1e-12)
    assert m.directed_avg_clustering == pytest.approx(nx.average_clustering(g), rel=1e-12)


def test_three_separate_pairs_say_why_path_and_propensity_are_undefined() -> None:
    """Three disjoint edges: no path between pairs, and the lattice and random references of
    the propensity coincide (0/0); each undefined value says exactly that."""
    w = np.zeros((8, 8))
    for i, j in ((0, 1), (2, 3), (4, 5)):
        w[i, j] = w[j, i] = 1.0
    m = compute_metrics(w, n_nulls=2, fraction=0.1)
    assert m.modularity_cnm == pytest.approx(2 / 3)
    assert m.char_path_length is None
    assert m.reasons["char_path_length"] == "the graph is disconnected"
    for name in ("small_world_propensity", "swp_delta_c", "swp_delta_l"):
        assert getattr(m, name) is None
        assert m.reasons[name] == "the lattice and random references coincide (0/0)"


# --- inputs as they come: any nonzero entry an edge, float32 weights ---------------------------


def test_any_nonzero_entry_of_an_adjacency_is_an_edge() -> None:
    """A matrix of any nonzero values where the edges are (as weights masked by the graph)
    gives what its boolean form gives: the graph metrics are binary."""
    g = nx.gnm_random_graph(12, 26, seed=3)
    adj = nx.to_numpy_array(g, nodelist=range(12)).astype(bool)
    scaled = adj * np.random.default_rng(0).uniform(0.5, 3.0, adj.shape)
    assert cnm_communities(scaled) == cnm_communities(adj)
    assert degree_assortativity(scaled) == degree_assortativity(adj)
    labels = np.arange(12) % 3
    assert modularity(scaled, labels) == modularity(adj, labels)
    directed = np.triu(adj) | (np.tril(adj) & (np.arange(12)[:, None] % 3 == 0))
    assert directed_stats(directed * 0.5) == directed_stats(directed)


def test_float32_weights_give_the_float64_results_exactly() -> None:
    """Trained weights arrive as float32: every statistic is computed in float64 all the same."""
    w32 = trained_looking_weights(40, seed=2)[0].astype(np.float32)
    w64 = w32.astype(np.float64)
    assert ent.kde_entropy(w32) == ent.kde_entropy(w64)
    adj32, thr32 = top_fraction_graph(w32)
    adj64, thr64 = top_fraction_graph(w64)
    assert thr32 == thr64 and (adj32 == adj64).all()


@pytest.mark.parametrize(
    "graph",
    [
        nx.cycle_graph(8),
        nx.path_graph(7),
        nx.ladder_graph(4),
        nx.wheel_graph(8),
        nx.wheel_graph(11),
        nx.complete_bipartite_graph(3, 3),
        nx.convert_node_labels_to_integers(nx.hypercube_graph(3)),
    ],
    ids=["ring8", "path7", "ladder4", "wheel8", "wheel11", "k33", "cube"],
)
def test_cnm_breaks_ties_as_networkx_on_symmetric_graphs(graph: nx.Graph) -> None:
    """Symmetric graphs tie many merges (some at a gain of exactly zero): the partition and its
    order are networkx's, merge for merge."""
    adj = nx.to_numpy_array(graph, nodelist=range(graph.number_of_nodes())).astype(bool)
    ref = [frozenset(c) for c in nx.community.greedy_modularity_communities(nx_graph(adj))]
    assert cnm_communities(adj) == ref


def test_gnm_top_up_reaches_every_node_pair_uniformly() -> None:
    """Sparse nulls are made almost entirely by the top-up (m / P below 1 / 128 starts from an
    empty graph) and denser ones partly: either way each pair is an edge with probability m / P."""
    iu = np.triu_indices(20, 1)
    for m, count in ((1, 19_000), (12, 4_000)):
        nulls = gnm_batch(20, m, count, np.random.default_rng(m)).numpy()
        per_pair = nulls[:, iu[0], iu[1]].sum(0)
        assert per_pair.sum() == m * count and per_pair.min() > 0
        assert scipy.stats.chisquare(per_pair).pvalue > 1e-4
    # One node has no pair: the nulls are empty graphs.
    assert gnm_batch(1, 0, 3, np.random.default_rng(0)).shape == (3, 1, 1)


def test_a_batch_of_different_graphs_gives_each_graphs_own_statistics() -> None:
    """Graphs of one batch differ in density and connectedness: each keeps its own
    transitivity, clustering, path length and efficiency, as computed alone and by networkx."""
    graphs = [
        nx.gnm_random_graph(16, 20, seed=1),  # sparse, disconnected
        nx.gnm_random_graph(16, 60, seed=2),
        nx.watts_strogatz_graph(16, 4, 0.1, seed=3),
    ]
    adjs = np.stack([nx.to_numpy_array(g, nodelist=range(16)).astype(bool) for g in graphs])
    together = batch_stats(adjs)
    for b, g in enumerate(graphs):
        alone = batch_stats(adjs[b])
        assert together.transitivity[b] == pytest.approx(nx.transitivity(g), rel=1e-12)
        assert together.avg_clustering[b] == pytest.approx(nx.average_clustering(g), rel=1e-12)
        assert together.efficiency[b] == pytest.approx(nx.global_efficiency(g), rel=1e-12)
        for field in ("transitivity", "avg_clustering", "efficiency", "char_path_length"):
            np.testing.assert_array_equal(getattr(together, field)[b], getattr(alone, field)[0])
        if nx.is_connected(g):
            assert together.char_path_length[b] == pytest.approx(
                nx.average_shortest_path_length(g), rel=1e-12
            )
        else:
            assert math.isnan(together.char_path_length[b])


def test_paths_of_a_graph_with_degrees_beyond_bfloat16_against_networkx() -> None:
    """Degrees above 255 take the exact (float32) counting path: the paths too, with one node
    at distance 2 from the rest and one unreachable."""
    g = nx.gnm_random_graph(300, 40000, seed=1)
    g.remove_edges_from(list(g.edges(0)))
    g.add_edge(0, 1)
    g.remove_edges_from(list(g.edges(299)))
    adj = nx.to_numpy_array(g, nodelist=range(300)).astype(bool)
    st = batch_stats(adj)
    assert max(d for _, d in g.degree()) > 256
    assert st.efficiency[0] == pytest.approx(nx.global_efficiency(g), rel=1e-12)
    assert math.isnan(st.char_path_length[0])  # node 299 is alone
    g.remove_node(299)
    st = batch_stats(nx.to_numpy_array(g, nodelist=range(299)).astype(bool))
    assert st.char_path_length[0] == pytest.approx(nx.average_shortest_path_length(g), rel=1e-12)


def test_spearman_refuses_infinite_values_on_either_side() -> None:
    """Ranks would turn an infinity into an ordinary rank: spearman refuses non-finite input
    first, as pearson does, whichever side holds it."""
    finite = np.array([1.0, 2.0, 3.0, 4.0])
    with_inf = np.array([1.0, 2.0, np.inf, 4.0])
    for x, y in ((with_inf, finite), (finite, with_inf)):
        assert spatial.spearman(x, y) == (None, "non-finite entries")
    assert spatial.spearman(finite, finite[::-1].copy()) == (-1.0, None)


def test_spectral_radius_falls_back_to_numpy_and_says_when_neither_solver_converges(
    monkeypatch,
) -> None:
    w = np.array([[0.0, 2.0], [8.0, 0.0]])
    assert spatial.spectral_radius(np.zeros((0, 0))) == (None, "empty matrix")

    def torch_fails(_: object) -> None:
        raise RuntimeError("LAPACK failed")

    monkeypatch.setattr(spatial.torch.linalg, "eigvals", torch_fails)
    value, reason = spatial.spectral_radius(w)
    assert value == pytest.approx(4.0, rel=1e-12) and reason is None

    def numpy_fails(_: object) -> None:
        raise np.linalg.LinAlgError("no convergence")

    monkeypatch.setattr(spatial.np.linalg, "eigvals", numpy_fails)
    assert spatial.spectral_radius(w) == (None, "the eigenvalue solver did not converge")


def test_one_null_is_enough_for_the_null_based_metrics() -> None:
    w, _ = trained_looking_weights(40, seed=3)
    m = compute_metrics(w, n_nulls=1, seed=0)
    assert m.small_world_sigma is not None and "small_world_sigma" not in m.reasons
