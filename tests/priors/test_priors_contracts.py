"""Contracts of the prior builder a scientist would check on small hand-made datasets: which
neurons a selection picks, how the sign constraints and the anatomical scaling behave, the
distance geometries and their labels, the functional sources, and that cached pieces are
never reused for a different prior.

References are independent: numpy/scipy on hand-built positions, counts and functional
matrices, and arithmetic done by hand in the comments.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import scipy.sparse as sps
from pydantic import ValidationError
from scipy.spatial.distance import cdist

from cortexrnn.services.connectome.types import VOXEL_NM, Connectome
from cortexrnn.services.priors import (
    Condition,
    Fidelity,
    build_network_prior,
    build_network_priors,
    builder,
    expand_preset,
    inits,
    parse_paper_name,
    space,
)
from cortexrnn.services.priors import functional as fn
from cortexrnn.services.priors.controls import module_of_units, three_block_distances
from cortexrnn.services.priors.presets import resolve_alias
from cortexrnn.services.priors.rng import stream

OFF = lambda n: ~np.eye(n, dtype=bool)  # noqa: E731


def tiny(
    n: int = 12,
    seed: int = 0,
    cell_types: list[object] | None = None,
    counts: np.ndarray | None = None,
    positions_nm: np.ndarray | None = None,
    functional: dict[str, np.ndarray] | None = None,
    name: str = "tiny",
) -> Connectome:
    """A hand-made dataset: random soma positions, a random wiring diagram and symmetric
    functional matrices with ones on the diagonal, unless given."""
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0, 200_000, (n, 3)) if positions_nm is None else positions_nm
    if counts is None:
        counts = (rng.random((n, n)) < 0.3) * rng.integers(1, 4, (n, n))
        np.fill_diagonal(counts, 0)
    if functional is None:
        x = rng.standard_normal((n, 40))
        corr = np.corrcoef(x)
        s = rng.uniform(-0.2, 1.0, (n, n))
        np.fill_diagonal(s, 1.0)
        prec = rng.uniform(-1, 1, (n, n))
        functional = {"correlation": corr, "sttc": s, "precision": (prec + prec.T) / 2}
    neurons = pd.DataFrame(
        {
            "root_id": np.arange(n),
            "unit_id": np.arange(n),
            "nucleus_id": np.arange(n),
            "field": ["f"] * n,
            "x_nm": pos[:, 0],
            "y_nm": pos[:, 1],
            "z_nm": pos[:, 2],
        }
    )
    if cell_types is not None:
        neurons["cell_type"] = pd.Series(cell_types, dtype=object)
    return Connectome(
        name=name,
        neurons=neurons,
        synapse_counts=sps.csr_matrix(np.asarray(counts, dtype=np.int64)),
        functional=functional,
    )


def mean_off(d: np.ndarray) -> float:
    return float(d[OFF(d.shape[0])].mean())


# --- selections ---------------------------------------------------------------------------


def test_a_selection_picks_those_neurons_in_that_order_and_bad_selections_are_refused() -> None:
    c = tiny(8)
    pos = c.positions_nm
    for idx in ([3, 1, 7], [0, 7]):  # 7 is the last neuron: still inside the dataset
        d = build_network_prior(c, np.array(idx), Condition(space="real"), seed=0).distance
        ref = cdist(pos[idx], pos[idx])
        np.testing.assert_allclose(d, ref / mean_off(ref), rtol=1e-12)
    one = build_network_prior(c, np.array([7]), Condition(), seed=0)
    assert one.n_units == 1 and one.meta["n_units"] == 1
    bad = {
        "2-D": np.array([[0, 1], [2, 3]]),
        "empty": np.array([], dtype=np.int64),
        "float": np.array([0.0, 1.0]),
        "negative": np.array([-1, 2]),
        "past the end": np.array([0, 8]),
        "repeated": np.array([1, 2, 1]),
    }
    shape = r"^indices must be a non-empty 1-D array of neuron indices$"
    bounds = r"^indices must lie in \[0, 8\) for dataset 'tiny'$"
    messages = {
        "2-D": shape,
        "empty": shape,
        "float": shape,
        "negative": bounds,
        "past the end": bounds,
        "repeated": r"^indices must not repeat a neuron$",
    }
    for case, idx in bad.items():
        with pytest.raises(ValueError, match=messages[case]):
            build_network_prior(c, idx, Condition(), seed=0)
    with pytest.raises(ValueError, match=shape):
        build_network_priors(c, np.array([], dtype=np.int64), [(Condition(), 0)])


def test_the_record_names_the_selection_whatever_its_integer_type() -> None:
    c = tiny(10)
    cond = Condition()
    a = build_network_prior(c, np.array([4, 2, 9], dtype=np.int32), cond, seed=3)
    b = build_network_prior(c, np.array([4, 2, 9], dtype=np.int64), cond, seed=3)
    r = build_network_prior(c, np.array([2, 4, 9]), cond, seed=3)
    assert a.meta["indices_digest"] == b.meta["indices_digest"]
    assert a.meta["indices_digest"] != r.meta["indices_digest"]
    assert len(str(a.meta["indices_digest"])) == 24
    full = build_network_prior(c, None, cond, seed=3)
    every = build_network_prior(c, np.arange(10), cond, seed=3)
    assert full.meta["indices_digest"] == every.meta["indices_digest"]
    assert a.meta["dataset"] == "tiny" and a.meta["seed"] == 3 and a.meta["n_units"] == 3
    assert a.meta["orientation"] == "(post, pre)"
    assert build_network_prior(c, None, cond).meta["seed"] == 0  # the documented default
    assert a.meta["condition"] == cond.model_dump(mode="json")
    grid = Condition(space="grid", grid_shape=(5, 1, 2))
    assert build_network_prior(c, None, grid).meta["condition"]["grid_shape"] == [5, 1, 2]
    assert a.meta["fidelity"] == Fidelity().model_dump(mode="json")


# --- sign constraints ---------------------------------------------------------------------


def test_every_named_interneuron_class_is_inhibitory_under_dale() -> None:
    inhibitory = ["BC", "MC", "BPC", "NGC", "SC", "inhibitory", "I", "PV", "SST", "VIP", "LAMP5"]
    excitatory = ["23P", "4P", "5P-IT", "6P-CT", "E", "excitatory"]
    types = inhibitory + excitatory
    c = tiny(len(types), cell_types=types)
    p = build_network_prior(c, None, Condition(sign="dale"), seed=0)
    np.testing.assert_array_equal(p.excitatory, [False] * 11 + [True] * 6)
    assert p.meta["excitatory_source"] == "cell_type"
    free = build_network_prior(c, None, Condition(), seed=0).w_init
    # Dale: each unit's outgoing weights (a column, post x pre) keep their relative sizes and
    # take the unit's sign; inhibition is scaled to balance excitation (the weights sum to
    # zero) and the whole to the free init's spectral radius, by hand:
    exc = np.array([False] * 11 + [True] * 6)
    signed = np.abs(free) * np.where(exc, 1.0, -1.0)
    signed[:, ~exc] *= np.abs(free[:, exc]).sum() / np.abs(free[:, ~exc]).sum()
    rho = lambda m: np.abs(np.linalg.eigvals(m)).max()  # noqa: E731
    expected = signed * rho(free) / rho(signed)
    np.testing.assert_allclose(p.w_init, expected, rtol=1e-12, atol=1e-15)
    assert p.w_init.sum() == pytest.approx(0.0, abs=1e-12)
    assert rho(p.w_init) == pytest.approx(rho(free), rel=1e-9)


@pytest.mark.parametrize("scale", [1.0, 1e-3])
@pytest.mark.parametrize("excitatory", ["mixed", "none", "all"])
def test_the_dale_init_of_any_mix_and_scale_keeps_signs_balance_and_radius(
    excitatory: str, scale: float
) -> None:
    """By hand, on a free init of radius 0.95 · scale (weights that sum to less than 1 at the
    small scale): each column takes its unit's sign; with both kinds present the weights sum
    to zero; with one kind only nothing is rescaled between kinds (an all-inhibitory network
    is not zeroed); the free init's radius is kept."""
    rng = np.random.default_rng(4)
    n = 8
    free = rng.normal(size=(n, n))
    free *= 0.95 * scale / np.abs(np.linalg.eigvals(free)).max()
    exc = {"mixed": np.arange(n) < 6, "none": np.zeros(n, bool), "all": np.ones(n, bool)}[
        excitatory
    ]
    got = builder._project_sign(free, "dale", exc)
    signed = np.abs(free) * np.where(exc, 1.0, -1.0)
    if excitatory == "mixed":
        assert np.abs(free).sum() < 1.0 or scale == 1.0
        signed[:, ~exc] *= np.abs(free[:, exc]).sum() / np.abs(free[:, ~exc]).sum()
        assert got.sum() == pytest.approx(0.0, abs=1e-12 * scale)
    rho = lambda m: np.abs(np.linalg.eigvals(m)).max()  # noqa: E731
    np.testing.assert_allclose(got, signed * rho(free) / rho(signed), rtol=1e-10)
    assert rho(got) == pytest.approx(0.95 * scale, rel=1e-9)


