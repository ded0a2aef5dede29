"""Topology metrics of recurrent weight matrices (SCIENCE.md §6): weight entropy, the paper's
top-10 % graph, modularity, assortativity, clustering, efficiency, path length, small-world
indices against batched null graphs, wiring cost, correlations with reference matrices and the
spectral radius. Pure numpy/torch; no server imports."""

from .graphs import (
    degree_assortativity,
    ring_lattice,
    top_fraction_graph,
    top_fraction_threshold,
)
from .metrics import EPOCH_NULLS, FINAL_NULLS, compute_epoch_metrics, compute_metrics
from .modularity import cnm_communities, cnm_modularity, louvain_modularity, modularity
from .paths import BatchStats, batch_stats, directed_stats
from .record import METRIC_NAMES, TopologyMetrics, records_to_frame

__all__ = [
    "EPOCH_NULLS",
    "FINAL_NULLS",
    "METRIC_NAMES",
    "BatchStats",
    "TopologyMetrics",
    "batch_stats",
    "cnm_communities",
    "cnm_modularity",
    "compute_epoch_metrics",
    "compute_metrics",
    "degree_assortativity",
    "directed_stats",
    "louvain_modularity",
    "modularity",
    "records_to_frame",
    "ring_lattice",
    "top_fraction_graph",
    "top_fraction_threshold",
]
