"""Entropy, spectral radius, wiring cost and correlations against scipy, on the named matrices."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import scipy.stats
from topo_cases import trained_looking_weights

from cortexrnn.services.topology import compute_metrics


def _matrix(name: str) -> np.ndarray:
    rng = np.random.default_rng(11)
    if name == "trained_looking":
        return trained_looking_weights()[0]
    if name == "gaussian":
        return rng.normal(size=(60, 60))
    if name == "bimodal":
        return np.where(
            rng.random((50, 50)) < 0.5,
            rng.normal(-2, 0.3, (50, 50)),
            rng.normal(1, 0.5, (50, 50)),
        )
    raise KeyError(name)


@pytest.mark.parametrize("name", ["trained_looking", "gaussian", "bimodal"])
def test_kde_entropy_matches_scipy_gaussian_kde(name: str) -> None:
    w = _matrix(name)
    x = np.linspace(w.min(), w.max(), 100)
    p = scipy.stats.gaussian_kde(w.ravel())(x)
    ref = scipy.stats.entropy(p / p.sum(), base=2)
    got = compute_metrics(w, n_nulls=0).entropy_kde
    assert got == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("name", ["trained_looking", "gaussian", "bimodal"])
def test_histogram_entropy_matches_scipy_entropy(name: str) -> None:
    w = _matrix(name)
    counts, _ = np.histogram(w.ravel(), bins=100)
    got = compute_metrics(w, n_nulls=0).entropy_hist
    assert got == pytest.approx(scipy.stats.entropy(counts, base=2), rel=1e-12)


def test_entropy_is_lower_for_a_concentrated_matrix_than_for_a_spread_one() -> None:
    rng = np.random.default_rng(0)
    spread = rng.uniform(-1, 1, (40, 40))
    sparse = np.where(rng.random((40, 40)) < 0.05, rng.normal(size=(40, 40)), 0.0)
    assert (
        compute_metrics(sparse, n_nulls=0).entropy_kde
        < compute_metrics(spread, n_nulls=0).entropy_kde
    )


@pytest.mark.parametrize("name", ["trained_looking", "gaussian", "bimodal"])
def test_spectral_radius_matches_scipy_eigvals(name: str) -> None:
    w = _matrix(name)
    ref = np.abs(scipy.linalg.eigvals(w)).max()
    assert compute_metrics(w, n_nulls=0).spectral_radius == pytest.approx(ref, rel=1e-10)


def test_wiring_cost_and_weight_distance_correlation_match_scipy_on_trained_looking() -> None:
    w, d = trained_looking_weights()
    m = compute_metrics(w, d, n_nulls=0)
    assert m.wiring_cost == pytest.approx(float(np.sum(np.abs(w) * d)), rel=1e-12)
    off = ~np.eye(len(w), dtype=bool)
    assert m.weight_distance_pearson == pytest.approx(
        scipy.stats.pearsonr(np.abs(w)[off], d[off])[0], rel=1e-10
    )
    assert m.weight_distance_spearman == pytest.approx(
        scipy.stats.spearmanr(np.abs(w)[off], d[off])[0], rel=1e-10
    )
    assert m.weight_distance_spearman < 0  # the fabricated weights decay with distance
    a = np.abs(w) > np.quantile(np.abs(w), 0.9)
    a = a | a.T
    np.fill_diagonal(a, False)
    assert m.wiring_cost_graph == pytest.approx(float(d[np.triu(a, 1)].sum()), rel=1e-12)


def test_reference_correlations_transpose_pre_post_references_on_trained_looking() -> None:
    """Reference matrices come (pre, post); W is (post, pre): W should correlate with ref.T."""
    w, _ = trained_looking_weights()
    rng = np.random.default_rng(3)
    anatomical_pre_post = (w.T + rng.normal(scale=0.05, size=w.shape)).clip(min=0)
    functional = np.corrcoef(rng.normal(size=(w.shape[0], 40)))
    m = compute_metrics(w, functional=functional, anatomical=anatomical_pre_post, n_nulls=0)
    off = ~np.eye(len(w), dtype=bool)
    assert m.anatomical_pearson == pytest.approx(
        scipy.stats.pearsonr(w[off], anatomical_pre_post.T[off])[0], rel=1e-10
    )
    assert m.anatomical_spearman == pytest.approx(
        scipy.stats.spearmanr(w[off], anatomical_pre_post.T[off])[0], rel=1e-10
    )
    assert m.functional_pearson == pytest.approx(
        scipy.stats.pearsonr(w[off], functional.T[off])[0], rel=1e-10
    )
    same = compute_metrics(
        w, anatomical=anatomical_pre_post.T, n_nulls=0, references_transposed=False
    )
    assert same.anatomical_pearson == pytest.approx(m.anatomical_pearson, rel=1e-12)


def test_mismatched_reference_shape_is_rejected_with_its_name() -> None:
    with pytest.raises(ValueError, match="distance"):
        compute_metrics(np.eye(5), distance=np.eye(4), n_nulls=0)