def test_a_dale_init_keeps_the_free_inits_radius_where_signs_alone_would_explode() -> None:
    """An orthogonal init (radius 1) with 80 % excitatory columns: signs alone put an outlier
    eigenvalue near 0.8 · 0.6 · √N (the columns' mean); the Dale init stays at radius 1."""
    n = 88
    c = tiny(n)
    p = build_network_prior(c, None, Condition(sign="dale"), seed=3)
    free = build_network_prior(c, None, Condition(), seed=3).w_init
    rho = lambda m: np.abs(np.linalg.eigvals(m)).max()  # noqa: E731
    assert rho(free) == pytest.approx(1.0)
    assert rho(np.abs(free) * np.where(p.excitatory, 1.0, -1.0)) > 3.0
    assert rho(p.w_init) == pytest.approx(1.0)
    assert np.all(p.w_init[:, p.excitatory] >= 0) and np.all(p.w_init[:, ~p.excitatory] <= 0)


@pytest.mark.parametrize(
    "cell_types", [None, ["23P"] * 9 + [None], ["23P"] * 9 + [float("nan")]], ids=str
)
def test_dale_without_complete_cell_types_draws_the_excitatory_fraction(cell_types) -> None:
    c = tiny(10, cell_types=cell_types)
    cond = Condition(sign="dale", excitatory_fraction=0.75)
    p = build_network_prior(c, None, cond, seed=1)
    # round(0.75 * 10) = 8 (round half to even: 7.5 -> 8)
    assert p.excitatory.dtype == bool and p.excitatory.sum() == 8
    assert p.meta["excitatory_source"] == "random 0.75"
    assert p.sign == "dale"
    cols = p.w_init
    assert np.all(cols[:, p.excitatory] >= 0) and np.all(cols[:, ~p.excitatory] <= 0)
    again = build_network_prior(c, None, cond, seed=1)
    np.testing.assert_array_equal(again.excitatory, p.excitatory)
    others = [build_network_prior(c, None, cond, seed=s).excitatory for s in range(2, 8)]
    assert any(not np.array_equal(o, p.excitatory) for o in others)
    everyone = build_network_prior(c, None, cond.model_copy(update={"excitatory_fraction": 1.0}))
    assert everyone.excitatory.all() and np.all(everyone.w_init >= 0)


