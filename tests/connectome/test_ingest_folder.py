"""The paper's per-field folders: counts, positions in nm, distances, several fields, safe
bundles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cortexrnn.services.connectome import (
    DatasetError,
    convert_field_folder_local,
    ingest_field_folders,
    load_safe_bundle,
    soma_distances_um,
)

pytestmark = pytest.mark.microns
FIELDS = ["6_6_2", "4_7_2", "5_3_4", "5_3_8"]


def _raw(folder: Path, f: str) -> dict:
    """What the files say, read independently of the ingest code."""
    csv = pd.read_csv(folder / f"connectome_{f}.csv", index_col=0).to_numpy()
    pos = np.array(
        [list(p) for p in np.load(folder / f"positions_{f}.npy", allow_pickle=True)], dtype=float
    )
    return {
        "counts": csv,
        "pos_vox": pos,
        "root_ids": np.load(folder / f"root_ids_{f}.npy"),
        "unit_ids": np.load(folder / f"unit_ids_{f}.npy"),
        "target_ids": np.load(folder / f"target_ids_{f}.npy"),
        "corr": np.load(folder / "corr_matrix.npy"),
        "sttc": np.load(folder / "sttc_matrix.npy"),
    }


def test_field_6_6_2_counts_and_distances(microns_dir: Path) -> None:
    c = ingest_field_folders([microns_dir / "6_6_2"], "f")
    assert c.n_neurons == 312
    assert c.n_connections == 316
    assert c.n_synapses == 338
    raw = _raw(microns_dir / "6_6_2", "6_6_2")
    # Hand computation: voxels x (4, 4, 40) nm, then µm, pair by pair for a sample of pairs.
    d = soma_distances_um(c.positions_nm)
    rng = np.random.default_rng(0)
    for i, j in rng.integers(0, 312, size=(200, 2)):
        dx = (raw["pos_vox"][i] - raw["pos_vox"][j]) * np.array([4.0, 4.0, 40.0]) / 1000.0
        assert d[i, j] == pytest.approx(float(np.sqrt((dx**2).sum())), rel=1e-12, abs=1e-9)
    assert np.all(np.diag(d) == 0)
    # Cortical scale check: a single field spans at most about a millimetre.
    assert 0 < d.max() < 1500


@pytest.mark.parametrize("f", FIELDS)
def test_every_example_field(microns_dir: Path, f: str) -> None:
    folder = microns_dir / f
    raw = _raw(folder, f)
    c = ingest_field_folders([folder], f"field-{f}")
    n = len(raw["root_ids"])
    assert c.n_neurons == n
    np.testing.assert_array_equal(c.synapse_counts.toarray(), raw["counts"])
    assert c.n_connections == int((raw["counts"] != 0).sum())
    np.testing.assert_array_equal(c.neurons["root_id"], raw["root_ids"])
    np.testing.assert_array_equal(c.neurons["unit_id"], raw["unit_ids"])
    np.testing.assert_array_equal(c.neurons["nucleus_id"], raw["target_ids"])
    np.testing.assert_array_equal(c.positions_nm, raw["pos_vox"] * [4, 4, 40])
    assert set(c.neurons["field"]) == {f}
    np.testing.assert_array_equal(c.functional["correlation"], raw["corr"])
    # STTC files hold the lower triangle: symmetrised from it.
    lower = np.tril(raw["sttc"], -1)
    np.testing.assert_array_equal(
        c.functional["sttc"], lower + lower.T + np.diag(np.diag(raw["sttc"]))
    )
    assert c.meta["per_field"][f]["sttc_symmetrised_from"] == "lower"
    has_spikes = (folder / f"spikes_{f}.npy").exists()
    assert (c.spikes is not None) == has_spikes
    if has_spikes:
        trains = np.load(folder / f"spikes_{f}.npy", allow_pickle=True)
        np.testing.assert_array_equal(c.spikes.neuron(5), np.sort(trains[5]))


def test_several_fields_are_block_diagonal(microns_dir: Path) -> None:
    parts = {f: ingest_field_folders([microns_dir / f], f) for f in ("4_7_2", "5_3_8")}
    c = ingest_field_folders([microns_dir / "4_7_2", microns_dir / "5_3_8"], "two")
    n1 = parts["4_7_2"].n_neurons
    assert c.n_neurons == n1 + parts["5_3_8"].n_neurons
    assert list(c.neurons["field"][:n1].unique()) == ["4_7_2"]
    assert c.fields == ["4_7_2", "5_3_8"]
    counts = c.synapse_counts.toarray()
    np.testing.assert_array_equal(counts[:n1, :n1], parts["4_7_2"].synapse_counts.toarray())
    assert not counts[:n1, n1:].any() and not counts[n1:, :n1].any()
    corr = c.functional["correlation"]
    np.testing.assert_array_equal(corr[n1:, n1:], parts["5_3_8"].functional["correlation"])
    assert not corr[:n1, n1:].any()
    assert "unknown" in c.meta["between_fields"]
    assert c.spikes is not None and c.spikes.n_neurons == c.n_neurons


def test_folder_of_fields_ingests_all_four(microns_dir: Path) -> None:
    c = ingest_field_folders([microns_dir], "all")
    assert sorted(c.fields) == sorted(FIELDS)
    assert c.n_neurons == 312 + 88 + 70 + 42
    assert c.spikes is None  # 6_6_2 has no spikes
    assert "spikes_dropped" in c.meta


def test_convert_then_safe_bundle_equals_local_ingest(microns_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    convert_field_folder_local(microns_dir / "5_3_8", out)
    assert np.load(out / "positions_5_3_8.npy", allow_pickle=False).shape == (42, 3)
    assert not (out / "spikes_5_3_8.npy").exists()
    safe = load_safe_bundle([out], "b")
    local = ingest_field_folders([microns_dir / "5_3_8"], "b")
    pd.testing.assert_frame_equal(safe.neurons, local.neurons)
    assert (safe.synapse_counts != local.synapse_counts).nnz == 0
    np.testing.assert_array_equal(safe.spikes.times, local.spikes.times)
    np.testing.assert_array_equal(safe.functional["sttc"], local.functional["sttc"])


def test_safe_loader_refuses_pickled_originals(microns_dir: Path) -> None:
    with pytest.raises(
        DatasetError, match=r"positions_5_3_8\.npy: a pickled object array.*convert"
    ):
        load_safe_bundle([microns_dir / "5_3_8"], "x")
