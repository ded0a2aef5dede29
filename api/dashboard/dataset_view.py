"""A dataset's neurons in space and its derived matrices, reduced for the browser."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial.distance import cdist

from cortexrnn.api.dashboard.images import MAX_SIDE, block_mean, encode, sparse_block_sum
from cortexrnn.services.connectome import ConnectomeStore, anatomical_weights, communicability
from cortexrnn.services.connectome.types import Connectome

MAX_NEURONS_SHOWN = 20_000  # a scatter beyond this is a blur; a fixed sample keeps its shape
MAX_COMMUNICABILITY_N = 4_000  # expm of a dense N×N matrix: seconds at 2,000, minutes beyond

TITLES = {
    "synapse_counts": "Synapse counts, pre → post (log scale)",
    "synapse_sizes": "Summed synapse sizes, pre → post (log scale)",
    "distances": "Soma distances (µm)",
    "communicability": "Communicability of the synapse counts",
    "correlation": "Functional: correlation",
    "sttc": "Functional: spike-time tiling coefficient",
    "precision": "Functional: precision (partial correlation)",
}


def matrix_kinds(c: Connectome) -> list[tuple[str, str]]:
    kinds = ["synapse_counts"]
    if c.synapse_sizes is not None:
        kinds.append("synapse_sizes")
    kinds.append("distances")
    if c.n_neurons <= MAX_COMMUNICABILITY_N:
        kinds.append("communicability")
    kinds += [k for k in ("correlation", "sttc", "precision") if k in c.functional]
    return [(k, TITLES[k]) for k in kinds]


def neurons(c: Connectome) -> dict[str, Any]:
    """Positions in µm with each neuron's field and cell type as small integer codes."""
    n = c.n_neurons
    idx = np.arange(n)
    if n > MAX_NEURONS_SHOWN:
        idx = np.sort(np.random.default_rng(0).choice(n, MAX_NEURONS_SHOWN, replace=False))
    pos = c.positions_nm[idx] / 1000.0
    table = c.neurons.iloc[idx]
    out: dict[str, Any] = {"n": n, "shown": len(idx)}
    for axis, column in zip("xyz", pos.T, strict=True):
        out[axis] = [round(float(v), 2) for v in column]
    for key in ("field", "cell_type"):
        values = table[key].astype(str).fillna("?").tolist()
        names = sorted(set(values))
        code = {v: i for i, v in enumerate(names)}
        out[key + "s"] = names
        out[key] = [code[v] for v in values]
    return out


def matrix(store: ConnectomeStore, sha: str, c: Connectome, kind: str) -> dict[str, Any]:
    n = c.n_neurons
    title = TITLES[kind]
    if kind == "synapse_counts":
        return encode(sparse_block_sum(c.synapse_counts), title=title, n=n, log=True)
    if kind == "synapse_sizes" and c.synapse_sizes is not None:
        return encode(sparse_block_sum(c.synapse_sizes), title=title, n=n, log=True)
    if kind == "distances":
        # One neuron per pixel row/column: exact distances between evenly spaced neurons
        # rather than an N×N matrix for large datasets.
        pick = np.unique(np.linspace(0, n - 1, min(n, MAX_SIDE)).round().astype(int))
        pos = c.positions_nm[pick] / 1000.0
        return encode(cdist(pos, pos), title=title, n=n, unit="µm")
    if kind == "communicability" and n <= MAX_COMMUNICABILITY_N:
        value = store.cached(
            "dashboard_communicability",
            {"dataset": sha, "measure": "counts"},
            lambda: communicability(anatomical_weights(c, "counts")),
        )
        return encode(block_mean(value), title=title, n=n, log=True)
    if kind in c.functional:
        return encode(block_mean(c.functional[kind]), title=title, n=n, diverging=True)
    raise KeyError(kind)
