"""Modularity Q of an undirected binary graph: greedy Clauset–Newman–Moore (the paper) and
Louvain (seeded).

`cnm_communities` reproduces `networkx.community.greedy_modularity_communities(G)` exactly —
same floating-point updates of ΔQ, same tie-breaking (largest ΔQ, then the lexicographically
smallest pair (u, v), u merged into v), same stopping rule (stop at the first negative best
ΔQ) — on a dense ΔQ matrix with cached row maxima instead of networkx's heaps, which is about
10× faster at N = 312.
"""

from __future__ import annotations

import networkx as nx
import numpy as np


def modularity(adj: np.ndarray, labels: np.ndarray) -> float:
    """Newman's Q = Σ_c [L_c / m - (D_c / 2m)²] (`nx.community.modularity`, resolution 1)."""
    a = np.asarray(adj, dtype=bool)
    lab = np.asarray(labels)
    m = a.sum() / 2.0
    if m == 0:
        return float("nan")
    _, inv = np.unique(lab, return_inverse=True)
    k = inv.max() + 1
    onehot = np.zeros((a.shape[0], k))
    onehot[np.arange(a.shape[0]), inv] = 1.0
    af = a.astype(np.float64)
    within = np.einsum("ic,ij,jc->c", onehot, af, onehot) / 2.0
    degsum = onehot.T @ af.sum(1)
    return float((within / m - (degsum / (2.0 * m)) ** 2).sum())


def _labels_from_sets(sets: list[set[int]] | list[frozenset[int]], n: int) -> np.ndarray:
    labels = np.empty(n, dtype=np.int64)
    for c, members in enumerate(sets):
        labels[list(members)] = c
    return labels


def cnm_communities(adj: np.ndarray) -> list[frozenset[int]]:
    """Communities of the greedy CNM maximisation, largest first (networkx's order)."""
    a = np.asarray(adj, dtype=bool)
    n = a.shape[0]
    m = float(a.sum() / 2)
    if m == 0:
        return [frozenset([i]) for i in range(n)]
    q0 = 1.0 / m
    deg = a.sum(1).astype(np.float64)
    avec = deg * q0 * 0.5
    nbr = a.copy()
    outer = avec[:, None] * avec[None, :]
    dq = np.where(nbr, q0 - (outer + outer), 0.0)

    neg_inf = -np.inf
    rowmax = np.full(n, neg_inf)
    rowarg = np.zeros(n, dtype=np.int64)

    def recompute(rows: np.ndarray) -> None:
        if rows.size == 0:
            return
        sub = np.where(nbr[rows], dq[rows], neg_inf)
        mx = sub.max(1)
        rowmax[rows] = mx
        rowarg[rows] = (sub == mx[:, None]).argmax(1)

    recompute(np.arange(n))
    members: dict[int, set[int]] = {i: {i} for i in range(n)}
    while True:
        best = rowmax.max()
        if best == neg_inf:
            break  # no pair left to merge: communities are the connected components
        if best < 0:
            break
        u = int(np.flatnonzero(rowmax == best)[0])
        v = int(rowarg[u])
        nu, nv = nbr[u].copy(), nbr[v].copy()
        nu[v] = False
        nv[u] = False
        both = nu & nv
        only_v = nv & ~nu
        only_u = nu & ~nv
        new = np.empty(n)
        new[both] = dq[v, both] + dq[u, both]
        au, av = avec[u], avec[v]
        w_v = np.flatnonzero(only_v)
        t = au * avec[w_v]
        new[w_v] = dq[v, w_v] - (t + avec[w_v] * au)
        w_u = np.flatnonzero(only_u)
        t = av * avec[w_u]
        new[w_u] = dq[u, w_u] - (t + avec[w_u] * av)
        ws = np.flatnonzero(nu | nv)
        dq[v, ws] = new[ws]
        dq[ws, v] = new[ws]
        nbr[v, ws] = True
        nbr[ws, v] = True
        # Remove u.
        nbr[u, :] = False
        nbr[:, u] = False
        avec[v] += avec[u]
        avec[u] = 0.0
        members[v] |= members.pop(u)
        # Row maxima: rows whose best column was u or v are recomputed, others see one new value.
        rowmax[u] = neg_inf
        stale = (rowarg[ws] == u) | (rowarg[ws] == v)
        fresh = ws[~stale]
        vals = new[fresh]
        better = (vals > rowmax[fresh]) | ((vals == rowmax[fresh]) & (v < rowarg[fresh]))
        rowmax[fresh[better]] = vals[better]
        rowarg[fresh[better]] = v
        recompute(np.concatenate([ws[stale], [v]]))
    # networkx: dict order (surviving id), then a stable sort by size, largest first.
    groups = sorted(((k, frozenset(s)) for k, s in members.items()), key=lambda kv: kv[0])
    return [g for _, g in sorted(groups, key=lambda kv: len(kv[1]), reverse=True)]


def cnm_modularity(adj: np.ndarray) -> tuple[float, np.ndarray]:
    """(Q, labels) of the CNM partition; Q is NaN for a graph without edges."""
    comms = cnm_communities(adj)
    labels = _labels_from_sets(comms, np.asarray(adj).shape[0])
    return modularity(adj, labels), labels


def louvain_modularity(adj: np.ndarray, seed: int) -> tuple[float, np.ndarray]:
    """(Q, labels) of networkx's seeded Louvain (resolution 1, threshold 1e-7); labels are
    ordered largest community first."""
    a = np.asarray(adj, dtype=bool)
    n = a.shape[0]
    g = nx.Graph()
    g.add_nodes_from(range(n))
    iu, ju = np.nonzero(np.triu(a, 1))
    g.add_edges_from(zip(iu.tolist(), ju.tolist(), strict=True))
    if g.number_of_edges() == 0:
        return float("nan"), np.arange(n)
    comms = nx.community.louvain_communities(g, seed=seed)
    comms = sorted(comms, key=lambda s: (-len(s), min(s)))
    labels = _labels_from_sets(comms, n)
    return modularity(a, labels), labels