def test_positive_sign_clips_negative_weights_and_free_keeps_them() -> None:
    c = tiny(15)
    free = build_network_prior(c, None, Condition(init="he_normal"), seed=2)
    pos = build_network_prior(c, None, Condition(init="he_normal", sign="positive"), seed=2)
    assert free.sign == "free" and free.excitatory is None
    assert (free.w_init < 0).any()
    np.testing.assert_array_equal(pos.w_init, np.maximum(free.w_init, 0.0))
    assert pos.excitatory is None and "excitatory_source" not in pos.meta


# --- anatomical init ----------------------------------------------------------------------


def test_anatomical_init_is_the_transposed_wiring_at_radius_or_norm_095() -> None:
    # A cycle 0 -> 1 -> 2 -> 0 with counts 1, 2, 4: eigenvalues are the cube roots of 8, so the
    # spectral radius is 2 and the init is counts.T * 0.95 / 2.
    cyc = np.zeros((4, 4))
    cyc[0, 1], cyc[1, 2], cyc[2, 0] = 1, 2, 4
    p = build_network_prior(tiny(4, counts=cyc), None, Condition(init="anatomical"), seed=0)
    np.testing.assert_allclose(p.w_init, cyc.T * 0.95 / 2.0, rtol=1e-12)
    assert p.meta["anatomical_scaling"] == "spectral_radius"
    # An acyclic chain 0 -> 1 -> 2 -> 3 is nilpotent (radius 0): scaled to spectral norm 0.95.
    chain = np.zeros((4, 4))
    chain[0, 1], chain[1, 2], chain[2, 3] = 3, 1, 2
    p = build_network_prior(tiny(4, counts=chain), None, Condition(init="anatomical"), seed=0)
    np.testing.assert_allclose(p.w_init, chain.T * 0.95 / 3.0, rtol=1e-12)
    assert np.linalg.norm(p.w_init, 2) == pytest.approx(0.95, rel=1e-12)
    assert p.meta["anatomical_scaling"] == "spectral_norm"
    # No synapses among the selection: nothing to scale.
    p = build_network_prior(
        tiny(4, counts=np.zeros((4, 4))), None, Condition(init="anatomical"), seed=0
    )
    assert p.meta["anatomical_scaling"] == "zero" and not p.w_init.any()


def test_scaling_helpers_on_hand_matrices() -> None:
    assert inits.spectral_radius(np.zeros((0, 0))) == 0.0
    # [[0, 2], [8, 0]] has eigenvalues +-4.
    assert inits.spectral_radius(np.array([[0.0, 2.0], [8.0, 0.0]])) == pytest.approx(4.0)
    w, how = inits.scale_to_spectral_radius(np.array([[0.0, 2.0], [8.0, 0.0]]), 1.0)
    np.testing.assert_allclose(w, [[0.0, 0.5], [2.0, 0.0]])
    assert how == "spectral_radius"
    # A large nilpotent matrix: its radius is 0 up to rounding, relative to its entries.
    big = np.triu(np.full((6, 6), 1e6), 1)
    w, how = inits.scale_to_spectral_radius(big, 0.95)
    assert how == "spectral_norm"
    assert np.linalg.norm(w, 2) == pytest.approx(0.95, rel=1e-12)
    # A radius that is rounding-level against the entries (1e-5 against 1e6) is no radius.
    lopsided = np.array([[0.0, 1e6], [1e-16, 0.0]])
    w, how = inits.scale_to_spectral_radius(lopsided, 0.95)
    assert how == "spectral_norm" and w[0, 1] == pytest.approx(0.95)
    # A genuine cycle of small weights is scaled by its radius.
    small = np.array([[0.0, 1e-6], [1e-6, 0.0]])
    w, how = inits.scale_to_spectral_radius(small, 0.95)
    assert how == "spectral_radius"
    np.testing.assert_allclose(w, [[0.0, 0.95], [0.95, 0.0]], rtol=1e-9)
    q = inits.orthogonal(5, np.random.default_rng(0), gain=2.0)
    np.testing.assert_allclose(q @ q.T, 4.0 * np.eye(5), atol=1e-12)


# --- communicability ----------------------------------------------------------------------


def _comm_reference(counts: np.ndarray, eps: float | None) -> np.ndarray:
    s = counts.sum(axis=1)
    f = np.array(
        [(1 / np.sqrt(v) if v > 0 else (0.0 if eps is None else 1 / np.sqrt(eps))) for v in s]
    )
    c = scipy.linalg.expm(f[:, None] * counts * f[None, :])
    return np.sort(c[OFF(len(c))])


