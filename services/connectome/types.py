"""The in-memory form of one connectome dataset: what ingest produces and priors consume."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

# MICrONS voxel size in nanometres (x, y, z).
VOXEL_NM = np.array([4.0, 4.0, 40.0])

NEURON_COLUMNS = ["root_id", "unit_id", "nucleus_id", "field", "x_nm", "y_nm", "z_nm", "cell_type"]
FUNCTIONAL_KINDS = ("correlation", "sttc", "precision")


@dataclass(frozen=True)
class SpikeTrains:
    """Ragged spike times (seconds) stored as one flat array plus offsets (CSR-like)."""

    times: np.ndarray  # float64, all neurons concatenated
    offsets: np.ndarray  # int64, length N + 1
    duration_s: float

    def neuron(self, i: int) -> np.ndarray:
        return self.times[self.offsets[i] : self.offsets[i + 1]]

    @property
    def n_neurons(self) -> int:
        return len(self.offsets) - 1


@dataclass(frozen=True)
class Connectome:
    """One dataset. Row i of `neurons` is node i of every matrix.

    Matrices are oriented (pre, post): entry [i, j] is the connection i -> j.
    """

    name: str
    neurons: pd.DataFrame  # NEURON_COLUMNS; positions in nanometres
    synapse_counts: sp.csr_matrix  # (N, N) int64, pre -> post
    synapse_sizes: sp.csr_matrix | None = None  # (N, N) summed synapse size, pre -> post
    functional: dict[str, np.ndarray] = field(default_factory=dict)  # FUNCTIONAL_KINDS -> (N, N) float64
    spikes: SpikeTrains | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # source, license, citation, ...

    @property
    def n_neurons(self) -> int:
        return len(self.neurons)

    @property
    def positions_nm(self) -> np.ndarray:
        return self.neurons[["x_nm", "y_nm", "z_nm"]].to_numpy(dtype=np.float64)
