"""`compute_metrics`: every topology metric of one recurrent weight matrix.

Orientation. W is (post, pre) as torch's `weight_hh` (entry [i, j]: from unit j to unit i).
The undirected graph metrics do not depend on it (the graph is symmetrised); the directed
graph keeps it; reference matrices (functional, anatomical) are stored (pre, post) by the
connectome store and are transposed before correlating unless `references_transposed=False`.
The distance matrix is symmetric, so its orientation does not matter.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Literal, TypedDict, Unpack

import numpy as np

from . import entropy as ent
from .graphs import (
    DEFAULT_FRACTION,
    degree_assortativity,
    ring_lattice,
    top_fraction_graph,
)
from .modularity import cnm_modularity, louvain_modularity
from .nulls import gnm_batch, gnp_batch, rewire_batch
from .paths import BatchStats, batch_stats, directed_stats
from .record import TopologyMetrics
from .released_nulls import released_null_means_of_seed
from .smallworld import omega, propensity, sigma_efficiency, sigma_path
from .spatial import (
    graph_wiring_cost,
    offdiag,
    pearson,
    spearman,
    spectral_radius,
    wiring_cost,
)

log = logging.getLogger(__name__)

FINAL_NULLS = 1000  # the paper's count, for the final matrix of a run
EPOCH_NULLS = 100  # for every epoch's snapshot (trajectories)
NullModel = Literal["random", "gnp", "rewire"]


class MetricsOptions(TypedDict, total=False):
    """The options of `compute_metrics` after `weights` and `distance`."""

    functional: np.ndarray | None
    anatomical: np.ndarray | None
    n_nulls: int
    null_model: NullModel
    seed: int
    fraction: float
    swaps_per_edge: float
    louvain: bool
    references_transposed: bool
    released_nulls: int


class _Graph(TypedDict, total=False):
    """What the graph step leaves for the steps after it."""

    adj: np.ndarray
    stats: BatchStats | None


GRAPH_METRICS = (
    "threshold", "n_edges", "density", "modularity_cnm", "n_modules_cnm", "modularity_louvain",
    "n_modules_louvain", "assortativity", "transitivity", "avg_clustering", "global_efficiency",
    "char_path_length", "null_avg_clustering", "null_global_efficiency", "null_char_path_length",
    "small_world_sigma", "small_world_sigma_path", "small_world_omega", "small_world_propensity",
    "swp_delta_c", "swp_delta_l", "directed_n_edges", "directed_reciprocity",
    "directed_avg_clustering", "directed_global_efficiency", "wiring_cost_graph",
    "null_released_avg_clustering", "null_released_global_efficiency",
    "small_world_sigma_released",
)  # fmt: skip
RELEASED_NULL_METRICS = (
    "null_released_avg_clustering", "null_released_global_efficiency",
    "small_world_sigma_released",
)  # fmt: skip
NULL_METRICS = (
    "null_avg_clustering", "null_global_efficiency", "null_char_path_length", "small_world_sigma",
    "small_world_sigma_path", "small_world_omega", "small_world_propensity", "swp_delta_c",
    "swp_delta_l",
)  # fmt: skip
# Bound each null chunk to about this many adjacency entries (memory stays near 100 MB).
CHUNK_ENTRIES = 12_000_000


def compute_metrics(
    weights: np.ndarray,
    distance: np.ndarray | None = None,
    functional: np.ndarray | None = None,
    anatomical: np.ndarray | None = None,
    *,
    n_nulls: int = FINAL_NULLS,
    null_model: NullModel = "random",
    seed: int = 0,
    fraction: float = DEFAULT_FRACTION,
    swaps_per_edge: float = 10.0,
    louvain: bool = True,
    references_transposed: bool = True,
    released_nulls: int = 0,
) -> TopologyMetrics:
    """All metrics of `weights` (N × N). Never raises on finite or non-finite square input:
    undefined metrics are None with a reason in `.reasons`.

    Graph metrics use the top-`fraction` graph of |W| (see `graphs.top_fraction_graph`).
    `null_model`: "random" — G(n, m), the paper's density-matched Erdős–Rényi nulls (exact
    edge count); "gnp" — G(n, p) at the observed density; "rewire" — degree-preserving double
    edge swaps (`swaps_per_edge` attempts per edge). `n_nulls` = 0 skips the null-based
    metrics. `released_nulls` > 0 also reports `small_world_sigma_released` against that many
    of the released code's fixed-density nulls (see `released_nulls`). Deterministic in `seed`.

    σ uses average clustering (the C of `nx.omega`; `nx.sigma` uses transitivity) and global
    efficiency, as SCIENCE.md §6:
    σ = (C / C_null) / (E_null / E); `small_world_sigma_path` is networkx's L-based form and
    `transitivity` is reported separately. See `smallworld` for ω and small-world propensity.
    """
    w = np.asarray(weights)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"weights must be a square matrix, got shape {w.shape}")
    if null_model not in ("random", "gnp", "rewire"):
        raise ValueError(f"null_model must be 'random', 'gnp' or 'rewire', got {null_model!r}")
    if n_nulls < 0 or released_nulls < 0:
        raise ValueError(f"null counts must be >= 0, got {n_nulls} and {released_nulls}")
    n = w.shape[0]
    distance = None if distance is None else _check_matrix(distance, n, "distance")
    functional = None if functional is None else _check_matrix(functional, n, "functional")
    anatomical = None if anatomical is None else _check_matrix(anatomical, n, "anatomical")
    out = TopologyMetrics()
    out.info.update(n=n, fraction=fraction, n_nulls=n_nulls, null_model=null_model, seed=seed,
                    released_nulls=released_nulls)  # fmt: skip
    timings: dict[str, float] = {}
    out.info["timings_s"] = timings

    if n == 0:
        out.fail(list(out.values()), "empty matrix (N = 0)")
        return out
    w = w.astype(np.float64)
    n_bad = int((~np.isfinite(w)).sum())
    if n_bad:
        out.fail(list(out.values()), f"W has {n_bad} non-finite entries (NaN or infinity)")
        return out

    def step(name: str, fn: Callable[[], object], names: tuple[str, ...]) -> None:
        # A bug in one metric must not cost the run its other metrics.
        # Running out of memory is not such a bug: the pack fails with its memory reason
        # (worker/pack_memory.py) rather than storing the run with that group missing.
        t0 = time.perf_counter()
        try:
            fn()
        except MemoryError:
            raise
        except Exception as exc:
            log.exception("topology metric group %s failed", name)
            out.fail(names, f"failed: {type(exc).__name__}: {exc}")
        timings[name] = time.perf_counter() - t0

    step("entropy", lambda: _entropy(out, w), ("entropy_kde", "entropy_hist"))
    step(
        "spectral",
        lambda: out.set("spectral_radius", *spectral_radius(w)),
        ("spectral_radius",),
    )

    graph: _Graph = {}
    step("graph", lambda: _graph(out, w, fraction, graph), GRAPH_METRICS)
    adj = graph.get("adj")
    if isinstance(adj, np.ndarray):
        step("modularity", lambda: _modularity(out, adj, seed, louvain), (
            "modularity_cnm", "n_modules_cnm", "modularity_louvain",
            "n_modules_louvain"))  # fmt: skip
        if n_nulls > 0:
            step("nulls", lambda: _nulls(out, adj, graph["stats"], n_nulls, null_model, seed,
                                         swaps_per_edge, timings), NULL_METRICS)  # fmt: skip
        else:
            out.fail(NULL_METRICS, "n_nulls = 0: null-based metrics not requested")
        if released_nulls > 0:
            step("released_nulls", lambda: _released_nulls(out, adj, graph["stats"],
                                                           released_nulls, seed),
                 RELEASED_NULL_METRICS)  # fmt: skip
        else:
            out.fail(RELEASED_NULL_METRICS, "the released code's nulls are reported at paper "
                     "fidelity only (fidelity switch released_nulls)")  # fmt: skip
        step("directed", lambda: _directed(out, w, fraction), (
            "directed_n_edges", "directed_reciprocity", "directed_avg_clustering",
            "directed_global_efficiency"))  # fmt: skip
    step("space", lambda: _space(out, w, distance, adj), (
        "wiring_cost", "wiring_cost_graph", "weight_distance_pearson",
        "weight_distance_spearman"))  # fmt: skip
    step("references", lambda: _references(out, w, functional, anatomical, references_transposed), (
        "functional_pearson", "functional_spearman", "anatomical_pearson",
        "anatomical_spearman"))  # fmt: skip
    return out


def compute_epoch_metrics(
    weights: np.ndarray, distance: np.ndarray | None = None, **kwargs: Unpack[MetricsOptions]
) -> TopologyMetrics:
    """`compute_metrics` with the smaller per-epoch null count (EPOCH_NULLS unless given)."""
    kwargs.setdefault("n_nulls", EPOCH_NULLS)
    return compute_metrics(weights, distance, **kwargs)


def _entropy(out: TopologyMetrics, w: np.ndarray) -> None:
    out.set("entropy_kde", *ent.kde_entropy(w))
    out.set("entropy_hist", *ent.histogram_entropy(w))


def _graph(out: TopologyMetrics, w: np.ndarray, fraction: float, graph: _Graph) -> None:
    adj, thr = top_fraction_graph(w, fraction)
    n = adj.shape[0]
    m = int(adj.sum() // 2)
    out.set("threshold", thr)
    out.set("n_edges", float(m))
    pairs = n * (n - 1) / 2
    out.set("density", m / pairs if pairs else None, "fewer than 2 nodes")
    graph["adj"] = adj
    if m == 0:
        out.fail(GRAPH_METRICS, "the top-fraction graph has no edges")
        graph["stats"] = None
        return
    out.set("assortativity", *degree_assortativity(adj))
    st = batch_stats(adj)
    graph["stats"] = st
    out.set("transitivity", st.transitivity[0])
    out.set("avg_clustering", st.avg_clustering[0])
    out.set("global_efficiency", st.efficiency[0])
    out.set("char_path_length", st.char_path_length[0], "the graph is disconnected")


def _modularity(out: TopologyMetrics, adj: np.ndarray, seed: int, louvain: bool) -> None:
    if not adj.any():
        return
    q, labels = cnm_modularity(adj)
    out.set("modularity_cnm", q, "modularity undefined")
    out.set("n_modules_cnm", float(labels.max() + 1))
    out.modules_cnm = labels.tolist()
    if louvain:
        q, labels = louvain_modularity(adj, seed)
        out.set("modularity_louvain", q, "modularity undefined")
        out.set("n_modules_louvain", float(labels.max() + 1))
        out.modules_louvain = labels.tolist()
    else:
        out.fail(("modularity_louvain", "n_modules_louvain"), "Louvain not requested")


def _nulls(
    out: TopologyMetrics,
    adj: np.ndarray,
    stats: BatchStats | None,
    n_nulls: int,
    null_model: NullModel,
    seed: int,
    swaps_per_edge: float,
    timings: dict[str, float],
) -> None:
    if stats is None:
        return
    n = adj.shape[0]
    m = int(adj.sum() // 2)
    if n < 4:
        out.fail(NULL_METRICS, f"too few nodes for null models (N = {n})")
        return
    gen = np.random.default_rng(seed)
    chunk = max(1, CHUNK_ENTRIES // (n * n))
    parts: list[BatchStats] = []
    t_gen = 0.0
    for start in range(0, n_nulls, chunk):
        k = min(chunk, n_nulls - start)
        t0 = time.perf_counter()
        if null_model == "random":
            nulls = gnm_batch(n, m, k, gen)
        elif null_model == "gnp":
            nulls = gnp_batch(n, m / (n * (n - 1) / 2), k, gen)
        else:
            nulls = rewire_batch(adj, k, gen, swaps_per_edge)
        t_gen += time.perf_counter() - t0
        parts.append(batch_stats(nulls))
    timings["null_generation"] = t_gen
    c_null = np.concatenate([p.avg_clustering for p in parts])
    e_null = np.concatenate([p.efficiency for p in parts])
    l_null = np.concatenate([p.char_path_length for p in parts])
    lm_null = np.concatenate([p.muldoon_path_length for p in parts])
    connected = np.isfinite(l_null)
    out.info["null_connected_fraction"] = float(connected.mean())
    c_mean, e_mean = float(c_null.mean()), float(e_null.mean())
    l_mean = float(l_null[connected].mean()) if connected.any() else math.nan
    out.set("null_avg_clustering", c_mean)
    out.set("null_global_efficiency", e_mean)
    out.set("null_char_path_length", l_mean, "no connected null graph")

    c, e = float(stats.avg_clustering[0]), float(stats.efficiency[0])
    length = float(stats.char_path_length[0])
    out.set("small_world_sigma", *sigma_efficiency(c, c_mean, e, e_mean))
    out.set("small_world_sigma_path", *sigma_path(c, c_mean, length, l_mean))

    lattice = ring_lattice(n, m, np.random.default_rng(seed))
    lat = batch_stats(lattice)
    out.set("small_world_omega", *omega(c, float(lat.avg_clustering[0]), length, l_mean))
    swp, dc, dl, reason = propensity(
        c, c_mean, float(lat.avg_clustering[0]),
        float(stats.muldoon_path_length[0]), float(lm_null.mean()),
        float(lat.muldoon_path_length[0]),
    )  # fmt: skip
    out.set("small_world_propensity", swp, reason)
    out.set("swp_delta_c", dc, reason)
    out.set("swp_delta_l", dl, reason)


def _released_nulls(
    out: TopologyMetrics, adj: np.ndarray, stats: BatchStats | None, count: int, seed: int
) -> None:
    if stats is None:
        return
    means = released_null_means_of_seed(adj.shape[0], count, seed)
    out.info["null_released_density"] = means.density
    out.set("null_released_avg_clustering", means.avg_clustering)
    out.set("null_released_global_efficiency", means.global_efficiency)
    c, e = float(stats.avg_clustering[0]), float(stats.efficiency[0])
    out.set(
        "small_world_sigma_released",
        *sigma_efficiency(c, means.avg_clustering, e, means.global_efficiency),
    )


def _directed(out: TopologyMetrics, w: np.ndarray, fraction: float) -> None:
    adj, _ = top_fraction_graph(w, fraction, directed=True)
    d = directed_stats(adj)
    out.set("directed_n_edges", d["n_edges"])
    out.set("directed_reciprocity", d["reciprocity"], "the directed graph has no edges")
    out.set("directed_avg_clustering", d["avg_clustering"])
    out.set("directed_global_efficiency", d["efficiency"], "fewer than 2 nodes")


def _check_matrix(x: object, n: int, what: str) -> np.ndarray:
    if hasattr(x, "toarray"):  # scipy.sparse, as the connectome store keeps synapse counts
        x = x.toarray()
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (n, n):
        raise ValueError(f"{what} must have the shape of W ({n}, {n}), got {x.shape}")
    return x


def _space(out: TopologyMetrics, w: np.ndarray, distance: np.ndarray | None, adj: object) -> None:
    names = (
        "wiring_cost",
        "wiring_cost_graph",
        "weight_distance_pearson",
        "weight_distance_spearman",
    )
    if distance is None:
        out.fail(names, "no distance matrix given")
        return
    d = distance
    out.set("wiring_cost", *wiring_cost(w, d))
    if isinstance(adj, np.ndarray):
        out.set("wiring_cost_graph", *graph_wiring_cost(adj, d))
    x, y = offdiag(np.abs(w)), offdiag(d)
    out.set("weight_distance_pearson", *pearson(x, y))
    out.set("weight_distance_spearman", *spearman(x, y))


def _references(
    out: TopologyMetrics,
    w: np.ndarray,
    functional: np.ndarray | None,
    anatomical: np.ndarray | None,
    transposed: bool,
) -> None:
    for name, ref in (("functional", functional), ("anatomical", anatomical)):
        if ref is None:
            out.fail((f"{name}_pearson", f"{name}_spearman"), f"no {name} matrix given")
            continue
        r = ref
        if transposed:
            r = r.T
        x, y = offdiag(w), offdiag(r)
        out.set(f"{name}_pearson", *pearson(x, y))
        out.set(f"{name}_spearman", *spearman(x, y))