def test_emd_prior_carries_the_connectome_communicability_and_its_strengths() -> None:
    counts = np.zeros((5, 5))
    counts[0, 1], counts[1, 0], counts[1, 2], counts[3, 4] = 2, 1, 3, 1  # node 2 sends nothing
    c = tiny(5, counts=counts)
    cond = Condition(communicability="emd", lam=0.2, lam_emd=0.05, emd_weighting=True)
    p = build_network_prior(c, None, cond, seed=0)
    np.testing.assert_allclose(p.emd_target, _comm_reference(counts, None), rtol=1e-12)
    paper = build_network_prior(c, None, cond, Fidelity(emd_strength_epsilon=True), seed=0)
    np.testing.assert_allclose(paper.emd_target, _comm_reference(counts, 1e-10), rtol=1e-9)
    assert (p.communicability, p.lam, p.lam_emd, p.emd_weighting) == ("emd", 0.2, 0.05, True)
    assert p.communicability_grad is True
    direct = build_network_prior(
        c, None, cond.model_copy(update={"communicability": "direct"}), seed=0
    )
    # lam_emd and the EMD weighting only mean something for C*.
    assert (direct.lam_emd, direct.emd_weighting, direct.emd_target) == (0.0, False, None)
    detached = build_network_prior(
        c, None, Condition(communicability="direct", communicability_grad=False), seed=0
    )
    assert detached.communicability_grad is False and detached.communicability == "direct"


def test_emd_on_neurons_without_synapses_among_them_is_refused() -> None:
    counts = np.zeros((6, 6))
    counts[0, 1], counts[1, 0] = 5, 2
    c = tiny(6, counts=counts)
    cond = Condition(communicability="emd")
    with pytest.raises(
        ValueError,
        match=r"^the selected neurons of dataset 'tiny' have no synapses among them: the C\* "
        r"\(emd\) target is all zeros; select more neurons or use communicability none/direct$",
    ):
        build_network_prior(c, np.array([2, 3, 4]), cond, seed=0)
    # The one reciprocal pair 0 <-> 1 is enough.
    p = build_network_prior(c, np.array([0, 1, 2]), cond, seed=0)
    assert p.emd_target.max() > 0


def test_the_released_lambda_free_l1_is_noted_only_where_it_applies() -> None:
    c = tiny(8)
    fid = Fidelity(l1_without_lambda=True)
    base = build_network_prior(c, None, Condition(lam=0.5), fid, seed=0)
    assert base.lam == 1.0
    assert base.meta["lam_note"] == "paper fidelity: baseline L1 without lambda (1.0)"
    for cond in (
        Condition(lam=0.5, communicability="direct"),
        Condition(lam=0.5, space="real"),
        Condition(lam=0.0),
    ):
        p = build_network_prior(c, None, cond, fid, seed=0)
        assert p.lam == cond.lam and "lam_note" not in p.meta
    assert "lam_note" not in build_network_prior(c, None, Condition(lam=0.5), seed=0).meta


# --- space --------------------------------------------------------------------------------


def test_default_grid_distances_are_those_of_the_default_grid_in_raster_order() -> None:
    pos = np.array([(x, y, z) for x in range(2) for y in range(3) for z in range(2)], float)
    np.testing.assert_array_equal(space.grid_distances(12, None), cdist(pos, pos))
    assert all(type(v) is int for n in (312, 12, 14, 27, 7) for v in space.paper_grid_shape(n))


def test_distances_are_divided_by_their_mean_whatever_their_scale() -> None:
    d = cdist(*(2 * [np.array([[0.0, 0, 0], [0.3, 0, 0], [0, 0.4, 0]])]))
    np.testing.assert_allclose(space.normalise(d, False), d / (1.2 / 3), rtol=1e-12)
    assert space.normalise(d, True) is d
    message = r"^all selected neurons sit at the same position: distances cannot be normalised$"
    for same in (np.zeros((3, 3)), np.zeros((1, 1))):
        with pytest.raises(ValueError, match=message):
            space.normalise(same, False)


def test_default_grids_on_hand() -> None:
    # Even N: two layers of the most square x * y grid.
    assert space.paper_grid_shape(312) == (12, 13, 2)
    assert space.paper_grid_shape(12) == (2, 3, 2)  # 6 = 2 x 3
    assert space.paper_grid_shape(14) == (1, 7, 2)  # 7 is prime
    assert space.paper_grid_shape(32) == (4, 4, 2)
    assert space.paper_grid_shape(36) == (3, 6, 2)  # 18: floor(sqrt 18) = 4 does not divide
    # Odd N: the most cubic grid.
    assert space.paper_grid_shape(27) == (3, 3, 3)
    assert space.paper_grid_shape(7) == (7, 1, 1)


def test_grid_prior_is_the_unit_grid_in_raster_order_with_its_shape_recorded() -> None:
    c = tiny(10)
    shape = (3, 2, 2)
    pts = np.array(list(itertools.product(range(3), range(2), range(2))), dtype=float)[:10]
    ref = cdist(pts, pts)
    p = build_network_prior(c, None, Condition(space="grid", grid_shape=shape), seed=0)
    np.testing.assert_allclose(p.distance, ref / mean_off(ref), rtol=1e-12)
    assert p.meta["grid_shape"] == [3, 2, 2]
    assert p.meta["distance_normalisation"] == "divided by mean off-diagonal distance"
    paper = build_network_prior(
        c, None, Condition(space="grid", grid_shape=shape), Fidelity(unnormalised_distances=True)
    )
    np.testing.assert_allclose(paper.distance, ref, atol=1e-12)
    assert paper.meta["distance_normalisation"] == "unit grid spacing (paper)"
    default = build_network_prior(c, None, Condition(space="grid"), seed=0)
    assert default.meta["grid_shape"] == [1, 5, 2]  # 10 = two layers of 1 x 5
    pts5 = np.array(list(itertools.product(range(1), range(5), range(2))), dtype=float)
    ref5 = cdist(pts5, pts5)
    np.testing.assert_allclose(default.distance, ref5 / mean_off(ref5), rtol=1e-12)
    with pytest.raises(ValueError, match="holds 8 units, fewer than the 10"):
        build_network_prior(c, None, Condition(space="grid", grid_shape=(2, 2, 2)), seed=0)
    assert "distance_normalisation" not in build_network_prior(c, None, Condition()).meta


