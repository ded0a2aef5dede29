"""Connectome datasets: MICrONS ingest, synthetic cortex, derived matrices, the cache.

Server code reads only safe numeric formats (`load_safe_bundle`, `ingest_cave_tables`,
`ConnectomeStore`); `local.ingest_field_folders` unpickles and is for the user's machine.
"""

from cortexrnn.services.connectome.derived import (
    anatomical_weights,
    communicability,
    grid_distances,
    grid_positions,
    grid_shape,
    shuffled,
    shuffled_distances_um,
    soma_distances_um,
)
from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.functional import (
    binned_counts,
    correlation,
    functional_from_spikes,
    precision,
    spike_trains_from_list,
    sttc,
)
from cortexrnn.services.connectome.ingest_cave import ingest_cave_tables
from cortexrnn.services.connectome.ingest_folder import load_safe_bundle
from cortexrnn.services.connectome.local import convert_field_folder_local, ingest_field_folders
from cortexrnn.services.connectome.selection import NeuronSelection, select
from cortexrnn.services.connectome.store import ConnectomeStore, content_sha256
from cortexrnn.services.connectome.synthetic import synthesize_cortex
from cortexrnn.services.connectome.types import (
    FUNCTIONAL_KINDS,
    NEURON_COLUMNS,
    VOXEL_NM,
    Connectome,
    SpikeTrains,
)

__all__ = [
    "FUNCTIONAL_KINDS",
    "NEURON_COLUMNS",
    "VOXEL_NM",
    "Connectome",
    "ConnectomeStore",
    "DatasetError",
    "NeuronSelection",
    "SpikeTrains",
    "anatomical_weights",
    "binned_counts",
    "communicability",
    "content_sha256",
    "convert_field_folder_local",
    "correlation",
    "functional_from_spikes",
    "grid_distances",
    "grid_positions",
    "grid_shape",
    "ingest_cave_tables",
    "ingest_field_folders",
    "load_safe_bundle",
    "precision",
    "select",
    "shuffled",
    "shuffled_distances_um",
    "soma_distances_um",
    "spike_trains_from_list",
    "sttc",
    "synthesize_cortex",
]
