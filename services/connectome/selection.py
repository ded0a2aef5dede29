"""Which neurons become the hidden units: a seeded, recorded choice."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, FiniteFloat

from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.types import Connectome


class NeuronSelection(BaseModel):
    """How to pick neurons.

    strategy: 'all' (every neuron) | 'field' (every neuron of `field`) | 'random' (n_neurons
    uniformly, seeded) | 'spatial' (the n_neurons nearest `centre_nm`, default the centroid of
    the pool) | 'cell_type' (neurons whose cell type is in `cell_types`). `field` restricts any
    strategy to one field; n_neurons on 'all', 'field' or 'cell_type' draws that many at random.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Literal["all", "field", "random", "spatial", "cell_type"] = "all"
    n_neurons: int | None = Field(default=None, ge=1)
    field: str | None = None
    cell_types: tuple[str, ...] | None = None
    # Finite only: a NaN centre would make every distance NaN and the pick arbitrary.
    centre_nm: tuple[FiniteFloat, FiniteFloat, FiniteFloat] | None = None
    seed: int = Field(0, ge=0, le=2**63 - 1)  # numpy's generators refuse negative seeds


def _pool(c: Connectome, sel: NeuronSelection) -> np.ndarray:
    pool = np.arange(c.n_neurons)
    if sel.field is not None:
        fields = c.neurons["field"].astype(object).to_numpy()
        pool = pool[fields == sel.field]
        if pool.size == 0:
            raise DatasetError(
                f"selection: field {sel.field!r} has no neurons; fields are {c.fields}"
            )
    if sel.strategy == "cell_type":
        if not sel.cell_types:
            raise DatasetError("selection: strategy 'cell_type' needs cell_types")
        types = c.neurons["cell_type"].astype(object).to_numpy()[pool]
        pool = pool[np.isin(types, list(sel.cell_types))]
        if pool.size == 0:
            known = sorted({t for t in c.neurons["cell_type"] if t is not None})
            raise DatasetError(
                f"selection: no neurons of cell type {list(sel.cell_types)}; known types: {known}"
            )
    return pool


def select(c: Connectome, sel: NeuronSelection) -> np.ndarray:
    """Sorted, deterministic neuron indices."""
    if c.n_neurons == 0:
        raise DatasetError(f"selection: dataset {c.name!r} has no neurons")
    if sel.strategy == "field" and sel.field is None:
        raise DatasetError("selection: strategy 'field' needs field")
    pool = _pool(c, sel)
    n = sel.n_neurons
    if sel.strategy in ("random", "spatial") and n is None:
        raise DatasetError(f"selection: strategy {sel.strategy!r} needs n_neurons")
    if n is not None and n > pool.size:
        where = f" in field {sel.field!r}" if sel.field else ""
        raise DatasetError(
            f"selection: n_neurons={n} but only {pool.size} neurons are available{where}"
        )
    if n is None or n == pool.size:
        return np.sort(pool)
    if sel.strategy == "spatial":
        pos = c.positions_nm[pool]
        centre = np.asarray(sel.centre_nm, dtype=np.float64) if sel.centre_nm else pos.mean(axis=0)
        d = np.sqrt(((pos - centre) ** 2).sum(axis=1))
        # Stable sort: ties resolved by index, so the choice never depends on the platform.
        return np.sort(pool[np.argsort(d, kind="stable")[:n]])
    if sel.strategy in ("random", "cell_type", "all", "field"):
        rng = np.random.default_rng(sel.seed)
        return np.sort(rng.choice(pool, size=n, replace=False))
    raise DatasetError(f"selection: unknown strategy {sel.strategy!r}")
