"""Null graphs, generated many at a time as [B, N, N] boolean tensors.

- `gnm_batch`: Erdős–Rényi G(n, m), the paper's density-matched random nulls: exactly the
  observed number of edges, uniformly placed (as `nx.gnm_random_graph`).
- `gnp_batch`: G(n, p) with p the observed density (as `nx.erdos_renyi_graph`), matched in
  expectation only.
- `rewire_batch`: degree-preserving double-edge swaps (as `nx.double_edge_swap` or bctpy's
  `randmio_und`), run on all nulls in parallel.
"""

from __future__ import annotations

import numpy as np
import torch


def gnm_batch(n: int, m: int, count: int, rng: np.random.Generator) -> torch.Tensor:
    """`count` uniform random graphs with n nodes and exactly m edges.

    Each pair is first switched on independently with probability q slightly below m / P
    (random bytes: fast); an iid field conditioned on its count is a uniform subset of that
    size. Then each graph is topped up (or trimmed) to exactly m by drawing slots with
    replacement, exactly the shortfall per round, so that it never overshoots; the slots so
    added (removed) are a uniform subset of the free (used) ones. Both steps keep uniformity
    over all m-edge graphs.
    """
    p = n * (n - 1) // 2
    if m > p:
        raise ValueError(f"cannot place {m} edges among {p} node pairs")
    level = int(np.clip(np.floor(256.0 * m / p) - 1, 0, 255)) if p else 0
    mark_np = rng.integers(0, 256, size=(count, p), dtype=np.uint8) < level
    mark = torch.from_numpy(mark_np)
    have = torch.from_numpy(np.count_nonzero(mark_np, axis=1).astype(np.int64))
    while True:
        need = m - have
        todo = (need != 0).nonzero().squeeze(1)
        if todo.numel() == 0:
            break
        nd = need[todo]
        k = int(nd.abs().max())
        draws = torch.from_numpy(rng.integers(0, p, size=(todo.numel(), k)))
        valid = torch.arange(k)[None, :] < nd.abs()[:, None]
        draws = torch.where(valid, draws, torch.full_like(draws, -1))
        draws, _ = draws.sort(dim=1)
        first = torch.ones_like(valid)
        first[:, 1:] = draws[:, 1:] != draws[:, :-1]
        use = (draws >= 0) & first
        rr = todo[:, None].expand(-1, k)
        before = mark[rr.clamp(min=0), draws.clamp(min=0)]
        adding = (nd > 0)[:, None]
        changes = use & torch.where(adding, ~before, before)
        mark[rr[changes], draws[changes]] = adding.expand(-1, k)[changes]
        have[todo] += torch.where(nd > 0, 1, -1) * changes.sum(1)
    return _symmetric_from_upper(mark_np, n)  # `mark` shares mark_np's memory


def _symmetric_from_upper(mark: np.ndarray, n: int) -> torch.Tensor:
    """[B, n, n] symmetric adjacency from the [B, P] upper-triangle slots (numpy's fancy
    assignment and strided OR are ~2x faster than torch's here)."""
    iu0, iu1 = np.triu_indices(n, 1)
    adj = np.zeros((mark.shape[0], n, n), dtype=bool)
    adj[:, iu0, iu1] = mark
    return torch.from_numpy(adj | adj.transpose(0, 2, 1))


def gnp_batch(n: int, p: float, count: int, rng: np.random.Generator) -> torch.Tensor:
    """`count` G(n, p) graphs."""
    return _symmetric_from_upper(rng.random((count, n * (n - 1) // 2)) < p, n)


def rewire_batch(
    adj: np.ndarray, count: int, rng: np.random.Generator, swaps_per_edge: float = 10.0
) -> torch.Tensor:
    """`count` degree-preserving randomisations of the undirected graph `adj`.

    Each round pairs up every null's edges at random (a shared permutation with a per-null
    offset) and proposes one double-edge swap per pair: (a, b), (c, d) -> (a, d), (c, b) or
    (a, c), (b, d). A swap is rejected when its four nodes are not distinct, when a new edge
    already exists, or when another swap of the same round creates the same edge (the lowest
    proposal keeps it). `swaps_per_edge` attempts per edge in all, as bctpy's `ITER`.
    """
    gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
    a0 = torch.as_tensor(np.asarray(adj, dtype=bool))
    n = a0.shape[0]
    iu = torch.triu_indices(n, n, offset=1)
    on = a0[iu[0], iu[1]]
    m = int(on.sum())
    out = a0.unsqueeze(0).repeat(count, 1, 1)
    if m < 2 or n < 4 or count == 0:
        return out
    # Edge list as two [B, m] endpoint arrays; the adjacency gets one spare column that absorbs
    # the writes of rejected proposals, so no boolean indexing (nonzero) is needed per round.
    e0 = iu[0][on].unsqueeze(0).repeat(count, 1)
    e1 = iu[1][on].unsqueeze(0).repeat(count, 1)
    nn = n * n
    flat = torch.zeros(count, nn + 1, dtype=torch.bool)
    flat[:, :nn] = out.view(count, nn)
    half = m // 2
    rounds = max(1, int(np.ceil(swaps_per_edge * m / max(half, 1))))
    big = torch.iinfo(torch.int32).max
    claim = torch.full((count, nn + 1), big, dtype=torch.int32)
    pid = torch.arange(half, dtype=torch.int32).expand(count, half)
    spare = torch.full((count, half), nn, dtype=torch.int64)
    ar = torch.arange(m)[None, :]
    for _ in range(rounds):
        perm = torch.randperm(m, generator=gen)
        shift = torch.randint(0, m, (count, 1), generator=gen)
        pos = perm[(ar + shift) % m]
        p1, p2 = pos[:, 0 : 2 * half : 2], pos[:, 1 : 2 * half : 2]
        a, b = e0.gather(1, p1), e1.gather(1, p1)
        c0, d0 = e0.gather(1, p2), e1.gather(1, p2)
        flip = torch.rand(count, half, generator=gen) < 0.5
        c = torch.where(flip, d0, c0)
        d = torch.where(flip, c0, d0)
        # Proposal: (a, b), (c, d) -> (a, d), (c, b).
        ok = (a != c) & (a != d) & (b != c) & (b != d)
        k1, k2 = a * n + d, c * n + b
        ok &= ~flat.gather(1, k1) & ~flat.gather(1, k2)
        # Conflicts inside the round: key each new edge by its lower orientation; the
        # lowest proposal id keeps it.
        lo1 = torch.minimum(k1, d * n + a)
        lo2 = torch.minimum(k2, b * n + c)
        ids = torch.where(ok, pid, big)
        claim.scatter_reduce_(1, lo1, ids, reduce="amin")
        claim.scatter_reduce_(1, lo2, ids, reduce="amin")
        ok &= (claim.gather(1, lo1) == pid) & (claim.gather(1, lo2) == pid)
        claim.scatter_(1, lo1, big)
        claim.scatter_(1, lo2, big)
        for key in (a * n + b, b * n + a, c * n + d, d * n + c):
            flat.scatter_(1, torch.where(ok, key, spare), False)
        for key in (k1, d * n + a, k2, b * n + c):
            flat.scatter_(1, torch.where(ok, key, spare), True)
        e1.scatter_(1, p1, torch.where(ok, d, b))
        e0.scatter_(1, p2, torch.where(ok, c, c0))
        e1.scatter_(1, p2, torch.where(ok, b, d0))
    return flat[:, :nn].reshape(count, n, n).contiguous()
