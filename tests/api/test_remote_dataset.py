"""A worker on another host fills its store from the API by content hash, verified."""

from __future__ import annotations

from pathlib import Path

import pytest

from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.store import ConnectomeStore
from cortexrnn.shared.datasets_registry import get_store
from cortexrnn.worker.datasets import fetch_into_store
from tests.api.conftest import assert_error


def _sha(api) -> str:
    return api.get("/v1/datasets/tiny").json()["content_sha256"]


def test_worker_fetches_a_dataset_by_hash(api, tiny_dataset, tmp_path: Path) -> None:
    sha = _sha(api)
    remote = ConnectomeStore(tmp_path / "other-host-store")
    assert not remote.has(sha)
    api.client.headers["Authorization"] = f"Bearer {api.tokens['bob']}"
    fetch_into_store(remote, sha, api.client)
    assert remote.has(sha)
    here, there = get_store().get(sha), remote.get(sha, verify=True)
    assert (here.synapse_counts != there.synapse_counts).nnz == 0
    assert (here.positions_nm == there.positions_nm).all()


def test_a_tampered_copy_is_refused_and_leaves_nothing(api, tiny_dataset, tmp_path: Path) -> None:
    sha = _sha(api)
    src = get_store().dataset_dir(sha)
    files = {name: (src / name).read_bytes() for name in ConnectomeStore.STORED_FILES}
    files["manifest.json"] = files["manifest.json"].replace(b'"tiny"', b'"evil"')
    remote = ConnectomeStore(tmp_path / "other")
    with pytest.raises(DatasetError):
        remote.import_files(sha, files)
    assert not remote.has(sha) and remote.list() == []


def test_store_files_endpoint_refuses_unknown_names_and_hashes(api, tiny_dataset) -> None:
    sha = _sha(api)
    assert api.get(f"/v1/datasets/by-sha/{sha}/arrays.npz").status_code == 200
    assert_error(api.get(f"/v1/datasets/by-sha/{sha}/..%2F..%2Fcortexrnn.db"), 404)
    assert_error(api.get(f"/v1/datasets/by-sha/{sha}/secrets.txt"), 404, "filename")
    assert_error(api.get(f"/v1/datasets/by-sha/{'0' * 64}/arrays.npz"), 404)
    assert_error(api.client.get(f"/v1/datasets/by-sha/{sha}/arrays.npz"), 401)