def test_real_space_labels_and_paper_scaling_with_a_flat_axis() -> None:
    # Every neuron at the same depth z: that axis carries no distance (no 0 / 0).
    pos = np.array([[0.0, 0.0, 5e4], [4e3, 0.0, 5e4], [0.0, 3e3, 5e4], [4e3, 3e3, 5e4]])
    c = tiny(4, positions_nm=pos)
    fid = Fidelity(unnormalised_distances=True)
    p = build_network_prior(c, None, Condition(space="real"), fid, seed=0)
    unit = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    np.testing.assert_allclose(p.distance, cdist(unit, unit), rtol=1e-12)
    assert p.meta["distance_normalisation"] == "per-axis min-max (paper)"
    corrected = build_network_prior(c, None, Condition(space="real"), seed=0)
    ref = cdist(pos, pos)
    np.testing.assert_allclose(corrected.distance, ref / mean_off(ref), rtol=1e-12)
    same = tiny(3, positions_nm=np.full((3, 3), 1e4))
    with pytest.raises(ValueError, match="same position"):
        build_network_prior(same, None, Condition(space="real"), seed=0)
    np.testing.assert_array_equal(
        space.minmax_rows(np.array([[1.0, 2.0], [3.0, 2.0]])), [[0.0, 0.0], [1.0, 0.0]]
    )


def test_real_coordinates_are_micrometres_or_the_released_voxel_reshape() -> None:
    pos_nm = np.array([[4000, 8000, 40000], [1000, 2000, 3000]], dtype=np.int64)
    um = space.real_coordinates(pos_nm, reshape_bug=False)
    np.testing.assert_array_equal(um, [[4.0, 8.0, 40.0], [1.0, 2.0, 3.0]])
    assert um.dtype == np.float64
    # Voxels (4, 4, 40 nm): [[1000, 2000, 1000], [250, 500, 75]], flattened and read as 3 rows
    # of 2: unit 0 takes (1000, 1000, 500), unit 1 (2000, 250, 75).
    vox = space.real_coordinates(pos_nm, reshape_bug=True)
    np.testing.assert_array_equal(vox, [[1000.0, 1000.0, 500.0], [2000.0, 250.0, 75.0]])


def _reshape_distances(pos_nm: np.ndarray) -> np.ndarray:
    coords = (pos_nm / VOXEL_NM).ravel().reshape(3, -1).T
    d = cdist(coords, coords)
    return d / mean_off(d)


def test_reshape_and_three_block_geometries_on_a_small_field() -> None:
    c = tiny(9, seed=4)
    reshape = _reshape_distances(c.positions_nm)
    as_condition = build_network_prior(
        c, None, Condition(space="real-reshape", communicability="direct"), seed=5
    )
    np.testing.assert_allclose(as_condition.distance, reshape, rtol=1e-10)
    blocks = build_network_prior(c, None, Condition(space="three-blocks"), seed=5).distance
    mod = np.arange(9) % 3
    same = (mod[:, None] == mod[None, :]) & OFF(9)
    within, between = reshape[same].mean(), reshape[mod[:, None] != mod[None, :]].mean()
    np.testing.assert_allclose(np.sort(np.unique(np.round(blocks[OFF(9)], 12))),
                               np.sort(np.round([within, between], 12)))  # fmt: skip
    assert np.all(np.diag(blocks) == 0)
    # Three blocks of three: each unit has two block mates at the within distance.
    assert np.all(np.isclose(blocks, within).sum(1) == 2)
    # Both geometries ignore the fidelity's reshape switch being off: they are conditions.
    assert as_condition.meta["distance_normalisation"] == "divided by mean off-diagonal distance"


def test_module_and_block_helpers_on_hand() -> None:
    np.testing.assert_array_equal(module_of_units(7), [0, 1, 2, 0, 1, 2, 0])
    # N = 3: three singleton modules, no within pairs; every off-diagonal pair is "between".
    d = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 3.0], [2.0, 3.0, 0.0]])
    out = three_block_distances(d, seed=0)
    np.testing.assert_allclose(out, np.where(np.eye(3, dtype=bool), 0.0, 2.0))
    # N = 1: nothing to average, and no mean of an empty selection (no warning either).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(three_block_distances(np.zeros((1, 1)), seed=0), [[0.0]])


def test_real_shuffled_is_a_seeded_relabelling() -> None:
    c = tiny(12, seed=2)
    real = build_network_prior(c, None, Condition(space="real"), seed=4).distance
    shuf = build_network_prior(c, None, Condition(space="real-shuffled"), seed=4).distance
    # Some relabelling maps one onto the other: the sorted rows agree as multisets.
    assert sorted(map(tuple, np.round(np.sort(real, 1), 9))) == sorted(
        map(tuple, np.round(np.sort(shuf, 1), 9))
    )
    assert not np.allclose(real, shuf)
    other = build_network_prior(c, None, Condition(space="real-shuffled"), seed=5).distance
    assert not np.allclose(other, shuf)


# --- functional init ----------------------------------------------------------------------


def _minmax(m: np.ndarray, keep: bool) -> np.ndarray:
    n = m.shape[0]
    vals = m if keep else m[OFF(n)]
    out = (m - vals.min()) / (vals.max() - vals.min())
    if not keep:
        np.fill_diagonal(out, 0.0)
    return out


