"""Functional matrices from spikes against direct, per-pair reference computations."""

from __future__ import annotations

import numpy as np
import pytest

from cortexrnn.services.connectome.functional import (
    binned_counts,
    correlation,
    precision,
    spike_trains_from_list,
    sttc,
    tiling_fraction,
)


def _ref_tiling(t: np.ndarray, dt: float, duration: float) -> float:
    """Fraction of [0, duration] within dt of a spike, by fine sampling of the time axis."""
    grid = np.linspace(0, duration, 400_001)
    covered = np.zeros(grid.size, dtype=bool)
    for s in t:
        covered |= np.abs(grid - s) <= dt
    return covered.mean()


def _ref_sttc(a: np.ndarray, b: np.ndarray, dt: float, duration: float) -> float:
    """Cutts & Eglen (2014), written out pair by pair, spike by spike."""

    def prop(x: np.ndarray, y: np.ndarray) -> float:
        return sum(any(abs(xi - yj) <= dt for yj in y) for xi in x) / len(x)

    ta, tb = _ref_tiling(a, dt, duration), _ref_tiling(b, dt, duration)
    pa, pb = prop(a, b), prop(b, a)
    return 0.5 * ((pa - tb) / (1 - pa * tb) + (pb - ta) / (1 - pb * ta))


def _random_trains(
    rng: np.random.Generator, n: int, duration: float, grid: float | None
) -> list[np.ndarray]:
    trains = []
    for _ in range(n):
        k = rng.integers(3, 25)
        t = rng.uniform(0, duration, size=k)
        if grid:
            t = np.unique(np.round(t / grid)) * grid
        trains.append(np.sort(t))
    # Correlate two trains so that some STTC values are far from zero.
    trains[1] = np.unique(np.concatenate([trains[0][:5] + (grid or 0.01), trains[1][:3]]))
    return trains


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sttc_continuous_times_matches_per_pair_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    duration, dt = 20.0, 0.35
    trains = _random_trains(rng, 6, duration, grid=None)
    spikes = spike_trains_from_list(trains, duration)
    got = sttc(spikes, dt, method="sorted")
    for i in range(6):
        for j in range(6):
            want = 1.0 if i == j else _ref_sttc(trains[i], trains[j], dt, duration)
            assert got[i, j] == pytest.approx(want, abs=2e-4), (i, j)
    assert np.abs(got - got.T).max() == 0


def test_sttc_grid_path_matches_reference_and_sorted_path() -> None:
    rng = np.random.default_rng(7)
    duration, frame, dt = 30.0, 0.1587, 0.4  # dt not a multiple of the frame: no boundary ties
    trains = _random_trains(rng, 7, duration, grid=frame)
    spikes = spike_trains_from_list(trains, duration)
    grid = sttc(spikes, dt, method="grid", frame_s=frame)
    for i in range(7):
        for j in range(i + 1, 7):
            assert grid[i, j] == pytest.approx(
                _ref_sttc(trains[i], trains[j], dt, duration), abs=2e-4
            )
    np.testing.assert_allclose(grid, sttc(spikes, dt, method="sorted"), atol=1e-12)


def test_tiling_fraction_clips_to_recording() -> None:
    spikes = spike_trains_from_list([np.array([0.0, 0.1, 5.0, 9.95])], 10.0)
    # [0,0.5]∪[0,0.6] -> 0.6 ; [4.5,5.5] -> 1.0 ; [9.45,10] -> 0.55 ; total 2.15 of 10
    assert tiling_fraction(spikes, 0.5)[0] == pytest.approx(0.215)


def test_sttc_silent_neuron_is_zero_and_identical_trains_one() -> None:
    t = np.array([1.0, 3.0, 7.0])
    spikes = spike_trains_from_list([t, t.copy(), np.array([])], 10.0)
    s = sttc(spikes, 0.2)
    assert s[0, 1] == pytest.approx(1.0)
    assert s[0, 2] == 0 and s[2, 1] == 0 and s[2, 2] == 1


def test_correlation_matches_numpy_corrcoef() -> None:
    rng = np.random.default_rng(0)
    trains = [np.sort(rng.uniform(0, 100, rng.integers(50, 200))) for _ in range(8)]
    spikes = spike_trains_from_list(trains, 100.0)
    counts = binned_counts(spikes, 0.5)
    assert counts.shape == (8, 200)
    np.testing.assert_array_equal(counts.sum(axis=1), [len(t) for t in trains])
    # Independent binning by np.histogram.
    hist = np.stack([np.histogram(t, bins=np.arange(0, 100.5, 0.5))[0] for t in trains])
    np.testing.assert_array_equal(counts, hist)
    np.testing.assert_allclose(correlation(counts), np.corrcoef(hist), atol=1e-12)


def test_precision_plain_inverse_when_well_conditioned() -> None:
    rng = np.random.default_rng(1)
    counts = rng.poisson(3.0, size=(5, 400)).astype(float)
    p, info = precision(counts)
    assert info["method"] == "inverse"
    np.testing.assert_allclose(p, np.linalg.inv(np.cov(counts)), rtol=1e-10)


def test_precision_ledoit_wolf_when_singular() -> None:
    rng = np.random.default_rng(2)
    counts = rng.poisson(3.0, size=(20, 10)).astype(float)  # fewer samples than neurons
    p, info = precision(counts)
    assert info["method"] == "ledoit_wolf" and 0 < info["shrinkage"] <= 1
    # Reference: Ledoit & Wolf (2004) Lemma 3.2 estimators, written with explicit sample loops.
    x = counts - counts.mean(axis=1, keepdims=True)
    nf, ns = x.shape
    s = x @ x.T / ns
    m = np.trace(s) / nf
    d2 = np.linalg.norm(s - m * np.eye(nf), "fro") ** 2 / nf
    b2 = (
        sum(np.linalg.norm(np.outer(x[:, k], x[:, k]) - s, "fro") ** 2 for k in range(ns))
        / ns**2
        / nf
    )
    shrink = min(b2, d2) / d2
    ref = np.linalg.inv(shrink * m * np.eye(nf) + (1 - shrink) * s)
    assert info["shrinkage"] == pytest.approx(shrink)
    np.testing.assert_allclose(p, ref, rtol=1e-8)


def test_precision_inverse_refused_when_singular() -> None:
    from cortexrnn.services.connectome.errors import DatasetError

    counts = np.ones((3, 50))
    counts[0] = np.arange(50)
    with pytest.raises(DatasetError, match="singular"):
        precision(counts, method="inverse")
