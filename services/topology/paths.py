"""Clustering, global efficiency and characteristic path length of a batch of undirected
binary graphs at once, as batched matrix products (torch).

Definitions follow networkx exactly:
- average clustering: mean over nodes of 2 T_i / (k_i (k_i - 1)), 0 for k_i < 2
  (`nx.average_clustering`, the C of `nx.omega`; `nx.sigma` uses transitivity);
- transitivity: 3 × triangles / connected triples (`nx.transitivity`);
- global efficiency: mean over ordered pairs i != j of 1 / d_ij, 1/inf = 0
  (`nx.global_efficiency`);
- characteristic path length: mean over ordered pairs of d_ij, NaN when the graph is
  disconnected (`nx.average_shortest_path_length` raises there).

Breadth-first search runs on all nodes and all graphs together: the frontier at distance d is
`(F_{d-1} @ A > 0) & ~reached`. Sums of 0/1 products are never cancelled, so reachability is
exact in bfloat16; the common-neighbour counts in A @ A are exact in bfloat16 while every
count is <= 256 (max degree <= 256) and are computed in float32 otherwise. Once few pairs are
left unreached, only those pairs are tested (a gather), not a full product.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

BF16_MAX_DEGREE = 255.0
# Most (pair, k) tests done by gathering instead of a product (bounds the temporary to ~20 MB).
GATHER_LIMIT = 20_000_000


@dataclass(frozen=True)
class BatchStats:
    """Per-graph statistics, one entry per graph of the batch (float64 numpy arrays)."""

    avg_clustering: np.ndarray
    transitivity: np.ndarray
    efficiency: np.ndarray
    char_path_length: np.ndarray  # NaN where disconnected
    muldoon_path_length: np.ndarray  # Muldoon's L: mean over all n² entries, inf -> 0
    connected: np.ndarray  # bool


def batch_stats(adj: torch.Tensor | np.ndarray) -> BatchStats:
    """Statistics of a [B, N, N] (or [N, N]) symmetric boolean adjacency without self-loops."""
    a = torch.as_tensor(adj)
    if a.dim() == 2:
        a = a.unsqueeze(0)
    a = a.bool()
    bsz, n, _ = a.shape
    if n == 0 or bsz == 0:
        nan = np.full(bsz, np.nan)
        return BatchStats(nan, nan, nan, nan, nan, np.zeros(bsz, dtype=bool))
    # S = A + A² in one product: its diagonal is the degree, S_ij - 1 on an edge counts the
    # common neighbours, and S_ij > 0 off the diagonal iff d_ij <= 2. Exact in bfloat16 while
    # every entry is <= 256, i.e. max degree <= 255. Conversions and masks go through the raw
    # bfloat16 bits in numpy (1.0 is 0x3F80; a bfloat16 is the top half of a float32), which is
    # 5-10x faster than torch's bfloat16 casts on CPU.
    a_np = np.ascontiguousarray(a.numpy())
    af = torch.from_numpy(np.multiply(a_np, np.uint16(0x3F80), dtype=np.uint16)).view(
        torch.bfloat16
    )
    s = torch.baddbmm(af, af, af)
    exact_bf16 = float(s.diagonal(dim1=1, dim2=2).max()) <= BF16_MAX_DEGREE
    if exact_bf16:
        bits = s.view(torch.int16).numpy().view(np.uint16)
        wide = np.zeros((*bits.shape, 2), dtype=np.uint16)
        np.multiply(bits, a_np, out=wide[..., 1])  # S ⊙ A, widened to float32
        sa_rowsum = wide.view(np.float32)[..., 0].sum(-1)
        positive = bits != 0  # S holds sums of non-negative products: never -0
        deg = s.diagonal(dim1=1, dim2=2).double()
    else:
        # Some degree may exceed 255 (bfloat16 rounds 257 to 256, so >= 256 is the test).
        af = a.to(torch.float32)
        s32 = torch.baddbmm(af, af, af).numpy()
        sa_rowsum = (s32 * a_np).sum(-1, dtype=np.float32)
        positive = s32 != 0
        deg = torch.from_numpy(np.diagonal(s32, axis1=1, axis2=2).astype(np.float64))

    # Clustering from diag(A³) = rowsum(A² ⊙ A) = rowsum(S ⊙ A) - k; the row sums are taken in
    # float32, exact below 2^24.
    tri2 = torch.from_numpy(sa_rowsum).double() - deg  # 2 × triangles at each node
    pairs = deg * (deg - 1.0)
    local = torch.where(pairs > 0, tri2 / pairs.clamp(min=1.0), torch.zeros_like(tri2))
    avg_clustering = local.mean(-1)
    triads = pairs.sum(-1)
    transitivity = torch.where(
        triads > 0, tri2.sum(-1) / triads.clamp(min=1.0), torch.zeros_like(triads)
    )

    # Breadth-first search by levels; inv_sum = Σ 1/d, len_sum = Σ d over ordered reached pairs,
    # the diagonal counting as reached. numpy's count_nonzero is several times faster than torch's.
    diag = np.arange(n)
    positive[:, diag, diag] = True
    n_reached = np.count_nonzero(positive.reshape(bsz, -1), axis=1).astype(np.float64)
    n_edges2 = deg.numpy().sum(-1)  # ordered pairs at distance 1
    n_dist2 = n_reached - n - n_edges2
    inv_sum = n_edges2 + n_dist2 / 2.0
    len_sum = n_edges2 + n_dist2 * 2.0
    keep = np.flatnonzero((n_reached < n * n) & (n_dist2 > 0))
    if keep.size:
        a_np = a.numpy()
        sub_pos = positive[keep]
        sub = (inv_sum[keep], len_sum[keep], n_reached[keep])
        if float((n * n - n_reached[keep]).sum()) * n <= GATHER_LIMIT:
            # Dense graphs: the few pairs beyond distance 2 are at distance 3 iff some node
            # within distance 2 of i is adjacent to j (A is symmetric: column j = row j).
            flat = np.flatnonzero(~sub_pos.ravel())  # far faster than np.nonzero on 3-D
            b, rem = np.divmod(flat, n * n)
            i, j = np.divmod(rem, n)
            a_sub_np = a_np[keep]
            hit = (sub_pos[b, i, :] & a_sub_np[b, j, :]).any(-1)
            n3 = np.bincount(b[hit], minlength=keep.size).astype(np.float64)
            sub[0][:] += n3 / 3.0
            sub[1][:] += n3 * 3.0
            sub[2][:] += n3
            more = np.flatnonzero((n3 > 0) & (sub[2] < n * n))
            if more.size:
                new = np.zeros((more.size, n, n), dtype=bool)
                sel = np.isin(b, more) & hit
                new[np.searchsorted(more, b[sel]), i[sel], j[sel]] = True
                reached = torch.from_numpy(sub_pos[more] | new)
                res = _bfs(
                    reached,
                    torch.from_numpy(new),
                    a[keep[more]],
                    3,
                    *(x[more] for x in sub),
                )
                for x, r in zip(sub, res, strict=True):
                    x[more] = r
        else:
            reached = torch.from_numpy(sub_pos)
            eye = torch.eye(n, dtype=torch.bool)
            a_sub = a[keep]
            frontier = reached & ~a_sub & ~eye
            sub = _bfs(reached, frontier, a_sub, 2, *sub)
        inv_sum[keep], len_sum[keep], n_reached[keep] = sub
    inv_sum, len_sum, n_reached = (torch.from_numpy(x) for x in (inv_sum, len_sum, n_reached))

    ordered = float(n * (n - 1))
    connected = n_reached == n * n
    if n > 1:
        efficiency = inv_sum / ordered
        char_path = torch.where(
            connected, len_sum / ordered, torch.full_like(len_sum, float("nan"))
        )
    else:
        efficiency = torch.zeros(bsz, dtype=torch.float64)
        char_path = torch.full((bsz,), float("nan"), dtype=torch.float64)
    muldoon = len_sum / float(n * n)
    return BatchStats(
        avg_clustering=avg_clustering.numpy(),
        transitivity=transitivity.numpy(),
        efficiency=efficiency.numpy(),
        char_path_length=char_path.numpy(),
        muldoon_path_length=muldoon.numpy(),
        connected=connected.numpy(),
    )


def _bfs(
    reached: torch.Tensor,
    frontier: torch.Tensor,
    a: torch.Tensor,
    d: int,
    inv_sum: np.ndarray,
    len_sum: np.ndarray,
    n_reached: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continue the level-by-level search from distance d (frontier = pairs at distance d)."""
    n = a.shape[-1]
    inv_sum, len_sum, n_reached = inv_sum.copy(), len_sum.copy(), n_reached.copy()
    active = torch.ones(a.shape[0], dtype=torch.bool)
    while bool(active.any()):
        d += 1
        idx = active.nonzero().squeeze(1)
        r_act, f_act, a_act = reached[idx], frontier[idx], a[idx]
        unreached = ~r_act
        n_unreached = int(np.count_nonzero(unreached.numpy()))
        if n_unreached * 8 < idx.numel() * n * n and n_unreached * n <= GATHER_LIMIT:
            # Few pairs left: test each unreached (i, j) for a frontier node adjacent to j.
            b, i, j = unreached.nonzero(as_tuple=True)
            hit = (f_act[b, i, :] & a_act[b, j, :]).any(-1)
            new = torch.zeros_like(r_act)
            new[b[hit], i[hit], j[hit]] = True
        else:
            new = (torch.bmm(f_act.to(torch.bfloat16), a_act.to(torch.bfloat16)) > 0) & unreached
        n_new = np.count_nonzero(new.numpy().reshape(idx.numel(), -1), axis=1).astype(np.float64)
        ix = idx.numpy()
        inv_sum[ix] += n_new / d
        len_sum[ix] += n_new * d
        n_reached[ix] += n_new
        reached[idx] = r_act | new
        frontier[idx] = new
        active = torch.zeros_like(active)
        active[idx] = torch.from_numpy((n_new > 0) & (n_reached[ix] < n * n))
    return inv_sum, len_sum, n_reached


