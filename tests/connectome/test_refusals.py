"""Every malformed input is refused with a message naming the file, column and problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cortexrnn.services.connectome import (
    ConnectomeStore,
    DatasetError,
    ingest_cave_tables,
    ingest_field_folders,
    load_safe_bundle,
)

F = "5_3_8"


@pytest.fixture()
def field(microns_dir: Path, tmp_path: Path) -> Path:
    dest = tmp_path / F
    shutil.copytree(microns_dir / F, dest)
    for p in dest.iterdir():
        p.chmod(0o644)
    return dest


def _csv(field: Path) -> pd.DataFrame:
    return pd.read_csv(field / f"connectome_{F}.csv", index_col=0)


def test_missing_files(field: Path) -> None:
    (field / f"positions_{F}.npy").unlink()
    with pytest.raises(DatasetError, match=rf"positions_{F}\.npy: missing file"):
        ingest_field_folders([field], "x")


def test_missing_root_ids(field: Path) -> None:
    (field / f"root_ids_{F}.npy").unlink()
    with pytest.raises(DatasetError, match=rf"root_ids_{F}\.npy: missing file"):
        ingest_field_folders([field], "x")


def test_missing_matrix_without_spikes(field: Path) -> None:
    (field / "corr_matrix.npy").unlink()
    (field / f"spikes_{F}.npy").unlink()
    with pytest.raises(DatasetError, match=r"corr_matrix\.npy: missing file \(and no spikes"):
        ingest_field_folders([field], "x")


def test_missing_matrix_with_spikes_is_derived(field: Path) -> None:
    (field / "precision_matrix.npy").unlink()
    c = ingest_field_folders([field], "x")
    assert c.meta["per_field"][F]["functional_source"]["precision"].startswith(f"spikes_{F}")


def test_no_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"no connectome_<field>.csv"):
        ingest_field_folders([tmp_path], "x")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_coordinates(field: Path, bad: float) -> None:
    pos = np.array(
        [list(p) for p in np.load(field / f"positions_{F}.npy", allow_pickle=True)], dtype=float
    )
    pos[4, 1] = bad
    np.save(field / f"positions_{F}.npy", pos)
    with pytest.raises(
        DatasetError, match=rf"positions_{F}\.npy: NaN or infinite coordinates in rows \[4\]"
    ):
        ingest_field_folders([field], "x")


def test_positions_given_as_3_by_n_are_transposed(field: Path) -> None:
    raw = np.array([list(p) for p in np.load(field / f"positions_{F}.npy", allow_pickle=True)])
    np.save(field / f"positions_{F}.npy", np.ascontiguousarray(raw.T))
    c = ingest_field_folders([field], "x")
    np.testing.assert_array_equal(c.positions_nm, raw * [4, 4, 40])


def test_n_mismatch_between_files(field: Path) -> None:
    ids = np.load(field / f"unit_ids_{F}.npy")
    np.save(field / f"unit_ids_{F}.npy", ids[:-1])
    with pytest.raises(
        DatasetError, match=rf"unit_ids_{F}\.npy: 41 ids but root_ids_{F}\.npy has 42 .*N mismatch"
    ):
        ingest_field_folders([field], "x")


def test_csv_rows_mismatch(field: Path) -> None:
    df = _csv(field).iloc[:-1, :-1]
    df.to_csv(field / f"connectome_{F}.csv")
    with pytest.raises(DatasetError, match=rf"connectome_{F}\.csv: 41 rows but root_ids has 42"):
        ingest_field_folders([field], "x")


def test_csv_not_square(field: Path) -> None:
    df = _csv(field).iloc[:, :-1]
    df.to_csv(field / f"connectome_{F}.csv")
    with pytest.raises(
        DatasetError, match=rf"connectome_{F}\.csv: matrix must be square, got shape \(42, 41\)"
    ):
        ingest_field_folders([field], "x")


def test_negative_synapse_count(field: Path) -> None:
    df = _csv(field)
    df.iloc[2, 3] = -1
    df.to_csv(field / f"connectome_{F}.csv")
    with pytest.raises(
        DatasetError, match=rf"connectome_{F}\.csv: negative synapse count -1 at \(2, 3\)"
    ):
        ingest_field_folders([field], "x")


def test_non_numeric_csv_column(field: Path) -> None:
    df = _csv(field).astype(object)
    df.iloc[0, 5] = "two"
    df.to_csv(field / f"connectome_{F}.csv")
    with pytest.raises(DatasetError, match=rf"connectome_{F}\.csv: column '5' is not numeric"):
        ingest_field_folders([field], "x")


def test_csv_header_ids_do_not_join(field: Path) -> None:
    df = _csv(field)
    df.columns = [str(1000 + i) for i in range(42)]
    df.to_csv(field / f"connectome_{F}.csv")
    with pytest.raises(
        DatasetError, match=rf"connectome_{F}\.csv: header ids do not join the root_ids file"
    ):
        ingest_field_folders([field], "x")


def test_csv_with_root_id_header_is_reordered(field: Path) -> None:
    roots = np.load(field / f"root_ids_{F}.npy")
    df = _csv(field)
    want = df.to_numpy()
    perm = np.random.default_rng(0).permutation(42)
    shuffled = pd.DataFrame(
        want[np.ix_(perm, perm)], index=roots[perm], columns=[str(r) for r in roots[perm]]
    )
    shuffled.to_csv(field / f"connectome_{F}.csv")
    c = ingest_field_folders([field], "x")
    np.testing.assert_array_equal(c.synapse_counts.toarray(), want)


def test_non_square_matrix(field: Path) -> None:
    np.save(field / "corr_matrix.npy", np.zeros((42, 41)))
    with pytest.raises(
        DatasetError, match=r"corr_matrix\.npy: matrix must be square, got shape \(42, 41\)"
    ):
        ingest_field_folders([field], "x")


def test_matrix_wrong_n(field: Path) -> None:
    np.save(field / "precision_matrix.npy", np.eye(40))
    with pytest.raises(
        DatasetError, match=r"precision_matrix\.npy: matrix is 40 x 40 but the dataset has 42"
    ):
        ingest_field_folders([field], "x")


def test_asymmetric_correlation(field: Path) -> None:
    m = np.load(field / "corr_matrix.npy")
    m[0, 1] += 0.2
    np.save(field / "corr_matrix.npy", m)
    with pytest.raises(
        DatasetError, match=r"corr_matrix\.npy: correlation matrix must be symmetric"
    ):
        ingest_field_folders([field], "x")


def test_two_sided_asymmetric_sttc(field: Path) -> None:
    m = np.load(field / "sttc_matrix.npy")
    m = m + m.T - np.diag(np.diag(m))
    m[0, 1] += 0.2
    np.save(field / "sttc_matrix.npy", m)
    with pytest.raises(DatasetError, match=r"sttc_matrix\.npy: sttc matrix must be symmetric"):
        ingest_field_folders([field], "x")


def test_nan_in_matrix(field: Path) -> None:
    m = np.load(field / "corr_matrix.npy")
    m[3, 3] = np.nan
    np.save(field / "corr_matrix.npy", m)
    with pytest.raises(
        DatasetError, match=r"corr_matrix\.npy: correlation matrix has 1 NaN or infinite"
    ):
        ingest_field_folders([field], "x")


def test_duplicate_root_ids(field: Path) -> None:
    ids = np.load(field / f"root_ids_{F}.npy")
    ids[1] = ids[0]
    np.save(field / f"root_ids_{F}.npy", ids)
    with pytest.raises(DatasetError, match=rf"root_ids_{F}\.npy: ids must be unique"):
        ingest_field_folders([field], "x")


def test_safe_bundle_spikes_offsets_checked(field: Path, tmp_path: Path) -> None:
    from cortexrnn.services.connectome import convert_field_folder_local

    out = tmp_path / "safe"
    convert_field_folder_local(field, out)
    np.savez(out / f"spikes_{F}.npz", times=np.zeros(3), offsets=np.array([0, 5]), duration_s=1.0)
    with pytest.raises(DatasetError, match=rf"spikes_{F}\.npz: offsets must"):
        load_safe_bundle([out], "x")


# -- CAVE tables --------------------------------------------------------------------------


@pytest.fixture()
def cave(microns_dir: Path, tmp_path: Path, cave_writer) -> Path:
    c = ingest_field_folders([microns_dir / F], "f")
    cave_writer(c, tmp_path / "cave", fmt="csv")
    return tmp_path / "cave"


def test_cave_missing_table(cave: Path) -> None:
    (cave / "synapses_pni_2.csv").unlink()
    with pytest.raises(DatasetError, match="missing table synapses_pni_2"):
        ingest_cave_tables(cave, "x")


def test_cave_missing_column(cave: Path) -> None:
    df = pd.read_csv(cave / "coregistration_manual_v4.csv").drop(columns=["unit_id"])
    df.to_csv(cave / "coregistration_manual_v4.csv", index=False)
    with pytest.raises(
        DatasetError, match=r"coregistration_manual_v4\.csv: missing column\(s\) \['unit_id'\]"
    ):
        ingest_cave_tables(cave, "x")


def test_cave_missing_position_column(cave: Path) -> None:
    df = pd.read_csv(cave / "nucleus_detection_v0.csv").drop(columns=["pt_position"])
    df.to_csv(cave / "nucleus_detection_v0.csv", index=False)
    with pytest.raises(
        DatasetError, match=r"nucleus_detection_v0\.csv: missing column 'pt_position'"
    ):
        ingest_cave_tables(cave, "x")


def test_cave_nan_position(cave: Path) -> None:
    df = pd.read_csv(cave / "nucleus_detection_v0.csv")
    df.loc[2, "pt_position"] = "[1, NaN, 3]"
    df.to_csv(cave / "nucleus_detection_v0.csv", index=False)
    with pytest.raises(DatasetError, match=r"nucleus_detection_v0\.csv: column 'pt_position'"):
        ingest_cave_tables(cave, "x")


def test_cave_split_inf_position(cave: Path) -> None:
    df = pd.read_csv(cave / "nucleus_detection_v0.csv")
    xyz = np.array([[float(v) for v in s.strip("[]").split(",")] for s in df.pop("pt_position")])
    for k, a in enumerate("xyz"):
        df[f"pt_position_{a}"] = xyz[:, k]
    df.loc[0, "pt_position_z"] = np.inf
    df.to_csv(cave / "nucleus_detection_v0.csv", index=False)
    with pytest.raises(
        DatasetError,
        match=r"columns \['pt_position_x', 'pt_position_y', 'pt_position_z'\]: NaN or infinite",
    ):
        ingest_cave_tables(cave, "x")


def test_cave_ids_do_not_join(cave: Path) -> None:
    df = pd.read_csv(cave / "coregistration_manual_v4.csv")
    df.loc[0, "pt_root_id"] = 1
    df.loc[0, "target_id"] = 1
    df.to_csv(cave / "coregistration_manual_v4.csv", index=False)
    with pytest.raises(
        DatasetError,
        match=r"coregistration_manual_v4\.csv: column 'pt_root_id': "
        r"1 coregistered root ids do not join",
    ):
        ingest_cave_tables(cave, "x")


def test_cave_empty_filter(cave: Path) -> None:
    with pytest.raises(DatasetError, match="no coregistered neurons for session=99"):
        ingest_cave_tables(cave, "x", session=99)


def test_cave_negative_size(cave: Path) -> None:
    df = pd.read_csv(cave / "synapses_pni_2.csv")
    df.loc[0, "size"] = -4
    df.to_csv(cave / "synapses_pni_2.csv", index=False)
    with pytest.raises(DatasetError, match=r"synapses_pni_2\.csv: column 'size' has negative"):
        ingest_cave_tables(cave, "x")


def test_cave_spikes_do_not_join(cave: Path, tmp_path: Path) -> None:
    np.savez(
        tmp_path / "s.npz", times=np.zeros(0), offsets=np.array([0, 0]), root_ids=np.array([5])
    )
    with pytest.raises(
        DatasetError, match=r"s\.npz: 1 trains but|s\.npz: root_ids .* have no spike train"
    ):
        ingest_cave_tables(cave, "x", spikes=tmp_path / "s.npz")


def test_cave_supplied_matrix_wrong_n(cave: Path) -> None:
    with pytest.raises(
        DatasetError, match=r"functional\['correlation'\]: matrix is 3 x 3 but the dataset has"
    ):
        ingest_cave_tables(
            cave, "x", session=5, scan_idx=3, field=8, functional={"correlation": np.eye(3)}
        )


def test_store_refuses_negative_counts_and_keeps_nothing(microns_dir: Path, tmp_path: Path) -> None:
    import scipy.sparse as sp

    c = ingest_field_folders([microns_dir / F], "f")
    counts = c.synapse_counts.toarray()
    counts[0, 1] = -2
    bad = type(c)(c.name, c.neurons, sp.csr_matrix(counts), None, c.functional, c.spikes, c.meta)
    store = ConnectomeStore(tmp_path / "store")
    with pytest.raises(
        DatasetError, match=r"synapse_counts: negative synapse count -2 at \(0, 1\)"
    ):
        store.put(bad)
    assert store.list() == []
