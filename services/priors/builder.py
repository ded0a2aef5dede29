"""connectome + neuron indices + Condition + Fidelity + seed -> NetworkPrior (numpy, deterministic).

Orientation: the dataset's matrices are (pre, post); NetworkPrior's are (post, pre). The
functional matrices are symmetric and distances too, so only the anatomical init and the
connectome's communicability need care: the anatomical init is transposed; the
communicability target is computed in the dataset's (pre, post) orientation with seRNN's
out-strengths (row sums there), which is the same convention the trainer uses on (post, pre)
weights (column sums), and only its sorted entries are kept.

Seed-independent pieces (normalised functional product, distances, the connectome's
communicability) go through an optional cache `cache(kind, key, compute)`, e.g. the
connectome store's `cached`, so that workers building many priors on one selection reuse them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np

from cortexrnn.services.connectome import derived
from cortexrnn.services.connectome.types import Connectome
from cortexrnn.services.priors import controls, inits, space
from cortexrnn.services.priors import functional as fn
from cortexrnn.services.priors.conditions import Condition, Fidelity
from cortexrnn.services.priors.network_prior import NetworkPrior
from cortexrnn.services.priors.rng import stream

Cache = Callable[[str, dict[str, Any], Callable[[], np.ndarray]], np.ndarray]

# SCIENCE.md §5.6: the released code replaces zero node strengths by this.
PAPER_STRENGTH_EPS = 1e-10
# Cell types treated as inhibitory for sign == "dale" (MICrONS metamodel and common names).
INHIBITORY_TYPES = frozenset(
    {"BC", "MC", "BPC", "NGC", "SC", "inhibitory", "I", "PV", "SST", "VIP", "LAMP5"}
)


def _no_cache(kind: str, key: dict[str, Any], compute: Callable[[], np.ndarray]) -> np.ndarray:
    return compute()


def indices_digest(indices: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(indices, dtype=np.int64).tobytes()).hexdigest()[:24]


def _check_indices(connectome: Connectome, indices: np.ndarray | None) -> np.ndarray:
    if indices is None:
        return np.arange(connectome.n_neurons)
    idx = np.asarray(indices)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError("indices must be a non-empty 1-D array of neuron indices")
    if idx.min() < 0 or idx.max() >= connectome.n_neurons:
        raise ValueError(
            f"indices must lie in [0, {connectome.n_neurons}) for dataset {connectome.name!r}"
        )
    if np.unique(idx).size != idx.size:
        raise ValueError("indices must not repeat a neuron")
    return idx.astype(np.int64)


class _Pieces:
    """Seed-independent matrices of one (dataset, selection), computed lazily through the cache."""

    def __init__(self, connectome: Connectome, indices: np.ndarray, cache: Cache | None) -> None:
        self.c = connectome
        self.idx = indices
        self.cache = cache or _no_cache
        self.key = {
            "dataset": connectome.name,
            "n_total": connectome.n_neurons,
            "indices": indices_digest(indices),
            "n": int(indices.size),
        }

    def _get(
        self, kind: str, extra: dict[str, Any], compute: Callable[[], np.ndarray]
    ) -> np.ndarray:
        return np.asarray(self.cache(f"prior-{kind}", {**self.key, **extra}, compute))

    def functional_base(self, source: str, keep_diagonal: bool) -> np.ndarray:
        return self._get(
            "functional-base",
            {"source": source, "keep_diagonal": keep_diagonal},
            lambda: fn.functional_base(self.c.functional, self.idx, source, keep_diagonal),
        )

    def distances(
        self, kind: str, grid_shape: tuple[int, int, int] | None, fidelity: Fidelity
    ) -> np.ndarray:
        if kind == "grid":
            shape = grid_shape or space.paper_grid_shape(self.idx.size)
            extra = {
                "grid_shape": list(shape),
                "unnormalised": fidelity.unnormalised_distances,
                "meshgrid": fidelity.meshgrid_grid_order,
            }

            def raw() -> np.ndarray:
                return space.grid_distances(self.idx.size, shape, fidelity.meshgrid_grid_order)

        else:
            # "scaling" names the per-axis min-max of §5.3, so that matrices cached under the
            # earlier divide-by-maximum are never reused for it.
            extra = {
                "reshape": fidelity.reshape_positions,
                "unnormalised": fidelity.unnormalised_distances,
                "scaling": "per-axis-minmax" if fidelity.unnormalised_distances else "mean",
            }

            def raw() -> np.ndarray:
                return space.real_distances(
                    self.c.positions_nm[self.idx],
                    fidelity.reshape_positions,
                    fidelity.unnormalised_distances,
                )

        kind_key = "grid" if kind == "grid" else "real"
        return self._get(
            f"distance-{kind_key}",
            extra,
            lambda: space.normalise(raw(), fidelity.unnormalised_distances),
        )

    def emd_target(self, paper_eps: bool) -> np.ndarray:
        def compute() -> np.ndarray:
            counts = self.c.synapse_counts[self.idx][:, self.idx].toarray().astype(np.float64)
            c = derived.communicability(counts, PAPER_STRENGTH_EPS if paper_eps else None)
            return np.sort(c[~np.eye(c.shape[0], dtype=bool)])

        return self._get("emd-target", {"paper_eps": paper_eps}, compute)


def _excitatory(
    connectome: Connectome, indices: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, str]:
    types = (
        connectome.neurons["cell_type"].to_numpy(dtype=object)[indices]
        if "cell_type" in connectome.neurons
        else None
    )
    if types is not None and all(t is not None and t == t for t in types):
        exc = np.array([str(t) not in INHIBITORY_TYPES for t in types])
        return exc, "cell_type"
    n = indices.size
    n_exc = round(fraction * n)
    exc = np.zeros(n, dtype=bool)
    exc[stream(seed, "dale").permutation(n)[:n_exc]] = True
    return exc, f"random {fraction:.2f}"


def _project_sign(w: np.ndarray, sign: str, excitatory: np.ndarray | None) -> np.ndarray:
    """The init satisfies the constraint the trainer projects onto after each step.

    Positive-only clips as Keras' NonNeg does (Table 3). Dale's law gives each column its
    unit's sign, balances excitation and inhibition, and keeps the free init's spectral
    radius: |W| with signs alone has a mean that grows as √N (an outlier eigenvalue ≈ 4.5 for
    an orthogonal init at N = 88, ≈ 8.5 at N = 312 with 80 % excitatory units), and such
    networks diverged within two steps whatever their variant; the control is then about the
    gain, not the sign structure. Balanced E/I with a matched radius is the usual init for
    Dale networks (Song, Yang & Wang 2016; Rajan & Abbott 2006)."""
    if sign == "positive":
        return np.maximum(w, 0.0)
    if sign == "dale":
        assert excitatory is not None
        dale = np.abs(w) * np.where(excitatory, 1.0, -1.0)[None, :]
        exc_total, inh_total = dale[:, excitatory].sum(), -dale[:, ~excitatory].sum()
        if exc_total > 0 and inh_total > 0:  # balanced: the weights sum to zero
            dale[:, ~excitatory] *= exc_total / inh_total
        target = inits.spectral_radius(w)
        return inits.scale_to_spectral_radius(dale, target)[0] if target > 0 else dale
    return w


def build_network_prior(
    connectome: Connectome,
    indices: np.ndarray | None,
    condition: Condition,
    fidelity: Fidelity | None = None,
    seed: int = 0,
    cache: Cache | None = None,
) -> NetworkPrior:
    """The priors of one network (one condition, one seed) on the selected neurons."""
    fidelity = fidelity or Fidelity()
    idx = _check_indices(connectome, indices)
    pieces = _Pieces(connectome, idx, cache)
    return _build(pieces, condition, fidelity, seed)


def build_network_priors(
    connectome: Connectome,
    indices: np.ndarray | None,
    runs: list[tuple[Condition, int]],
    fidelity: Fidelity | None = None,
    cache: Cache | None = None,
) -> list[NetworkPrior]:
    """Priors for many (condition, seed) pairs on one selection, sharing the seed-independent
    pieces."""
    fidelity = fidelity or Fidelity()
    idx = _check_indices(connectome, indices)
    memo: dict[tuple, np.ndarray] = {}

    def memo_cache(kind: str, key: dict[str, Any], compute: Callable[[], np.ndarray]) -> np.ndarray:
        k = (kind, tuple(sorted((a, str(b)) for a, b in key.items())))
        if k not in memo:
            memo[k] = (cache or _no_cache)(kind, key, compute)
        return memo[k]

    pieces = _Pieces(connectome, idx, memo_cache)
    return [_build(pieces, cond, fidelity, seed) for cond, seed in runs]


def _build(pieces: _Pieces, cond: Condition, fid: Fidelity, seed: int) -> NetworkPrior:
    n = pieces.idx.size
    meta: dict[str, object] = {
        "condition": cond.model_dump(mode="json"),
        "fidelity": fid.model_dump(mode="json"),
        "seed": seed,
        "dataset": pieces.c.name,
        "n_units": n,
        "indices_digest": pieces.key["indices"],
        "orientation": "(post, pre)",
    }

    # --- weight init ---
    init = cond.init
    if init == "orthogonal":
        w = inits.orthogonal(n, stream(seed, "orthogonal"))
    elif init == "he_normal":
        w = inits.he_normal(n, stream(seed, "he_normal"))
    elif init == "glorot_normal":
        w = inits.glorot_normal(n, stream(seed, "glorot_normal"))
    elif init in (
        "functional",
        "functional-permuted",
        "functional-offdiag-shuffled",
        "functional-spectrum-matched",
        "functional-no-diagonal",
    ):
        # functional-no-diagonal: §5.5's corrected matrix as a condition, whatever the fidelity
        keep = fid.keep_functional_diagonal and init != "functional-no-diagonal"
        bio = fn.bio_matrix(pieces.functional_base(cond.functional_source, keep), seed)
        if init == "functional-spectrum-matched":
            w = controls.spectrum_matched(bio, seed)
        elif init == "functional-permuted":
            perm = fn.permutation(n, seed)
            w = fn.permuted(bio, perm)
            meta["permutation_digest"] = indices_digest(perm)
        elif init == "functional-offdiag-shuffled":
            w = fn.offdiag_shuffled(bio, seed)
        else:
            w = bio
    elif init == "diagonal":
        w = fn.diagonal_only(
            fn.bio_matrix(pieces.functional_base(cond.functional_source, True), seed)
        )
    elif init == "anatomical":
        counts = pieces.c.synapse_counts[pieces.idx][:, pieces.idx].toarray().astype(np.float64)
        w, how = inits.scale_to_spectral_radius(
            counts.T, inits.SPECTRAL_RADIUS
        )  # (pre, post) -> (post, pre)
        meta["anatomical_scaling"] = how
    else:  # pragma: no cover - Condition validates init
        raise ValueError(f"unknown init {init!r}")

    excitatory = None
    if cond.sign == "dale":
        excitatory, source = _excitatory(pieces.c, pieces.idx, cond.excitatory_fraction, seed)
        meta["excitatory_source"] = source
    w = _project_sign(np.asarray(w, dtype=np.float64), cond.sign, excitatory)

    # --- space ---
    distance = None
    if cond.space != "none":
        kind = "grid" if cond.space == "grid" else "real"
        if cond.space in ("real-reshape", "three-blocks"):
            reshaped = fid.model_copy(update={"reshape_positions": True})
            distance = pieces.distances(kind, None, reshaped)
            if cond.space == "three-blocks":
                distance = controls.three_block_distances(distance, seed)
        else:
            distance = pieces.distances(kind, cond.grid_shape, fid)
        if cond.space == "real-shuffled":
            perm = stream(seed, "space-shuffle").permutation(n)
            distance = distance[np.ix_(perm, perm)]
        meta["distance_normalisation"] = space.normalisation_label(kind, fid.unnormalised_distances)
        if kind == "grid":
            meta["grid_shape"] = list(cond.grid_shape or space.paper_grid_shape(n))

    # --- communicability and strengths ---
    emd_target = None
    if cond.communicability == "emd":
        emd_target = pieces.emd_target(fid.emd_strength_epsilon)
        if not np.any(emd_target > 0):
            raise ValueError(
                f"the selected neurons of dataset {pieces.c.name!r} have no synapses among them: "
                "the C* (emd) target is all zeros; select more neurons or use communicability "
                "none/direct"
            )
    lam = float(cond.lam)
    if (
        fid.l1_without_lambda
        and cond.space == "none"
        and cond.communicability == "none"
        and lam > 0
    ):
        lam = 1.0  # §5.2: the released baseline returns sum |W| without lambda
        meta["lam_note"] = "paper fidelity: baseline L1 without lambda (1.0)"

    return NetworkPrior(
        w_init=np.ascontiguousarray(w),
        distance=None if distance is None else np.ascontiguousarray(distance),
        communicability=cond.communicability,
        communicability_grad=cond.communicability_grad,
        lam=lam,
        lam_emd=float(cond.lam_emd) if cond.communicability == "emd" else 0.0,
        emd_target=emd_target,
        emd_weighting=cond.communicability == "emd" and cond.emd_weighting,
        fixed_batch_order=fid.fixed_batch_order,
        sign=cond.sign,
        excitatory=excitatory,
        meta=meta,
    )