@pytest.mark.parametrize("source", ["correlation+sttc", "sttc", "precision+sttc"])
@pytest.mark.parametrize("keep", [True, False])
def test_functional_base_multiplies_the_named_matrices(source: str, keep: bool) -> None:
    c = tiny(9, seed=6)
    idx = np.array([8, 0, 3, 5, 1])
    f = {k: v[np.ix_(idx, idx)] for k, v in c.functional.items()}
    sttc = np.tril(f["sttc"]) + np.tril(f["sttc"], -1).T  # the lower triangle, symmetrised
    ref = _minmax(sttc, keep)
    if source != "sttc":
        ref = ref * _minmax(f[source.split("+")[0]], keep)
    got = fn.functional_base(c.functional, idx, source, keep)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)
    if not keep:
        assert np.all(np.diag(got) == 0)


def test_functional_inputs_that_cannot_make_an_init_are_refused() -> None:
    c = tiny(6)
    idx = np.arange(6)
    with pytest.raises(
        ValueError,
        match=r"^unknown functional source 'rates'; use one of correlation\+sttc, sttc, "
        r"precision\+sttc$",
    ):
        fn.functional_base(c.functional, idx, "rates", True)
    only_corr = {"correlation": c.functional["correlation"]}
    with pytest.raises(ValueError, match=r"sttc matrix \(dataset has: correlation\)"):
        fn.functional_base(only_corr, idx, "correlation+sttc", True)
    two = {"correlation": c.functional["correlation"], "precision": c.functional["precision"]}
    with pytest.raises(ValueError, match=r"\(dataset has: correlation, precision\)"):
        fn.functional_base(two, idx, "sttc", True)
    with pytest.raises(ValueError, match=r"dataset has: none"):
        fn.functional_base({}, idx, "sttc", True)
    bad = dict(c.functional)
    bad["correlation"] = c.functional["correlation"].copy()
    bad["correlation"][2, 4] = np.nan
    with pytest.raises(
        ValueError,
        match=r"^the dataset's correlation matrix holds NaN or infinite values among the "
        r"selected neurons$",
    ):
        fn.functional_base(bad, idx, "correlation+sttc", True)
    # A NaN outside the selection does not matter.
    fn.functional_base(bad, np.array([0, 1, 3]), "correlation+sttc", True)
    const = {"correlation": np.ones((6, 6)), "sttc": np.ones((6, 6))}
    np.testing.assert_array_equal(fn.minmax(np.ones((4, 4)), True), np.zeros((4, 4)))
    flat = fn.minmax(np.ones((3, 3), dtype=np.int64), True)
    assert flat.shape == (3, 3) and flat.dtype == np.float64 and not flat.any()
    np.testing.assert_array_equal(fn.minmax(np.ones((4, 4)), False), np.zeros((4, 4)))
    assert fn.minmax(np.zeros((0, 0)), False).shape == (0, 0)
    with pytest.raises(
        ValueError,
        match=r"^the functional matrices of the selected neurons are constant: the bio init is "
        r"all zeros$",
    ):
        build_network_prior(tiny(6, functional=const), None, Condition(init="functional"))


def test_bio_init_floors_small_weights_keeps_zeros_and_sits_at_radius_095() -> None:
    # Base: a ring of strong links, a few very weak links and zeros elsewhere.
    n = 10
    base = np.zeros((n, n))
    for i in range(n):
        base[i, (i + 1) % n] = base[(i + 1) % n, i] = 1.0
    base[0, 5] = base[5, 0] = 1e-6
    w = fn.bio_matrix(base, seed=3)
    assert np.all(w[base == 0] == 0)
    assert np.abs(np.linalg.eigvals(w)).max() == pytest.approx(0.95, rel=1e-12)
    # Before the final scaling the mean is 0.1 on the unfloored entries' scale and the weak
    # links sit at the floor 0.01: the ratio of a weak link to the mean is fixed by the floor.
    scale = w[0, 5]
    assert w[5, 0] == pytest.approx(scale, rel=1e-12)
    ring = w[base == 1.0]
    # mean(w) = 0.1 * k after the floor lifted two entries from ~1e-7 * k to 0.01 * k.
    k = scale / 0.01
    assert w.mean() == pytest.approx(0.1 * k + 2 * (0.01 * k) / n**2, rel=1e-4)
    assert ring.min() > scale
    # The lognormal factor is drawn per seed, so the ring is not uniform.
    assert ring.std() > 0.1 * ring.mean()


