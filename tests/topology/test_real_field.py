"""The suite on a real MICrONS field: the paper's functional ("bio") init of field 6_6_2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from cortexrnn.services.topology import compute_metrics


@pytest.mark.microns
def test_functional_init_of_field_6_6_2_has_every_graph_metric(
    microns_dir: Path,
) -> None:
    field = microns_dir / "6_6_2"
    corr = np.load(field / "corr_matrix.npy", allow_pickle=False)
    sttc = np.load(field / "sttc_matrix.npy", allow_pickle=False)
    n = corr.shape[0]
    rng = np.random.default_rng(0)

    def minmax(x: np.ndarray) -> np.ndarray:
        return (x - x.min()) / (x.max() - x.min())

    w = (
        rng.lognormal(-0.5, 0.5, (n, n))
        * minmax(corr)
        * minmax(np.tril(sttc) + np.tril(sttc, -1).T)
    )
    m = compute_metrics(w, functional=corr, n_nulls=200)
    assert m.n_edges and m.n_edges > 0
    for name in ("entropy_kde", "modularity_cnm", "modularity_louvain", "small_world_sigma",
                 "small_world_propensity", "assortativity", "global_efficiency",
                 "spectral_radius"):  # fmt: skip
        assert getattr(m, name) is not None, (name, m.reasons.get(name))
    off = ~np.eye(n, dtype=bool)
    ref = scipy.stats.spearmanr(w[off], corr.T[off])[0]
    assert m.functional_spearman == pytest.approx(ref, rel=1e-10)
    assert m.functional_spearman > 0.2  # the init is built from the correlations
