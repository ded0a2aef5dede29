"""The synthetic cortex: deterministic, distance-dependent and like-to-like wiring."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import pdist, squareform
from scipy.stats import mannwhitneyu

from cortexrnn.services.connectome import content_sha256, synthesize_cortex


@pytest.fixture(scope="module")
def cortex():
    return synthesize_cortex(600, seed=3)


def test_deterministic_by_seed(cortex) -> None:
    again = synthesize_cortex(600, seed=3)
    assert content_sha256(again) == content_sha256(cortex)
    np.testing.assert_array_equal(again.spikes.times, cortex.spikes.times)
    other = synthesize_cortex(600, seed=4)
    assert content_sha256(other) != content_sha256(cortex)


def test_volume_layers_and_sparsity(cortex) -> None:
    pos_um = cortex.positions_nm / 1000
    assert pos_um.min() >= 0
    assert np.all(pos_um.max(axis=0) <= [1000, 900, 500])
    assert pos_um[:, 1].max() > 700  # deep layers present
    # Layer by depth: L6 neurons are deeper than L2/3 neurons.
    t = cortex.neurons["cell_type"]
    assert pos_um[(t == "L6-IT").to_numpy(), 1].min() > pos_um[(t == "L2/3-IT").to_numpy(), 1].max()
    density = cortex.n_connections / (600 * 599)
    assert 0.003 < density < 0.03
    assert cortex.synapse_counts.diagonal().sum() == 0
    assert cortex.n_synapses >= cortex.n_connections
    for m in cortex.functional.values():
        assert m.shape == (600, 600) and np.isfinite(m).all()


def test_connection_rate_falls_with_distance(cortex) -> None:
    d = squareform(pdist(cortex.positions_nm / 1000))
    a = cortex.synapse_counts.toarray() > 0
    off = ~np.eye(600, dtype=bool)
    near = off & (d < 150)
    far = off & (d > 400)
    assert a[near].mean() > 3 * a[far].mean()


def test_connected_pairs_more_correlated(cortex) -> None:
    a = cortex.synapse_counts.toarray() > 0
    off = ~np.eye(600, dtype=bool)
    corr = cortex.functional["correlation"]
    # Correlations are as weak as in MICrONS fields (sd ~0.04), so the like-to-like effect is
    # small in absolute terms but far beyond chance.
    assert corr[a].mean() > corr[off & ~a].mean() + 0.005
    assert mannwhitneyu(corr[a], corr[off & ~a], alternative="greater").pvalue < 1e-6
    # Controls for distance: within a distance band the effect remains.
    d = squareform(pdist(cortex.positions_nm / 1000))
    band = off & (d > 100) & (d < 300)
    assert mannwhitneyu(corr[band & a], corr[band & ~a], alternative="greater").pvalue < 1e-3


@pytest.mark.slow
def test_default_size_costs_at_most_quadratic_time() -> None:
    """The default 2,000 neurons cost at most (2000 / 500)² = 16 times what 500 do: the
    pairwise quantities are O(n²); an O(n³) step would make it 64×. A ratio of CPU times in
    one run (best of two each), so the machine's speed and the others' load cancel out; a few
    seconds at 2,000 on one core today, a ratio of about 4 (fixed costs dominate at 500)."""
    import time

    def cpu_seconds(n: int) -> float:
        best = float("inf")
        for _ in range(2):
            t0 = time.process_time()
            c = synthesize_cortex(n, seed=0)
            best = min(best, time.process_time() - t0)
            assert c.n_neurons == n
        return best

    small, default = cpu_seconds(500), cpu_seconds(2000)
    assert default / small < 16, (default, small)
