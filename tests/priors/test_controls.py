"""The controls of issue 20, checked against numpy's eigenvalues and singular values, hand
cases, and the priors they stand beside."""

from __future__ import annotations

import numpy as np
import pytest

from cortexrnn.services.priors import functional as fn
from cortexrnn.services.priors.builder import build_network_prior, build_network_priors
from cortexrnn.services.priors.conditions import Condition, Fidelity
from cortexrnn.services.priors.controls import spectrum_matched, three_block_distances
from cortexrnn.services.priors.presets import expand_preset


def test_a_diagonal_keeping_rotation_by_hand() -> None:
    # [[1, .5], [.5, 0]]: phi = atan2(.5, .5) = pi/4; the rotation keeps 1 and 0 on the
    # diagonal and turns the off-diagonal entries to -0.5 (computed on paper).
    out = spectrum_matched(np.array([[1.0, 0.5], [0.5, 0.0]]), seed=0, sweeps=1)
    np.testing.assert_allclose(out, [[1.0, -0.5], [-0.5, 0.0]], atol=1e-15)


def _check_matched(w: np.ndarray, m: np.ndarray) -> None:
    np.testing.assert_array_equal(np.diag(m), np.diag(w))
    np.testing.assert_allclose(
        np.linalg.svd(m, compute_uv=False), np.linalg.svd(w, compute_uv=False), atol=1e-12
    )
    ew, em = np.linalg.eigvals(w), np.linalg.eigvals(m)
    # every eigenvalue of W has a partner in M (a matching that does not rely on sort order)
    assert max(np.min(np.abs(em - e)) for e in ew) < 1e-9
    assert max(np.min(np.abs(ew - e)) for e in em) < 1e-9


@pytest.mark.parametrize("keep_diagonal", [True, False], ids=["diagonal-kept", "no-diagonal"])
def test_spectrum_matched_keeps_spectrum_and_diagonal_and_scrambles_wiring(
    field_662, keep_diagonal: bool
) -> None:
    idx = np.arange(field_662.n_neurons)
    base = fn.functional_base(field_662.functional, idx, "correlation+sttc", keep_diagonal)
    w = fn.bio_matrix(base, seed=1)
    m = spectrum_matched(w, seed=1)
    _check_matched(w, m)
    off = ~np.eye(w.shape[0], dtype=bool)
    assert abs(np.corrcoef(w[off], m[off])[0, 1]) < 0.05  # the wiring is gone
    np.testing.assert_array_equal(m, spectrum_matched(w, seed=1))  # reproducible per seed
    assert not np.allclose(m, spectrum_matched(w, seed=2))


def _blocks(d: np.ndarray) -> list[frozenset[int]]:
    """The groups of units at the smaller (within-block) distance from each other."""
    near = d <= d[~np.eye(d.shape[0], dtype=bool)].min()
    return sorted({frozenset(np.flatnonzero(row).tolist()) for row in near}, key=sorted)


def test_three_blocks_have_the_reshape_modules_sizes_and_distances_but_random_members() -> None:
    n = 7  # modules i mod 3: {0, 3, 6}, {1, 4}, {2, 5}
    modules = np.arange(n) % 3
    d = np.where(modules[:, None] == modules[None, :], 0.2, 1.5)
    d[0, 3] = d[3, 0] = 0.5  # five within-module pairs: (0, 3) at 0.5, four at 0.2
    np.fill_diagonal(d, 0.0)
    within = (0.5 + 0.2 * 4) / 5  # 0.26
    off = ~np.eye(n, dtype=bool)
    outs = [three_block_distances(d, seed=s) for s in range(5)]
    for out in outs:
        np.testing.assert_allclose(sorted(set(np.round(out[off], 12))), [within, 1.5])
        np.testing.assert_allclose(out[off].mean(), d[off].mean())  # same overall mean
        assert sorted(len(b) for b in _blocks(out)) == [2, 2, 3]
    reshape_modules = [frozenset({0, 3, 6}), frozenset({1, 4}), frozenset({2, 5})]
    assert any(_blocks(out) != sorted(reshape_modules, key=sorted) for out in outs)


def test_controls_equal_the_fidelity_switches_they_stand_for(synthetic_small) -> None:
    idx = np.arange(60)
    reshape_fid = Fidelity(reshape_positions=True)
    as_condition = build_network_prior(
        synthetic_small, idx, Condition(space="real-reshape", communicability="direct"), seed=3
    )
    as_switch = build_network_prior(
        synthetic_small, idx, Condition(space="real", communicability="direct"), reshape_fid, 3
    )
    np.testing.assert_array_equal(as_condition.distance, as_switch.distance)
    no_diag = build_network_prior(
        synthetic_small, idx, Condition(init="functional-no-diagonal"), seed=3
    )
    switched = build_network_prior(
        synthetic_small,
        idx,
        Condition(init="functional"),
        Fidelity(keep_functional_diagonal=False),
        seed=3,
    )
    np.testing.assert_array_equal(no_diag.w_init, switched.w_init)
    assert np.all(np.diag(no_diag.w_init) == 0)


@pytest.mark.parametrize("preset", ["controls-geometry", "controls-functional", "paper-2026-dale"])
def test_every_control_preset_builds(synthetic_small, preset: str) -> None:
    conditions = expand_preset(preset)
    priors = build_network_priors(
        synthetic_small, np.arange(45), [(c, 0) for c in conditions.values()]
    )
    assert len(priors) == len(conditions)
    for name, prior in zip(conditions, priors, strict=True):
        assert np.all(np.isfinite(prior.w_init)), name
        if prior.distance is not None:
            off = ~np.eye(45, dtype=bool)
            assert prior.distance[off].mean() == pytest.approx(1.0), name  # corrected scale
    if preset == "paper-2026-dale":
        for prior in priors:
            signs = np.sign(prior.w_init)
            # each unit's outgoing weights (a column, post x pre) share one sign
            assert all(len(set(signs[:, j][signs[:, j] != 0])) <= 1 for j in range(45))
