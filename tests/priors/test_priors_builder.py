"""The prior builder: inits, distances, communicability target, and the fidelity switches.

References are independent: scipy distances and expm, numpy eigenvalues, hand-built grids.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist
from scipy.stats import kstest, spearmanr

from cortexrnn.services.connectome.types import VOXEL_NM
from cortexrnn.services.priors import Condition, Fidelity, build_network_prior, build_network_priors
from cortexrnn.services.priors.conditions import FIDELITY_SWITCHES

PAPER = Fidelity.paper()
CORRECTED = Fidelity()
NO_DEVIATION = Fidelity(**{name: False for name in FIDELITY_SWITCHES})


def only(switch: str) -> Fidelity:
    """The released code's behaviour for `switch` alone, every other switch off."""
    return Fidelity(**{**NO_DEVIATION.model_dump(), switch: True})


def test_the_corrected_default_keeps_only_the_functional_diagonal() -> None:
    assert Fidelity.model_validate("corrected") == CORRECTED == only("keep_functional_diagonal")
    assert CORRECTED.label == "corrected" and PAPER.label == "paper"


def radius(w: np.ndarray) -> float:
    return float(np.abs(np.linalg.eigvals(w)).max())


def offdiag(m: np.ndarray) -> np.ndarray:
    return m[~np.eye(m.shape[0], dtype=bool)]


def test_each_switch_is_a_separate_flag() -> None:
    assert set(FIDELITY_SWITCHES) == set(Fidelity().model_dump())
    for s in FIDELITY_SWITCHES:
        on = [k for k, v in only(s).model_dump().items() if v]
        assert on == [s]


# --- §5.1 reshape -----------------------------------------------------------------------


@pytest.mark.microns
def test_reshape_switch_scrambles_real_distances(field_662) -> None:
    true = cdist(field_662.positions_nm, field_662.positions_nm)
    corrected = build_network_prior(field_662, None, Condition(space="real"), CORRECTED, 0).distance
    scrambled = build_network_prior(
        field_662, None, Condition(space="real"), only("reshape_positions"), 0
    ).distance
    rho_c = spearmanr(offdiag(corrected), offdiag(true))[0]
    rho_p = spearmanr(offdiag(scrambled), offdiag(true))[0]
    assert rho_c == pytest.approx(1.0, abs=1e-12)
    assert abs(rho_p) < 0.03
    # The scrambled coordinates are the voxel array read through reshape(3, -1).
    vox = field_662.positions_nm / VOXEL_NM
    coords = vox.ravel().reshape(3, -1).T
    ref = cdist(coords, coords)
    np.testing.assert_allclose(scrambled / scrambled.mean(), ref / ref.mean(), rtol=1e-10)


# --- §5.2 baseline L1 without lambda --------------------------------------------------------


def test_l1_without_lambda_only_for_the_baseline(synthetic_small) -> None:
    base = Condition()  # W: orthogonal, no space, no communicability
    assert build_network_prior(synthetic_small, None, base, CORRECTED, 0).lam == pytest.approx(0.3)
    assert build_network_prior(synthetic_small, None, base, only("l1_without_lambda"), 0).lam == 1.0
    grid = Condition(space="grid")
    assert build_network_prior(
        synthetic_small, None, grid, only("l1_without_lambda"), 0
    ).lam == pytest.approx(0.3)
    assert (
        build_network_prior(
            synthetic_small, None, Condition(lam=0.0), only("l1_without_lambda"), 0
        ).lam
        == 0.0
    )


# --- §5.3 distance scales -------------------------------------------------------------------


@pytest.mark.microns
def test_unnormalised_distances_reproduce_the_scale_mismatch(field_662) -> None:
    grid_pts = np.array(list(itertools.product(range(12), range(13), range(2))), dtype=float)
    grid_ref = cdist(grid_pts, grid_pts)
    paper_grid = build_network_prior(
        field_662, None, Condition(space="grid"), only("unnormalised_distances"), 0
    ).distance
    paper_real = build_network_prior(
        field_662, None, Condition(space="real"), only("unnormalised_distances"), 0
    ).distance
    np.testing.assert_allclose(paper_grid, grid_ref, atol=1e-12)  # 12 x 13 x 2, unit spacing
    assert offdiag(paper_grid).mean() == pytest.approx(6.6, abs=0.05)
    # The released code scales each coordinate axis to [0, 1], then takes distances.
    pos = field_662.positions_nm
    scaled = (pos - pos.min(axis=0)) / (pos.max(axis=0) - pos.min(axis=0))
    np.testing.assert_allclose(paper_real, cdist(scaled, scaled), rtol=1e-10)
    assert offdiag(paper_grid).mean() / offdiag(paper_real).mean() > 10
    for space in ("grid", "real", "real-shuffled"):
        d = build_network_prior(field_662, None, Condition(space=space), CORRECTED, 0).distance
        assert offdiag(d).mean() == pytest.approx(1.0, rel=1e-12), space
        assert np.allclose(np.diag(d), 0) and np.allclose(d, d.T)


