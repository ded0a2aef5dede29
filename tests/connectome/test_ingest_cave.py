"""CAVE tables round trip: tables written from a field ingest to the same dataset as the folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cortexrnn.services.connectome import ingest_cave_tables, ingest_field_folders


@pytest.mark.microns
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize("split", [False, True], ids=["xyz-column", "split-columns"])
def test_cave_round_trip_matches_folder_ingest(
    microns_dir: Path, tmp_path: Path, fmt: str, split: bool, cave_writer
) -> None:
    folder = ingest_field_folders([microns_dir / "6_6_2"], "f")
    info = cave_writer(folder, tmp_path / "cave", fmt=fmt, split_positions=split)
    c = ingest_cave_tables(
        tmp_path / "cave",
        "c",
        session=info["session"],
        scan_idx=info["scan_idx"],
        field=info["field"],
    )
    assert c.n_neurons == 312
    for col in ("root_id", "unit_id", "nucleus_id", "field", "x_nm", "y_nm", "z_nm"):
        np.testing.assert_array_equal(
            c.neurons[col].to_numpy(), folder.neurons[col].to_numpy(), err_msg=col
        )
    np.testing.assert_array_equal(c.synapse_counts.toarray(), folder.synapse_counts.toarray())
    assert (c.n_connections, c.n_synapses) == (316, 338)
    np.testing.assert_allclose(c.synapse_sizes.toarray(), info["sizes"])
    expected_types = (
        info["types"].set_index("pt_root_id")["cell_type"].loc[c.neurons["root_id"]].tolist()
    )
    assert c.neurons["cell_type"].tolist() == expected_types
    assert c.functional == {}


@pytest.mark.microns
def test_cave_with_supplied_functional_and_spikes(
    microns_dir: Path, tmp_path: Path, cave_writer
) -> None:
    folder = ingest_field_folders([microns_dir / "5_3_8"], "f")
    info = cave_writer(folder, tmp_path / "cave", fmt="csv")
    sel = dict(session=info["session"], scan_idx=info["scan_idx"], field=info["field"])
    with_matrices = ingest_cave_tables(tmp_path / "cave", "c", functional=folder.functional, **sel)
    np.testing.assert_array_equal(with_matrices.functional["sttc"], folder.functional["sttc"])

    # Spikes in a safe npz, stored in reverse neuron order: joined back by root id.
    rev = np.arange(folder.n_neurons)[::-1]
    trains = folder.spikes.subset(rev)
    np.savez(
        tmp_path / "spikes.npz",
        times=trains.times,
        offsets=trains.offsets,
        root_ids=folder.neurons["root_id"].to_numpy()[rev],
        duration_s=folder.spikes.duration_s,
    )
    c = ingest_cave_tables(
        tmp_path / "cave", "c", spikes=tmp_path / "spikes.npz", bin_s=1.0, sttc_dt_s=0.3, **sel
    )
    np.testing.assert_array_equal(c.spikes.times, folder.spikes.times)
    # Correlation of 1 s bin counts, computed here with np.histogram and np.corrcoef.
    edges = np.arange(0, np.ceil(folder.spikes.duration_s) + 1.0, 1.0)
    hist = np.stack(
        [np.histogram(folder.spikes.neuron(i), edges)[0] for i in range(folder.n_neurons)]
    )
    np.testing.assert_allclose(c.functional["correlation"], np.corrcoef(hist), atol=1e-9)
    assert c.meta["functional_from_spikes"]["sttc_dt_s"] == 0.3


def test_duplicate_coregistration_keeps_best_score(tmp_path: Path) -> None:
    pd.DataFrame(
        {"id": [1, 2], "pt_root_id": [11, 12], "pt_position": ["[1, 2, 3]", "[4, 5, 6]"]}
    ).to_csv(tmp_path / "nucleus_detection_v0.csv", index=False)
    pd.DataFrame(
        {"pre_pt_root_id": [11, 11, 12], "post_pt_root_id": [12, 12, 11], "size": [5, 6, 7]}
    ).to_csv(tmp_path / "synapses_pni_2.csv", index=False)
    pd.DataFrame(
        {
            "target_id": [1, 2, 1],
            "pt_root_id": [11, 12, 11],
            "session": [4, 4, 5],
            "scan_idx": [7, 7, 3],
            "unit_id": [100, 200, 300],
            "field": [2, 2, 4],
            "residual": [1.0, 1.0, 1.0],
            "score": [0.2, 0.9, 0.8],
        }
    ).to_csv(tmp_path / "coregistration_manual_v4.csv", index=False)
    c = ingest_cave_tables(tmp_path, "tiny")
    assert c.neurons["unit_id"].tolist() == [200, 300]
    assert c.neurons["field"].tolist() == ["4_7_2", "5_3_4"]
    assert c.neurons["root_id"].tolist() == [12, 11]
    np.testing.assert_array_equal(c.synapse_counts.toarray(), [[0, 1], [2, 0]])
    np.testing.assert_array_equal(c.synapse_sizes.toarray(), [[0, 7], [11, 0]])
    np.testing.assert_array_equal(c.positions_nm, [[16, 20, 240], [4, 8, 120]])
    assert c.meta["duplicate_coregistrations_dropped"] == 1
