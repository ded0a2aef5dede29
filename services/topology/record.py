"""The typed record `compute_metrics` returns: every metric is a float or None, and every None
has a reason, so that a run never dies on an undefined metric and a reader sees why."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import pandas as pd

# Names of the scalar metrics, in the order they appear in tables.
METRIC_NAMES: tuple[str, ...] = (
    "entropy_kde",
    "entropy_hist",
    "spectral_radius",
    "threshold",
    "n_edges",
    "density",
    "modularity_cnm",
    "n_modules_cnm",
    "modularity_louvain",
    "n_modules_louvain",
    "assortativity",
    "transitivity",
    "avg_clustering",
    "global_efficiency",
    "char_path_length",
    "null_avg_clustering",
    "null_global_efficiency",
    "null_char_path_length",
    "small_world_sigma",
    "small_world_sigma_path",
    "small_world_omega",
    "small_world_propensity",
    "swp_delta_c",
    "swp_delta_l",
    "null_released_avg_clustering",
    "null_released_global_efficiency",
    "small_world_sigma_released",
    "directed_n_edges",
    "directed_reciprocity",
    "directed_avg_clustering",
    "directed_global_efficiency",
    "wiring_cost",
    "wiring_cost_graph",
    "weight_distance_pearson",
    "weight_distance_spearman",
    "functional_pearson",
    "functional_spearman",
    "anatomical_pearson",
    "anatomical_spearman",
)


@dataclass
class TopologyMetrics:
    """Metrics of one weight matrix. A metric is None when it is undefined for this matrix or
    was not requested; `reasons[name]` then says which. Graph metrics refer to the undirected
    top-fraction graph unless their name starts with `directed_`."""

    entropy_kde: float | None = None
    entropy_hist: float | None = None
    spectral_radius: float | None = None
    threshold: float | None = None
    n_edges: float | None = None
    density: float | None = None
    modularity_cnm: float | None = None
    n_modules_cnm: float | None = None
    modularity_louvain: float | None = None
    n_modules_louvain: float | None = None
    assortativity: float | None = None
    transitivity: float | None = None
    avg_clustering: float | None = None
    global_efficiency: float | None = None
    char_path_length: float | None = None
    null_avg_clustering: float | None = None
    null_global_efficiency: float | None = None
    null_char_path_length: float | None = None
    small_world_sigma: float | None = None
    small_world_sigma_path: float | None = None
    small_world_omega: float | None = None
    small_world_propensity: float | None = None
    swp_delta_c: float | None = None
    swp_delta_l: float | None = None
    null_released_avg_clustering: float | None = None
    null_released_global_efficiency: float | None = None
    small_world_sigma_released: float | None = None
    directed_n_edges: float | None = None
    directed_reciprocity: float | None = None
    directed_avg_clustering: float | None = None
    directed_global_efficiency: float | None = None
    wiring_cost: float | None = None
    wiring_cost_graph: float | None = None
    weight_distance_pearson: float | None = None
    weight_distance_spearman: float | None = None
    functional_pearson: float | None = None
    functional_spearman: float | None = None
    anatomical_pearson: float | None = None
    anatomical_spearman: float | None = None
    reasons: dict[str, str] = field(default_factory=dict)
    # Module label per node (CNM and Louvain), for sorting heatmaps; None when undefined.
    modules_cnm: list[int] | None = None
    modules_louvain: list[int] | None = None
    # How the metrics were computed: n, fraction, null model, null count, seed, timings.
    info: dict[str, Any] = field(default_factory=dict)

    def values(self) -> dict[str, float | None]:
        """The scalar metrics by name (None where undefined)."""
        return {name: getattr(self, name) for name in METRIC_NAMES}

    def set(self, name: str, value: float | None, reason: str | None = None) -> None:
        """Store a value; a None or non-finite value becomes None with `reason`."""
        if name not in METRIC_NAMES:
            raise KeyError(f"unknown topology metric {name!r}")
        if value is not None:
            value = float(value)
            if not math.isfinite(value):
                reason = reason or f"{name} is not finite ({value})"
                value = None
        if value is None:
            self.reasons[name] = reason or "not computed"
        else:
            self.reasons.pop(name, None)
        setattr(self, name, value)

    def fail(self, names: list[str] | tuple[str, ...], reason: str) -> None:
        """Mark several metrics undefined for one reason (kept if already set by an earlier
        reason)."""
        for name in names:
            if getattr(self, name) is None and name not in self.reasons:
                self.reasons[name] = reason

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_rows(self) -> list[dict[str, Any]]:
        """One row per metric: metric, value, reason — the tidy form the stats take."""
        return [
            {"metric": name, "value": value, "reason": self.reasons.get(name)}
            for name, value in self.values().items()
        ]


assert set(METRIC_NAMES) <= {f.name for f in fields(TopologyMetrics)}


def records_to_frame(
    records: dict[tuple[str, str, int], TopologyMetrics], prefix: str = ""
) -> pd.DataFrame:
    """Tidy [condition, task, seed, metric, value, reason] rows from {(condition, task, seed):
    record}, the input `services.stats` takes; `prefix` (e.g. "topo_") renames the metrics."""
    rows = []
    for key, rec in records.items():
        if not (isinstance(key, tuple) and len(key) == 3):
            raise ValueError(f"record keys must be (condition, task, seed) tuples, got {key!r}")
        condition, task, seed = key
        for row in rec.to_rows():
            rows.append({"condition": condition, "task": task, "seed": seed,
                         "metric": prefix + row["metric"], "value": row["value"],
                         "reason": row["reason"]})  # fmt: skip
    return pd.DataFrame(rows, columns=["condition", "task", "seed", "metric", "value", "reason"])