def test_real_shuffled_is_a_relabelling(synthetic_small) -> None:
    real = build_network_prior(
        synthetic_small, None, Condition(space="real"), CORRECTED, 4
    ).distance
    shuf = build_network_prior(
        synthetic_small, None, Condition(space="real-shuffled"), CORRECTED, 4
    ).distance
    assert not np.allclose(real, shuf)
    np.testing.assert_allclose(np.sort(real.ravel()), np.sort(shuf.ravel()))
    # A relabelling preserves each unit's sorted distance profile, as a multiset of rows.
    rows = lambda m: sorted(tuple(np.round(np.sort(r), 9)) for r in m)  # noqa: E731
    assert rows(real) == rows(shuf)


# --- §5.5 functional diagonal -------------------------------------------------------------


@pytest.mark.microns
def test_functional_diagonal_switch(field_662) -> None:
    corr = field_662.functional["correlation"]
    w_paper = build_network_prior(
        field_662, None, Condition(init="functional"), only("keep_functional_diagonal"), 1
    ).w_init
    diag_share = (np.diag(w_paper) ** 2).sum() / (w_paper**2).sum()
    assert diag_share > 0.95  # ~99 % of the squared norm, SCIENCE.md §5.5
    # Without the diagonal (keep_functional_diagonal: false) the off-diagonal structure is all
    # there is.
    w_star = build_network_prior(
        field_662, None, Condition(init="functional"), NO_DEVIATION, 1
    ).w_init
    w_perm = build_network_prior(
        field_662, None, Condition(init="functional-permuted"), NO_DEVIATION, 1
    ).w_init
    assert np.all(np.diag(w_star) == 0) and np.all(np.diag(w_perm) == 0)
    # Corrected W* carries the functional structure of these neurons; W! does not.
    r_star = spearmanr(offdiag(w_star), offdiag(corr))[0]
    r_perm = spearmanr(offdiag(w_perm), offdiag(corr))[0]
    assert r_star > 0.3 and abs(r_perm) < 0.1


# --- §5.6 zero strengths in the connectome's communicability ------------------------------


def _reference_comm(a: np.ndarray, eps: float | None) -> np.ndarray:
    s = a.sum(axis=1)
    f = np.array(
        [
            (1 / np.sqrt(v) if v > 0 else 0.0) if eps is None else 1 / np.sqrt(v if v > 0 else eps)
            for v in s
        ]
    )
    c = scipy.linalg.expm(np.diag(f) @ a @ np.diag(f))
    return np.sort(offdiag(c))