def test_functional_controls_keep_what_they_claim() -> None:
    c = tiny(12, seed=8)
    kept = Fidelity()
    bio = build_network_prior(c, None, Condition(init="functional"), kept, seed=2)
    perm = build_network_prior(c, None, Condition(init="functional-permuted"), kept, seed=2)
    # W! is W* relabelled: unit i of W! is the unit of W* with the same (distinct) self-weight.
    p = np.array([int(np.flatnonzero(np.diag(bio.w_init) == v)[0]) for v in np.diag(perm.w_init)])
    assert sorted(p) == list(range(12)) and not np.array_equal(p, np.arange(12))
    np.testing.assert_array_equal(perm.w_init, bio.w_init[np.ix_(p, p)])
    assert len(str(perm.meta["permutation_digest"])) == 24
    assert "permutation_digest" not in bio.meta
    shuffled = build_network_prior(
        c, None, Condition(init="functional-offdiag-shuffled"), kept, seed=2
    ).w_init
    ratio = np.diag(shuffled) / np.diag(bio.w_init)
    np.testing.assert_allclose(ratio, ratio[0], rtol=1e-12)
    np.testing.assert_allclose(
        np.sort(shuffled[OFF(12)]), ratio[0] * np.sort(bio.w_init[OFF(12)]), rtol=1e-12
    )
    assert not np.allclose(shuffled[OFF(12)], ratio[0] * bio.w_init[OFF(12)])
    spec = build_network_prior(
        c, None, Condition(init="functional-spectrum-matched"), kept, seed=2
    ).w_init
    np.testing.assert_allclose(np.diag(spec), np.diag(bio.w_init), rtol=1e-12)
    np.testing.assert_allclose(
        np.linalg.svd(spec, compute_uv=False),
        np.linalg.svd(bio.w_init, compute_uv=False),
        atol=1e-12,
    )
    assert not np.allclose(spec, bio.w_init)
    # The diagonal control uses the kept diagonal even when the fidelity drops it.
    diag = build_network_prior(
        c, None, Condition(init="diagonal"), Fidelity(keep_functional_diagonal=False), seed=2
    ).w_init
    np.testing.assert_allclose(
        np.diag(diag), np.diag(bio.w_init) * 0.95 / np.diag(bio.w_init).max(), rtol=1e-12
    )
    assert not diag[OFF(12)].any()


# --- caching ------------------------------------------------------------------------------


def test_a_shared_cache_never_hands_one_prior_another_priors_pieces() -> None:
    """One long-lived cache (as the connectome store's) across selections, geometries,
    functional sources and fidelities gives exactly the uncached priors."""
    c = tiny(12, seed=9)
    store: dict[str, np.ndarray] = {}
    kinds: list[str] = []

    def cache(kind, key, compute):
        k = kind + repr(sorted(key.items()))
        if k not in store:
            kinds.append(kind)
            store[k] = compute()
        return store[k]

    fids = [
        Fidelity(),
        Fidelity(reshape_positions=True),
        Fidelity(unnormalised_distances=True),
        Fidelity(meshgrid_grid_order=True),
        Fidelity(emd_strength_epsilon=True),
        Fidelity(keep_functional_diagonal=False),
    ]
    conds = [
        Condition(init="functional", space="real", communicability="emd"),
        Condition(init="functional", functional_source="sttc", space="grid"),
        Condition(init="diagonal", functional_source="precision+sttc", space="real-shuffled"),
        Condition(space="grid", grid_shape=(2, 3, 2)),
        Condition(space="grid", grid_shape=(3, 2, 2)),
    ]
    selections = [None, np.arange(1, 12), np.arange(11)]
    for sel, fid, cond in itertools.product(selections, fids, conds):
        got = build_network_prior(c, sel, cond, fid, seed=1, cache=cache)
        want = build_network_prior(c, sel, cond, fid, seed=1)
        np.testing.assert_array_equal(got.w_init, want.w_init)
        np.testing.assert_array_equal(got.distance, want.distance)
        if want.emd_target is not None:
            np.testing.assert_array_equal(got.emd_target, want.emd_target)
    assert set(kinds) == {
        "prior-functional-base",
        "prior-distance-real",
        "prior-distance-grid",
        "prior-emd-target",
    }
    # A second dataset with the same size and selection is never served the first's pieces.
    other = tiny(12, seed=10, name="other")
    got = build_network_prior(other, None, conds[0], fids[0], seed=1, cache=cache)
    want = build_network_prior(other, None, conds[0], fids[0], seed=1)
    np.testing.assert_array_equal(got.distance, want.distance)
    np.testing.assert_array_equal(got.w_init, want.w_init)


def test_priors_built_together_equal_each_built_alone() -> None:
    """One call for arms whose shared pieces differ only in their settings (functional
    source, diagonal kept or not, grid shape): each gets its own pieces."""
    c = tiny(12, seed=12)
    runs = [
        (Condition(init="functional"), 0),
        (Condition(init="functional-no-diagonal"), 0),
        (Condition(init="functional", functional_source="sttc"), 0),
        (Condition(init="functional", functional_source="precision+sttc"), 0),
        (Condition(space="grid"), 0),
        (Condition(space="grid", grid_shape=(3, 2, 2)), 0),
    ]
    for (cond, seed), got in zip(runs, build_network_priors(c, None, runs), strict=True):
        want = build_network_prior(c, None, cond, Fidelity(), seed)
        np.testing.assert_array_equal(got.w_init, want.w_init)
        np.testing.assert_array_equal(got.distance, want.distance)


@pytest.mark.parametrize("init", ["orthogonal", "he_normal", "glorot_normal"])
def test_random_inits_are_reproducible_from_the_seed(init: str) -> None:
    c = tiny(10)
    cond = Condition(init=init)
    a, b = (build_network_prior(c, None, cond, seed=5).w_init for _ in range(2))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, build_network_prior(c, None, cond, seed=6).w_init)


def test_many_priors_ask_the_outer_cache_once_per_piece() -> None:
    c = tiny(10, seed=11)
    calls: list[str] = []

    keys: list[dict] = []

    def cache(kind, key, compute):
        calls.append(kind)
        keys.append(key)
        return compute()

    cond = Condition(init="functional", space="real", communicability="emd")
    runs = [(cond, s) for s in range(4)] + [(Condition(space="grid"), 0)]
    many = build_network_priors(c, None, runs, cache=cache)
    # The outer cache is told which dataset and selection each piece is of.
    assert all(k["dataset"] == "tiny" and k["n"] == 10 for k in keys), keys
    assert sorted(calls) == sorted(
        ["prior-functional-base", "prior-distance-real", "prior-emd-target", "prior-distance-grid"]
    )
    for (cnd, s), got in zip(runs, many, strict=True):
        want = build_network_prior(c, None, cnd, Fidelity(), s)
        np.testing.assert_array_equal(got.w_init, want.w_init)
        np.testing.assert_array_equal(got.distance, want.distance)
    assert many[0].meta["fidelity"] == Fidelity().model_dump(mode="json")


