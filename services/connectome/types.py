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

    def subset(self, indices: np.ndarray) -> SpikeTrains:
        """The trains of `indices`, in that order."""
        idx = np.asarray(indices, dtype=np.int64)
        lengths = np.diff(self.offsets)[idx]
        starts = self.offsets[:-1][idx]
        # Gather all selected ranges at once: start of each range plus position inside it.
        within = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        times = self.times[np.repeat(starts, lengths) + within]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return SpikeTrains(times=times, offsets=offsets, duration_s=self.duration_s)

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
    functional: dict[str, np.ndarray] = field(
        default_factory=dict
    )  # FUNCTIONAL_KINDS -> (N, N) float64
    spikes: SpikeTrains | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # source, license, citation, ...

    @property
    def n_neurons(self) -> int:
        return len(self.neurons)

    @property
    def positions_nm(self) -> np.ndarray:
        return self.neurons[["x_nm", "y_nm", "z_nm"]].to_numpy(dtype=np.float64)

    @property
    def n_connections(self) -> int:
        """Non-zero directed pairs."""
        return int((self.synapse_counts != 0).sum())

    @property
    def n_synapses(self) -> int:
        return int(self.synapse_counts.sum())

    @property
    def fields(self) -> list[str]:
        """Distinct fields in order of first appearance."""
        return list(dict.fromkeys(str(f) for f in self.neurons["field"]))

    def subset(self, indices: np.ndarray, name: str | None = None) -> Connectome:
        """The sub-dataset of neurons `indices` (in that order): node k is old node indices[k]."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.ndim != 1:
            raise ValueError(f"subset indices must be one-dimensional, got shape {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.n_neurons):
            raise ValueError(
                f"subset indices must lie in [0, {self.n_neurons}), got {idx.min()}..{idx.max()}"
            )
        counts = self.synapse_counts[idx][:, idx].tocsr()
        sizes = None if self.synapse_sizes is None else self.synapse_sizes[idx][:, idx].tocsr()
        return Connectome(
            name=name or self.name,
            neurons=self.neurons.iloc[idx].reset_index(drop=True),
            synapse_counts=counts,
            synapse_sizes=sizes,
            functional={k: v[np.ix_(idx, idx)] for k, v in self.functional.items()},
            spikes=None if self.spikes is None else self.spikes.subset(idx),
            meta=dict(self.meta),
        )