@pytest.mark.microns
def test_emd_target_strength_guard(field_662) -> None:
    counts = field_662.synapse_counts.toarray().astype(float)
    assert (counts.sum(axis=1) == 0).any(), "field 6_6_2 has neurons without outgoing synapses"
    cond = Condition(init="functional", space="real", communicability="emd")
    t_corr = build_network_prior(field_662, None, cond, CORRECTED, 0).emd_target
    t_paper = build_network_prior(field_662, None, cond, only("emd_strength_epsilon"), 0).emd_target
    assert t_corr.shape == (312 * 311,) and np.all(np.diff(t_corr) >= 0)
    np.testing.assert_allclose(t_corr, _reference_comm(counts, None), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(t_paper, _reference_comm(counts, 1e-10), rtol=1e-8)
    assert t_paper.max() > 1e4 and t_corr.max() < 10


# --- inits ----------------------------------------------------------------------------------


@pytest.mark.microns
def test_bio_init_properties(field_662) -> None:
    w = build_network_prior(field_662, None, Condition(init="functional"), PAPER, 7).w_init
    assert radius(w) == pytest.approx(0.95, rel=1e-9)
    assert np.all(w >= 0)
    nz = w[w > 0]
    # Undo the final scaling: the floor 0.01 sits at mean/10 before it, so the floored
    # entries are the smallest, all equal, and the mean is 10x the floor (+ the floor's lift).
    floor = nz.min()
    assert np.sum(np.isclose(nz, floor, rtol=1e-12)) > 10
    unscaled = w * (0.01 / floor)
    assert unscaled.mean() == pytest.approx(0.1, rel=0.05)
    # w / (minmax(corr) * minmax(sttc)) is lognormal(-0.5, 0.5) up to scale; entries with a
    # large base are almost never floored, so their log-ratio is a (nearly) untruncated normal,
    # sd 0.5.
    corr, sttc = field_662.functional["correlation"], field_662.functional["sttc"]
    sttc = np.tril(sttc) + np.tril(sttc, -1).T
    mm = lambda m: (m - m.min()) / (m.max() - m.min())  # noqa: E731
    base = mm(corr) * mm(sttc)
    keep = (base > np.median(base[base > 0])) & (w > floor * (1 + 1e-9))
    assert keep.sum() > 0.49 * (base > np.median(base[base > 0])).sum()
    logs = np.log(unscaled[keep] / base[keep])
    assert kstest(logs - logs.mean() - 0.5, "norm", args=(-0.5, 0.5)).pvalue > 1e-3


@pytest.mark.microns
def test_permuted_init_is_a_relabelling(field_662) -> None:
    for fid in (PAPER, CORRECTED):
        w = build_network_prior(field_662, None, Condition(init="functional"), fid, 2).w_init
        p = build_network_prior(
            field_662, None, Condition(init="functional-permuted"), fid, 2
        ).w_init
        assert not np.allclose(w, p)
        ew, ep = np.sort_complex(np.linalg.eigvals(w)), np.sort_complex(np.linalg.eigvals(p))
        np.testing.assert_allclose(np.abs(ew).max(), np.abs(ep).max(), rtol=1e-9)
        np.testing.assert_allclose(np.sort(np.abs(ew)), np.sort(np.abs(ep)), atol=1e-8)
        np.testing.assert_array_equal(np.sort(w.ravel()), np.sort(p.ravel()))
        np.testing.assert_array_equal(np.sort(np.diag(w)), np.sort(np.diag(p)))


def test_controls(synthetic_small) -> None:
    bio_p = build_network_prior(
        synthetic_small, None, Condition(init="functional"), only("keep_functional_diagonal"), 0
    ).w_init
    diag = build_network_prior(
        synthetic_small, None, Condition(init="diagonal"), CORRECTED, 0
    ).w_init
    assert np.count_nonzero(offdiag(diag)) == 0
    np.testing.assert_allclose(
        np.diag(diag), np.diag(bio_p) * 0.95 / np.diag(bio_p).max(), rtol=1e-12
    )
    shuf = build_network_prior(
        synthetic_small,
        None,
        Condition(init="functional-offdiag-shuffled"),
        only("keep_functional_diagonal"),
        0,
    ).w_init
    k = np.diag(shuf)[0] / np.diag(bio_p)[0]
    np.testing.assert_allclose(np.diag(shuf), k * np.diag(bio_p), rtol=1e-12)
    np.testing.assert_allclose(np.sort(offdiag(shuf)), k * np.sort(offdiag(bio_p)), rtol=1e-12)
    assert radius(shuf) == pytest.approx(0.95, rel=1e-9)
    anat = build_network_prior(
        synthetic_small, None, Condition(init="anatomical"), CORRECTED, 0
    ).w_init
    counts = synthetic_small.synapse_counts.toarray()
    np.testing.assert_array_equal(anat != 0, counts.T != 0)  # (pre, post) -> (post, pre)


def test_random_inits_match_keras_semantics(synthetic_small) -> None:
    n = synthetic_small.n_neurons
    o = build_network_prior(
        synthetic_small, None, Condition(init="orthogonal"), CORRECTED, 0
    ).w_init
    np.testing.assert_allclose(o @ o.T, np.eye(n), atol=1e-10)
    for init, var in (("he_normal", 2.0 / n), ("glorot_normal", 1.0 / n)):
        ws = np.concatenate(
            [
                build_network_prior(
                    synthetic_small, None, Condition(init=init), CORRECTED, s
                ).w_init.ravel()
                for s in range(5)
            ]
        )
        assert ws.var() == pytest.approx(var, rel=0.03)
        # truncated at two (pre-correction) standard deviations
        assert np.abs(ws).max() <= 2 * np.sqrt(var) / 0.87962566103423978 + 1e-12
        assert np.abs(ws).max() > 1.9 * np.sqrt(var) / 0.87962566103423978


def test_sign_modes(synthetic_small) -> None:
    pos = build_network_prior(synthetic_small, None, Condition(sign="positive"), CORRECTED, 0)
    assert pos.sign == "positive" and pos.w_init.min() >= 0
    dale = build_network_prior(
        synthetic_small, None, Condition(init="functional", sign="dale"), CORRECTED, 0
    )
    types = synthetic_small.neurons["cell_type"].to_numpy()
    np.testing.assert_array_equal(dale.excitatory, ~np.isin(types, ["BC", "MC", "NGC", "BPC"]))
    assert np.all(dale.w_init[:, dale.excitatory] >= 0) and np.all(
        dale.w_init[:, ~dale.excitatory] <= 0
    )


def test_deterministic_and_seed_dependent(synthetic_small) -> None:
    idx = np.arange(0, 120, 2)
    for cond in (
        Condition(init="functional", space="real-shuffled"),
        Condition(init="he_normal"),
        Condition(init="functional-permuted"),
    ):
        a = build_network_prior(synthetic_small, idx, cond, CORRECTED, 5)
        b = build_network_prior(synthetic_small, idx, cond, CORRECTED, 5)
        c = build_network_prior(synthetic_small, idx, cond, CORRECTED, 6)
        assert a.n_units == 60
        np.testing.assert_array_equal(a.w_init, b.w_init)
        assert not np.array_equal(a.w_init, c.w_init)


def test_selection_subsets_every_matrix(synthetic_small) -> None:
    idx = np.array([5, 17, 40, 41, 99])
    p = build_network_prior(synthetic_small, idx, Condition(space="real"), CORRECTED, 0)
    pos = synthetic_small.positions_nm[idx]
    ref = cdist(pos, pos)
    np.testing.assert_allclose(p.distance, ref / offdiag(ref).mean(), rtol=1e-12)
    with pytest.raises(ValueError, match="indices"):
        build_network_prior(synthetic_small, np.array([0, 500]), Condition(), CORRECTED, 0)


def test_cache_is_used_for_seed_independent_pieces(synthetic_small) -> None:
    store: dict[str, np.ndarray] = {}
    calls: list[str] = []

    def cache(kind, key, compute):
        k = kind + repr(sorted(key.items()))
        if k not in store:
            calls.append(kind)
            store[k] = compute()
        return store[k]

    cond = Condition(init="functional", space="real", communicability="emd")
    first = build_network_prior(synthetic_small, None, cond, CORRECTED, 0, cache=cache)
    n_calls = len(calls)
    again = build_network_prior(synthetic_small, None, cond, CORRECTED, 1, cache=cache)
    assert n_calls == 3 and len(calls) == 3  # functional base, distances, EMD target: once each
    np.testing.assert_array_equal(first.distance, again.distance)
    many = build_network_priors(synthetic_small, None, [(cond, s) for s in range(4)], CORRECTED)
    np.testing.assert_array_equal(many[1].w_init, again.w_init)


@pytest.mark.microns
def test_positive_only_changes_no_functional_init_on_field_662(field_662) -> None:
    """Table 3's statement (docs/replication-data/README.md): the functional inits W* and W!
    of field 6_6_2 have no negative entry, so their X+ variants start from the very matrix
    the free-sign variant starts from; only the orthogonal init W is clipped (about half its
    entries)."""
    for init in ("functional", "functional-permuted"):
        for seed in (0, 1, 2):
            free = build_network_prior(field_662, None, Condition(init=init), CORRECTED, seed)
            pos = build_network_prior(
                field_662, None, Condition(init=init, sign="positive"), CORRECTED, seed
            )
            assert (free.w_init >= 0).all()
            np.testing.assert_array_equal(pos.w_init, free.w_init)
    free = build_network_prior(field_662, None, Condition(), CORRECTED, 0).w_init
    pos = build_network_prior(field_662, None, Condition(sign="positive"), CORRECTED, 0).w_init
    negative = (free < 0).mean()
    assert 0.4 < negative < 0.6
    assert (pos >= 0).all() and (pos == 0).mean() >= negative