# --- conditions, fidelity, presets, streams -----------------------------------------------


def test_which_conditions_have_a_regulariser() -> None:
    assert Condition().has_regulariser
    assert not Condition(lam=0.0).has_regulariser
    assert Condition(lam=0.0, communicability="emd").has_regulariser  # lam_emd 0.1
    assert not Condition(lam=0.0, communicability="emd", lam_emd=0.0).has_regulariser
    assert not Condition(lam=0.0, communicability="direct", lam_emd=0.5).has_regulariser


def test_condition_bounds() -> None:
    Condition(lam=1e6, lam_emd=1e6, excitatory_fraction=1.0)
    Condition(space="grid", grid_shape=(1, 1, 1))
    for bad in (
        {"lam": 1.1e6},
        {"lam_emd": -0.1},
        {"excitatory_fraction": 0.0},
        {"excitatory_fraction": 1.01},
        {"space": "grid", "grid_shape": (2, 0, 2)},
        {"grid_shape": (2, 2, 2)},
    ):
        with pytest.raises(ValidationError):
            Condition(**bad)
    with pytest.raises(ValidationError, match=">= 1"):
        Condition(space="grid", grid_shape=(3, 3, 0))


def test_fidelity_labels_and_bases() -> None:
    custom = Fidelity(reshape_positions=True, meshgrid_grid_order=True)
    assert custom.label == "custom(reshape_positions,keep_functional_diagonal,meshgrid_grid_order)"
    assert Fidelity(keep_functional_diagonal=False).label == "custom()"
    assert Fidelity.paper() == Fidelity.model_validate({"base": "paper"})
    assert Fidelity.corrected() == Fidelity.model_validate({"base": "corrected"})
    mixed = Fidelity.model_validate({"base": "corrected", "fixed_batch_order": True})
    assert mixed.fixed_batch_order and mixed.keep_functional_diagonal and not mixed.released_nulls
    with pytest.raises(ValidationError, match="fidelity base must be 'paper' or 'corrected'"):
        Fidelity.model_validate({"base": "released"})


def test_every_paper_name_parses_to_its_three_axes() -> None:
    inits_ = {"W*": "functional", "W!": "functional-permuted", "W": "orthogonal"}
    spaces = {"D*": "real", "D": "grid", "": "none"}
    comms = {"C*": "emd", "C": "direct", "": "none"}
    for (wi, w), (di, d), (ci, cc) in itertools.product(
        inits_.items(), spaces.items(), comms.items()
    ):
        cond = parse_paper_name(wi + di + ci)
        assert (cond.init, cond.space, cond.communicability) == (w, d, cc), wi + di + ci
        assert cond == Condition(init=w, space=d, communicability=cc)
    for bad, match in (("W*D*C*C", "'C' left over"), ("D*C", "notation"), ("", "notation")):
        with pytest.raises(ValueError, match=match):
            parse_paper_name(bad)
    assert resolve_alias("WsDsCs") == "W*D*C*" and resolve_alias("WD(3-block)C") == "WD(3-block)C"


def test_presets_name_their_variants_and_are_fresh_copies() -> None:
    dale = expand_preset("paper-2026-dale")
    assert next(iter(dale)) == "W*D*C(dale)" and all(c.sign == "dale" for c in dale.values())
    assert list(expand_preset("paper-2026-positive"))[-1] == "W!D*C*+"
    geo = expand_preset("controls-geometry")
    assert {k: v.space for k, v in geo.items()} == {
        "WD*C": "real",
        "WD(reshape)C": "real-reshape",
        "WD(3-block)C": "three-blocks",
        "WD(shuffled)C": "real-shuffled",
        "WDC": "grid",
    }
    assert all(v.init == "orthogonal" and v.communicability == "direct" for v in geo.values())
    func = expand_preset("controls-functional")
    assert {k: v.init for k, v in func.items()} == {
        "W*D*C": "functional",
        "W(diagonal)D*C": "diagonal",
        "W(no-diagonal)D*C": "functional-no-diagonal",
        "W(offdiag-shuffled)D*C": "functional-offdiag-shuffled",
        "W(spectrum)D*C": "functional-spectrum-matched",
        "W(anatomical)D*C": "anatomical",
        "W!D*C": "functional-permuted",
    }
    assert all(v.space == "real" and v.communicability == "direct" for v in func.values())
    first = expand_preset("paper-2026")
    first.clear()
    assert len(expand_preset("paper-2026")) == 11
    with pytest.raises(ValueError, match="available: paper-2026, paper-2026-positive"):
        expand_preset("nope")


def test_random_streams_are_named_seeded_and_refuse_negative_seeds() -> None:
    a = stream(3, "dale").random(4)
    np.testing.assert_array_equal(a, stream(3, "dale").random(4))
    assert not np.array_equal(a, stream(3, "dale2").random(4))
    assert not np.array_equal(a, stream(4, "dale").random(4))
    stream(0, "x")
    with pytest.raises(ValueError, match="non-negative, got -1"):
        stream(-1, "dale")