def directed_stats(adj: np.ndarray) -> dict[str, float]:
    """Reciprocity, Fagiolo clustering (`nx.average_clustering` on a DiGraph) and directed
    global efficiency (mean over ordered pairs of 1 / d(i -> j)) of one directed graph."""
    a = np.asarray(adj, dtype=bool)
    n = a.shape[0]
    af = a.astype(np.float64)
    n_edges = float(a.sum())
    recip = float((a & a.T).sum()) / n_edges if n_edges else float("nan")
    s = af + af.T
    cyc = np.einsum("ij,jk,ki->i", s, s, s) / 2.0  # directed triangles through each node
    k_tot = af.sum(0) + af.sum(1)
    k_bi = (a & a.T).sum(1).astype(np.float64)
    denom = k_tot * (k_tot - 1.0) - 2.0 * k_bi
    local = np.where(denom > 0, cyc / np.where(denom > 0, denom, 1.0), 0.0)
    clustering = float(local.mean()) if n else float("nan")
    # Directed BFS: reachability at distance d is (reach_{d-1} frontier) @ A.
    eff = float("nan")
    if n > 1:
        reached = a | np.eye(n, dtype=bool)
        frontier = a.copy()
        inv_sum = float(a.sum())
        d = 1
        at = torch.from_numpy(af)
        while frontier.any():
            d += 1
            new = (torch.from_numpy(frontier.astype(np.float64)) @ at).numpy() > 0
            new &= ~reached
            inv_sum += new.sum() / d
            reached |= new
            frontier = new
        eff = inv_sum / (n * (n - 1))
    return {
        "n_edges": n_edges,
        "reciprocity": recip,
        "avg_clustering": clustering,
        "efficiency": eff,
    }
