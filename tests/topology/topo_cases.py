"""The test graphs every topology metric is checked on, built with networkx or numpy only."""

from __future__ import annotations

import networkx as nx
import numpy as np


def trained_looking_weights(n: int = 120, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(W, D): a matrix like a trained seRNN's — orthogonal start, four spatial modules with
    stronger within-module weights, decay with distance, a few strong hubs; D from positions."""
    rng = np.random.default_rng(seed)
    pos = rng.random((n, 3))
    pos[:, 0] += np.repeat(np.arange(4), n // 4 + 1)[:n] * 0.6
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    module = np.repeat(np.arange(4), n // 4 + 1)[:n]
    same = module[:, None] == module[None, :]
    w = 0.3 * q + rng.normal(scale=0.05, size=(n, n)) * np.exp(-d) * (1 + 2 * same)
    w[:, :3] *= 3.0
    return w, d


def paper_top10_graph(w: np.ndarray) -> np.ndarray:
    """The paper's recipe written out independently: quantile of |W| over all N² entries."""
    a = np.abs(w)
    thr = np.quantile(a.ravel(), 0.9)
    adj = a > thr
    adj = np.logical_or(adj, adj.T)
    np.fill_diagonal(adj, False)
    return adj


def graph_adjacency(name: str) -> np.ndarray:
    if name == "ring_lattice":
        g = nx.watts_strogatz_graph(60, 6, 0.0)
    elif name == "erdos_renyi":
        g = nx.gnm_random_graph(80, 400, seed=3)
    elif name == "sparse_disconnected_er":
        g = nx.gnm_random_graph(70, 50, seed=4)
    elif name == "planted_modules":
        g = nx.planted_partition_graph(4, 20, 0.5, 0.03, seed=5)
    elif name == "trained_looking":
        return paper_top10_graph(trained_looking_weights()[0])
    else:
        raise KeyError(name)
    return nx.to_numpy_array(g, nodelist=range(g.number_of_nodes())).astype(bool)


GRAPHS = [
    "ring_lattice",
    "erdos_renyi",
    "sparse_disconnected_er",
    "planted_modules",
    "trained_looking",
]


def nx_graph(adj: np.ndarray) -> nx.Graph:
    g = nx.Graph()
    g.add_nodes_from(range(adj.shape[0]))
    i, j = np.nonzero(np.triu(adj, 1))
    g.add_edges_from(zip(i.tolist(), j.tolist(), strict=True))
    return g
