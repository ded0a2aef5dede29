"""Undefined metrics are None with a reason, never an exception."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cortexrnn.services.topology import METRIC_NAMES, TopologyMetrics, compute_metrics


def _check_record(m: TopologyMetrics) -> None:
    assert isinstance(m, TopologyMetrics)
    for name, value in m.values().items():
        if value is None:
            assert m.reasons.get(name), f"{name} is None without a reason"
        else:
            assert np.isfinite(value), name
        assert not (m.reasons.get(name) or "").startswith("failed"), (
            name,
            m.reasons.get(name),
        )


def test_nan_weights_give_none_with_reason_for_every_metric() -> None:
    w = np.ones((10, 10))
    w[2, 3] = np.nan
    m = compute_metrics(w, n_nulls=10)
    assert all(v is None for v in m.values().values())
    assert all("non-finite" in m.reasons[k] for k in METRIC_NAMES)


def test_empty_matrix_and_single_neuron() -> None:
    for w in (np.zeros((0, 0)), np.array([[1.0]])):
        _check_record(compute_metrics(w, n_nulls=5))


def test_all_zero_matrix_has_no_graph_but_defined_spectral_radius() -> None:
    m = compute_metrics(np.zeros((12, 12)), np.ones((12, 12)), n_nulls=5)
    _check_record(m)
    assert m.spectral_radius == 0.0
    assert m.n_edges == 0.0
    assert m.modularity_cnm is None and "no edges" in m.reasons["modularity_cnm"]


def test_disconnected_graph_has_efficiency_and_sigma_but_no_path_length() -> None:
    w = np.zeros((40, 40))
    rng = np.random.default_rng(0)
    for block in (slice(0, 20), slice(20, 40)):
        w[block, block] = rng.random((20, 20))
    m = compute_metrics(w, n_nulls=20, fraction=0.2)
    _check_record(m)
    assert m.global_efficiency is not None
    assert m.char_path_length is None and "disconnected" in m.reasons["char_path_length"]
    assert m.small_world_sigma is not None
    assert m.small_world_sigma_path is None


def test_non_square_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="square"):
        compute_metrics(np.zeros((3, 4)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 50).flatmap(
        lambda n: arrays(
            np.float64,
            (n, n),
            elements=st.one_of(
                st.floats(allow_nan=True, allow_infinity=True, width=64),
                st.sampled_from([0.0, 1.0, -1.0]),
            ),
        )
    ),
    st.sampled_from(["random", "rewire", "gnp"]),
)
def test_no_metric_raises_on_arbitrary_matrices_of_size_0_to_50(
    w: np.ndarray, null_model: str
) -> None:
    n = w.shape[0]
    d = np.abs(np.subtract.outer(np.arange(n), np.arange(n))).astype(float)
    with np.errstate(all="ignore"):
        m = compute_metrics(
            w, d, functional=w.T, anatomical=np.abs(w), n_nulls=4, null_model=null_model
        )
    _check_record(m)


def test_a_bug_in_one_group_costs_only_that_group_but_running_out_of_memory_fails(
    monkeypatch,
) -> None:
    """A metric group that raises is recorded as failed with its reason and the others are
    kept; one that runs out of memory stops the measurement, so the pack fails with its memory
    reason instead of storing the run with that group silently missing."""
    from cortexrnn.services.topology import metrics

    w = np.random.default_rng(0).standard_normal((20, 20))

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(metrics, "_modularity", broken)
    m = compute_metrics(w, n_nulls=5)
    assert m.reasons["modularity_louvain"] == "failed: ZeroDivisionError: a bug"
    assert m.values()["spectral_radius"] is not None

    def out_of_memory(*args, **kwargs):
        raise MemoryError("cannot allocate 8 GB")

    monkeypatch.setattr(metrics, "_modularity", out_of_memory)
    with pytest.raises(MemoryError, match="8 GB"):
        compute_metrics(w, n_nulls=5)
