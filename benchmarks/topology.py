"""Topology metric suite at N = 312 (the paper's field 6_6_2 size): our vectorised
`compute_metrics` against the networkx / scipy / bctpy reference on the same matrix, measured
interleaved in one run, so that a busy machine slows both alike.

The reference suite does what the paper's released code does: scipy `gaussian_kde`, networkx
CNM and Louvain, assortativity, clustering, efficiency and path length on the graph, and for
σ one networkx G(n, m) null at a time (average clustering + global efficiency each). 1,000
such nulls take minutes, so only `--ref-nulls` of them are run and the time is extrapolated
linearly to 1,000 (each null costs the same); the output says so. Same for bctpy's
`randmio_und` degree-preserving nulls.

    python benchmarks/topology.py [--n 312] [--repeats 3] [--ref-nulls 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import networkx as nx
import numpy as np
import scipy.stats
import torch

from cortexrnn.services.topology import compute_metrics, top_fraction_graph


def trained_looking(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    pos = rng.random((n, 3))
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    module = rng.integers(0, 6, n)
    same = module[:, None] == module[None, :]
    w = 0.3 * q + rng.normal(scale=0.05, size=(n, n)) * np.exp(-2 * d) * (1 + 2 * same)
    return w, d


class Clock:
    """Wall and process-CPU seconds since start: on a shared box the CPU time of this process
    is far less disturbed by other processes than the wall time."""

    def __init__(self) -> None:
        self.w, self.c = time.perf_counter(), time.process_time()

    def split(self) -> tuple[float, float]:
        return time.perf_counter() - self.w, time.process_time() - self.c


def reference_suite(w: np.ndarray, n_nulls: int, seed: int) -> tuple[tuple[float, float], ...]:
    """(wall, cpu) of the per-graph part, per G(n, m) null and per bctpy rewired null."""
    import bct

    clock = Clock()
    x = np.linspace(w.min(), w.max(), 100)
    p = scipy.stats.gaussian_kde(w.ravel())(x)
    scipy.stats.entropy(p / p.sum(), base=2)
    np.abs(np.linalg.eigvals(w)).max()
    adj, _ = top_fraction_graph(w)
    g = nx.from_numpy_array(adj.astype(int))
    nx.community.modularity(g, nx.community.greedy_modularity_communities(g))
    nx.community.modularity(g, nx.community.louvain_communities(g, seed=seed))
    nx.degree_assortativity_coefficient(g)
    nx.transitivity(g)
    c = nx.average_clustering(g)
    e = nx.global_efficiency(g)
    if nx.is_connected(g):
        nx.average_shortest_path_length(g)
    t_graph = clock.split()

    n, m = g.number_of_nodes(), g.number_of_edges()
    clock = Clock()
    cs, es = [], []
    for s in range(n_nulls):
        r = nx.gnm_random_graph(n, m, seed=seed + s)
        cs.append(nx.average_clustering(r))
        es.append(nx.global_efficiency(r))
    _ = (c / np.mean(cs)) / (np.mean(es) / e)
    t_null = tuple(x / n_nulls for x in clock.split())

    clock = Clock()
    k = max(1, n_nulls // 3)
    for s in range(k):
        r, _ = bct.randmio_und(adj.astype(float), 10, seed=seed + s)
        rg = nx.from_numpy_array((r > 0).astype(int))
        nx.average_clustering(rg)
        nx.global_efficiency(rg)
    t_rewire = tuple(x / k for x in clock.split())
    return t_graph, t_null, t_rewire


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=312)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ref-nulls", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    w, d = trained_looking(args.n)
    adj, _ = top_fraction_graph(w)
    print(
        f"N = {args.n}, top-10 % graph: {int(adj.sum() // 2)} edges, torch threads = {args.threads}"
    )
    compute_metrics(w, d, n_nulls=20)  # warm-up: first LAPACK / oneDNN calls

    keys = (
        "ours_1000",
        "ours_100",
        "ours_rewire_100",
        "ref_graph",
        "ref_null",
        "ref_rewire",
    )
    rows: dict[str, list[tuple[float, float]]] = {k: [] for k in keys}
    for rep in range(args.repeats):
        for key, kwargs in (("ours_1000", {"n_nulls": 1000}), ("ours_100", {"n_nulls": 100}),
                            ("ours_rewire_100",
                             {"n_nulls": 100, "null_model": "rewire"})):  # fmt: skip
            clock = Clock()
            res = compute_metrics(w, d, seed=rep, **kwargs)
            rows[key].append(clock.split())
            if key == "ours_1000":
                timings = res.info["timings_s"]
        tg, tn, tr = reference_suite(w, args.ref_nulls, seed=rep)
        rows["ref_graph"].append(tg)
        rows["ref_null"].append(tn)
        rows["ref_rewire"].append(tr)

    print(f"medians of {args.repeats} interleaved repeats, seconds (wall / CPU of this process)")
    print(
        f"{'suite':38s} {'ours wall':>9s} {'ours cpu':>9s} {'ref wall':>9s} {'ref cpu':>9s} "
        f"{'x wall':>7s} {'x cpu':>7s}"
    )
    med = {
        k: (
            statistics.median(v[0] for v in vals),
            statistics.median(v[1] for v in vals),
        )
        for k, vals in rows.items()
    }
    for label, ours_key, count, null_key in (
        ("full suite, 1000 G(n,m) nulls", "ours_1000", 1000, "ref_null"),
        ("per-epoch suite, 100 G(n,m) nulls", "ours_100", 100, "ref_null"),
        ("suite, 100 degree-preserving nulls", "ours_rewire_100", 100, "ref_rewire"),
    ):
        ours = med[ours_key]
        ref = tuple(med["ref_graph"][i] + count * med[null_key][i] for i in range(2))
        print(f"{label:38s} {ours[0]:9.3f} {ours[1]:9.3f} {ref[0]:9.1f} {ref[1]:9.1f} "
              f"{ref[0] / ours[0]:6.0f}x {ref[1] / ours[1]:6.0f}x")  # fmt: skip
    print(
        f"reference: graph part {med['ref_graph'][0]:.3f} s measured; nulls extrapolated "
        f"(linearly) from {args.ref_nulls} networkx G(n,m) nulls ({med['ref_null'][0]:.3f} s each) "
        f"and {max(1, args.ref_nulls // 3)} bctpy randmio_und nulls ({med['ref_rewire'][0]:.3f} s "
        "each)"
    )
    print(
        "our 1000-null suite by step, wall (last repeat): "
        + ", ".join(f"{k} {v:.3f}" for k, v in timings.items())
    )


if __name__ == "__main__":
    main()
