"""The canonical neuron table: one dtype per column whatever the source (csv, parquet, numpy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cortexrnn.services.connectome.types import NEURON_COLUMNS


def _strings_or_none(values: Sequence) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = (
            None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA else str(v)
        )
    return out


def make_neuron_table(
    root_id: Sequence[Any] | np.ndarray,
    unit_id: Sequence[Any] | np.ndarray,
    nucleus_id: Sequence[Any] | np.ndarray,
    field: Sequence,
    positions_nm: np.ndarray,
    cell_type: Sequence,
) -> pd.DataFrame:
    pos = np.asarray(positions_nm, dtype=np.float64)
    return pd.DataFrame(
        {
            "root_id": np.asarray(root_id, dtype=np.int64),
            "unit_id": np.asarray(unit_id, dtype=np.int64),
            "nucleus_id": np.asarray(nucleus_id, dtype=np.int64),
            "field": pd.Series(_strings_or_none(list(field)), dtype=object),
            "x_nm": pos[:, 0],
            "y_nm": pos[:, 1],
            "z_nm": pos[:, 2],
            "cell_type": pd.Series(_strings_or_none(list(cell_type)), dtype=object),
        },
        columns=NEURON_COLUMNS,
    )


def canonical_neurons(df: pd.DataFrame) -> pd.DataFrame:
    """Re-type a table read back from parquet (or built elsewhere) to the canonical dtypes."""
    return make_neuron_table(
        df["root_id"].to_numpy(),
        df["unit_id"].to_numpy(),
        df["nucleus_id"].to_numpy(),
        df["field"].tolist(),
        df[["x_nm", "y_nm", "z_nm"]].to_numpy(dtype=np.float64),
        df["cell_type"].tolist(),
    )
