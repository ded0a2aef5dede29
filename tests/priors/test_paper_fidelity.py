"""Paper fidelity against the released code, with hand-computed cases: the C* regulariser at
both settings, the released small-world nulls, per-axis coordinate normalisation, the
meshgrid grid order and the unshuffled batch order."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from cortexrnn.services.connectome.types import VOXEL_NM
from cortexrnn.services.model.regularizer import PackRegularizer
from cortexrnn.services.priors import Condition, Fidelity, build_network_prior
from cortexrnn.services.priors import space as sp
from cortexrnn.services.priors.network_prior import NetworkPrior
from cortexrnn.services.topology import compute_metrics
from cortexrnn.services.topology.released_nulls import (
    clustering_bu,
    released_null_batch,
    released_null_means,
)

PAPER = Fidelity.paper()
CORRECTED = Fidelity()


def test_paper_fidelity_turns_on_the_new_switches_and_corrected_leaves_them_off() -> None:
    for switch in ("released_nulls", "meshgrid_grid_order", "fixed_batch_order"):
        assert getattr(PAPER, switch) is True
        assert getattr(CORRECTED, switch) is False
    assert PAPER.label == "paper" and CORRECTED.label == "corrected"


# --- C*: lam * sum |W| * D + lam_emd * W1, with C in the first term only on request ---------


@pytest.mark.parametrize("weighting", [False, True])
def test_c_star_regulariser_on_a_two_unit_network(weighting: bool) -> None:
    # W = [[0, a], [a, 0]]: both strengths are a, so S^-1/2 |W| S^-1/2 = [[0, 1], [1, 0]] and
    # C = expm of it with the diagonal zeroed has sinh(1) off the diagonal.
    a, dist, lam, lam_emd = 0.4, 2.5, 0.3, 0.1
    target = np.array([0.5, 2.0])
    prior = NetworkPrior(
        w_init=np.array([[0.0, a], [a, 0.0]]),
        distance=np.array([[0.0, dist], [dist, 0.0]]),
        communicability="emd",
        lam=lam,
        lam_emd=lam_emd,
        emd_target=target,
        emd_weighting=weighting,
    )
    reg = PackRegularizer([prior], dtype=torch.float64)
    got = float(reg(torch.tensor(prior.w_init)[None])[0])
    c = math.sinh(1.0)
    l1 = 2 * a * dist * (c if weighting else 1.0)
    w1 = (abs(c - 0.5) + abs(c - 2.0)) / 2
    assert got == pytest.approx(lam * l1 + lam_emd * w1, rel=1e-12)


def test_c_star_follows_the_released_formula_by_default_at_both_fidelities(
    synthetic_small,
) -> None:
    c_star = Condition(space="real", communicability="emd")
    for fid in (PAPER, CORRECTED):
        assert build_network_prior(synthetic_small, None, c_star, fid, 0).emd_weighting is False
    weighted = c_star.model_copy(update={"emd_weighting": True})
    assert build_network_prior(synthetic_small, None, weighted, PAPER, 0).emd_weighting is True
    # Only C* has the switch; direct communicability always weights by C.
    direct = Condition(communicability="direct", emd_weighting=True)
    assert build_network_prior(synthetic_small, None, direct, PAPER, 0).emd_weighting is False


# --- the released code's small-world nulls ---------------------------------------------------


def test_released_nulls_have_fixed_density_and_keep_self_loops() -> None:
    nulls = released_null_batch(80, 200, np.random.default_rng(3))
    assert (nulls == nulls.transpose(0, 2, 1)).all()
    off = ~np.eye(80, dtype=bool)
    # P((U1 + U2) / 2 > 0.7) = 0.18 off the diagonal; P(U > 0.7) = 0.3 on it.
    assert nulls[:, off].mean() == pytest.approx(0.18, abs=0.003)
    assert np.diagonal(nulls, axis1=1, axis2=2).mean() == pytest.approx(0.3, abs=0.01)


def test_released_clustering_counts_self_loops_as_bct_does() -> None:
    bct = pytest.importorskip("bct")
    # Hand case: a triangle 0-1-2 plus a pendant 3 on 0, and a self-loop on 1. Node 1's
    # neighbours are {0, 1, 2} (k = 3): edges among them 0-1, 0-2, 1-2 (each counted twice) and
    # the loop once, 7 / (9 - 3). Node 0: {1, 2, 3}, edges 1-2 twice and the loop on 1, 3 / 6.
    # Node 2: {0, 1}, edge 0-1 twice and the loop, 3 / 2 (bct's coefficient can pass 1).
    a = np.zeros((4, 4), dtype=bool)
    for i, j in ((0, 1), (0, 2), (1, 2), (0, 3)):
        a[i, j] = a[j, i] = True
    a[1, 1] = True
    got = clustering_bu(a)[0]
    np.testing.assert_allclose(got, [3 / 6, 7 / 6, 3 / 2, 0.0])
    np.testing.assert_allclose(got, bct.clustering_coef_bu(a.astype(float)))
    for g in released_null_batch(30, 5, np.random.default_rng(1)):
        np.testing.assert_allclose(clustering_bu(g)[0], bct.clustering_coef_bu(g.astype(float)))


def test_sigma_against_released_nulls_matches_a_direct_bct_transcription() -> None:
    bct = pytest.importorskip("bct")
    n, count, seed = 40, 12, 5
    w = np.random.default_rng(0).normal(size=(n, n))
    m = compute_metrics(w, n_nulls=0, released_nulls=count, seed=seed, louvain=False)

    # The released notebook's loop, one null at a time (the same random stream).
    rng = np.random.default_rng([seed, 7])
    c_null, e_null = [], []
    for _ in range(count):
        u = rng.random((n, n))
        g = ((u + u.T) / 2 > 0.7).astype(float)
        c_null.append(np.mean(bct.clustering_coef_bu(g)))
        e_null.append(bct.efficiency_bin(g))
    c, e = m.avg_clustering, m.global_efficiency
    assert m.null_released_avg_clustering == pytest.approx(np.mean(c_null), rel=1e-12)
    assert m.null_released_global_efficiency == pytest.approx(np.mean(e_null), rel=1e-12)
    expected = (c / np.mean(c_null)) / (np.mean(e_null) / e)
    assert m.small_world_sigma_released == pytest.approx(expected, rel=1e-12)
    # The density-matched σ is not requested here and says why; at n_nulls > 0 both exist.
    assert m.small_world_sigma is None and "n_nulls = 0" in m.reasons["small_world_sigma"]


def test_released_sigma_is_reported_only_on_request() -> None:
    w = np.random.default_rng(0).normal(size=(30, 30))
    m = compute_metrics(w, n_nulls=20, louvain=False)
    assert m.small_world_sigma is not None
    assert m.small_world_sigma_released is None
    assert "paper fidelity" in m.reasons["small_world_sigma_released"]


def test_released_null_means_report_the_fixed_density() -> None:
    means = released_null_means(100, 64, np.random.default_rng(2))
    assert means.density == pytest.approx(0.18, abs=0.005)
    # A G(n, 0.18) graph has clustering about 0.18; the self-loops push it up.
    loopless = clustering_bu(
        released_null_batch(100, 64, np.random.default_rng(2)) & ~np.eye(100, dtype=bool)
    ).mean()
    assert loopless == pytest.approx(0.18, abs=0.005)
    assert means.avg_clustering > loopless + 0.02


# --- real-space distances ---------------------------------------------------------------------


def test_per_axis_min_max_distances_by_hand() -> None:
    pos_nm = np.array([[0.0, 0.0, 0.0], [1000.0, 2000.0, 0.0], [2000.0, 0.0, 4000.0]])
    # Scaled axes: x (0, .5, 1), y (0, 1, 0), z (0, 0, 1).
    d = sp.real_distances(pos_nm, reshape_bug=False, minmax=True)
    expected = np.array(
        [
            [0.0, math.sqrt(1.25), math.sqrt(2.0)],
            [math.sqrt(1.25), 0.0, 1.5],
            [math.sqrt(2.0), 1.5, 0.0],
        ]
    )
    np.testing.assert_allclose(d, expected, rtol=1e-12)
    # Corrected: true distances in µm (then divided by their mean by `normalise`).
    np.testing.assert_allclose(sp.real_distances(pos_nm, False, False), cdist(pos_nm, pos_nm) / 1e3)


def test_reshape_then_per_row_min_max_by_hand() -> None:
    # Three neurons: reshape(3, -1) of a 3 x 3 array is the array itself, so unit i takes
    # column i: axis i of every neuron.
    vox = np.array([[10.0, 20.0, 30.0], [40.0, 50.0, 60.0], [70.0, 80.0, 90.0]])
    d = sp.real_distances(vox * VOXEL_NM, reshape_bug=True, minmax=True)
    # Rows of the (3, N) array are [10, 20, 30], [40, 50, 60], [70, 80, 90], each scaled to
    # (0, .5, 1): unit i sits at (i/2, i/2, i/2).
    units = np.array([[0.0] * 3, [0.5] * 3, [1.0] * 3])
    np.testing.assert_allclose(d, cdist(units, units), rtol=1e-12)


def test_per_axis_scaling_strengthens_the_real_space_penalty(synthetic_small) -> None:
    paper_real = build_network_prior(synthetic_small, None, Condition(space="real"), PAPER, 0)
    pos = synthetic_small.positions_nm
    true = cdist(pos, pos)
    off = ~np.eye(len(pos), dtype=bool)
    divided_by_max = (true / true.max())[off].mean()
    assert paper_real.distance is not None
    # Each axis stretched to [0, 1] makes distances longer than one divided by the longest.
    assert paper_real.distance[off].mean() > 1.2 * divided_by_max


@pytest.mark.microns
def test_reshape_geometry_is_three_interleaved_modules(field_662) -> None:
    d = sp.real_distances(field_662.positions_nm, reshape_bug=True, minmax=True)
    cls = np.arange(len(d)) % 3
    off = ~np.eye(len(d), dtype=bool)
    within = d[(cls[:, None] == cls[None, :]) & off].mean()
    between = d[cls[:, None] != cls[None, :]].mean()
    assert between > 3 * within


# --- the grid's unit order ----------------------------------------------------------------------


def test_meshgrid_order_matches_numpy_meshgrid_and_differs_from_raster() -> None:
    shape = (2, 3, 2)
    got = sp.grid_positions(12, shape, meshgrid_order=True)
    # numpy.meshgrid(x, y, z) indexes [y, x, z]: y outermost, then x, then z.
    assert got[:5].tolist() == [[0, 0, 0], [0, 0, 1], [1, 0, 0], [1, 0, 1], [0, 1, 0]]
    raster = sp.grid_positions(12, shape)
    assert raster[:3].tolist() == [[0, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert sorted(map(tuple, got)) == sorted(map(tuple, raster))


def test_paper_grid_prior_uses_the_meshgrid_order(synthetic_small) -> None:
    n = synthetic_small.n_neurons
    cond = Condition(space="grid")
    paper = build_network_prior(synthetic_small, None, cond, PAPER, 0).distance
    shape = sp.paper_grid_shape(n)
    x, y, z = np.meshgrid(*(np.arange(s) for s in shape))
    pts = np.stack([x.ravel(), y.ravel(), z.ravel()], axis=1)[:n]
    np.testing.assert_allclose(paper, cdist(pts, pts), atol=1e-12)


def test_paper_priors_train_without_reshuffling_batches(synthetic_small) -> None:
    cond = Condition()
    assert build_network_prior(synthetic_small, None, cond, PAPER, 0).fixed_batch_order
    assert not build_network_prior(synthetic_small, None, cond, CORRECTED, 0).fixed_batch_order
