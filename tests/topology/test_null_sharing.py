"""The released code's nulls are drawn once per (n, count, seed) in a process
(services/topology/released_nulls.py): they do not depend on the graph compared with them, so
a network measured after another of the same seed and size gets exactly the values a fresh
draw gives it, and another seed or size draws its own."""

from __future__ import annotations

import numpy as np

from cortexrnn.services.topology import compute_metrics, released_nulls

SHARED = released_nulls.released_null_means_of_seed


def _w(seed: int, n: int = 40) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, n))


def _measure(w: np.ndarray, seed: int) -> dict[str, float | None]:
    return compute_metrics(w, n_nulls=10, released_nulls=20, seed=seed).values()


def test_a_network_after_another_of_its_seed_gets_what_a_fresh_draw_gives() -> None:
    SHARED.cache_clear()
    fresh = _measure(_w(2), seed=5)
    SHARED.cache_clear()
    other = _measure(_w(1), seed=5)  # another network, same size and seed: draws them
    after = _measure(_w(2), seed=5)  # reuses them
    assert SHARED.cache_info().misses == 1 and SHARED.cache_info().hits == 1
    assert after == fresh
    assert other["null_released_avg_clustering"] == after["null_released_avg_clustering"]
    assert other["small_world_sigma_released"] != after["small_world_sigma_released"]


def test_the_shared_means_are_the_released_draw_on_the_seeds_own_stream() -> None:
    SHARED.cache_clear()
    direct = released_nulls.released_null_means(40, 20, np.random.default_rng([5, 7]))
    assert SHARED(40, 20, 5) == direct
    means = _measure(_w(1), seed=5)
    assert means["null_released_avg_clustering"] == direct.avg_clustering
    assert means["null_released_global_efficiency"] == direct.global_efficiency


def test_another_seed_size_or_count_draws_its_own() -> None:
    SHARED.cache_clear()
    a = SHARED(40, 20, 5)
    assert SHARED(40, 20, 6) != a
    assert SHARED(41, 20, 5) != a
    assert SHARED(40, 21, 5) != a
    assert SHARED.cache_info().misses == 4
