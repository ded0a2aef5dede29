"""Fixtures for the connectome tests: CAVE-schema tables written from a dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cortexrnn.services.connectome.types import Connectome


def write_cave_tables(
    c: Connectome, out: Path, fmt: str = "csv", split_positions: bool = False, seed: int = 0
) -> dict:
    """Tables in the CAVE schema holding `c` plus distractors (uncoregistered neurons and their
    synapses)."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    n = c.n_neurons
    session, scan, field = (int(x) for x in c.neurons["field"].iloc[0].split("_"))
    roots = c.neurons["root_id"].to_numpy()
    vox = (c.positions_nm / np.array([4.0, 4.0, 40.0])).round().astype(np.int64)
    extra_roots = roots.max() + 1 + np.arange(5)
    extra_vox = vox[:5] + 100
    nuc_roots = np.concatenate([roots, extra_roots])
    nuc_vox = np.concatenate([vox, extra_vox])
    nucleus = pd.DataFrame(
        {
            "id": np.concatenate([c.neurons["nucleus_id"].to_numpy(), 10_000_000 + np.arange(5)]),
            "pt_root_id": nuc_roots,
            "volume": rng.uniform(200, 400, len(nuc_roots)),
        }
    )
    if split_positions:
        for k, axis in enumerate("xyz"):
            nucleus[f"pt_position_{axis}"] = nuc_vox[:, k]
    elif fmt == "csv":
        nucleus["pt_position"] = [f"[{x}, {y}, {z}]" for x, y, z in nuc_vox]
    else:
        nucleus["pt_position"] = [list(map(int, p)) for p in nuc_vox]
    # Shuffle rows so that the join, not the row order, has to line things up.
    nucleus = nucleus.sample(frac=1.0, random_state=seed).reset_index(drop=True)

    coo = c.synapse_counts.tocoo()
    pre = np.repeat(roots[coo.row], coo.data)
    post = np.repeat(roots[coo.col], coo.data)
    sizes = rng.integers(100, 5000, size=len(pre))
    # Synapses onto neurons outside the coregistered set must be ignored.
    pre = np.concatenate([pre, extra_roots[:3], roots[:3]])
    post = np.concatenate([post, roots[:3], extra_roots[2:5]])
    sizes = np.concatenate([sizes, [1, 2, 3, 4, 5, 6]])
    synapses = pd.DataFrame(
        {
            "pre_pt_root_id": pre,
            "post_pt_root_id": post,
            "size": sizes,
            "ctr_pt_position": ["[0, 0, 0]"] * len(pre),
        }
    )
    coreg = pd.DataFrame(
        {
            "target_id": c.neurons["nucleus_id"].to_numpy(),
            "pt_root_id": roots,
            "session": session,
            "scan_idx": scan,
            "unit_id": c.neurons["unit_id"].to_numpy(),
            "field": field,
            "residual": rng.uniform(0, 5, n),
            "score": rng.uniform(0, 1, n),
        }
    )
    # A coregistration in another scan, to be filtered away by session/scan/field.
    other = coreg.iloc[:2].copy()
    other["scan_idx"] = scan + 1
    other["pt_root_id"] = extra_roots[:2]
    other["target_id"] = 10_000_000 + np.arange(2)
    coreg = pd.concat([coreg, other], ignore_index=True)
    types = pd.DataFrame(
        {"pt_root_id": roots, "cell_type": np.where(np.arange(n) % 5 == 0, "BC", "L2/3-IT")}
    )

    tables = {
        "nucleus_detection_v0": nucleus,
        "synapses_pni_2": synapses,
        "coregistration_manual_v4": coreg,
        "aibs_metamodel_celltypes_v661": types,
    }
    for name, df in tables.items():
        if fmt == "csv":
            df.to_csv(out / f"{name}.csv", index=False)
        else:
            df.to_parquet(out / f"{name}.parquet", index=False)
    size_matrix = np.zeros((n, n))
    np.add.at(
        size_matrix,
        (np.repeat(coo.row, coo.data), np.repeat(coo.col, coo.data)),
        sizes[: int(coo.data.sum())],
    )
    return {
        "session": session,
        "scan_idx": scan,
        "field": field,
        "sizes": size_matrix,
        "types": types,
    }


@pytest.fixture()
def cave_writer():
    """write_cave_tables(connectome, out, fmt='csv'|'parquet', split_positions=bool) -> info."""
    return write_cave_tables
