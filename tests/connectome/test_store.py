"""The content-addressed store and the derived-matrix cache."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cortexrnn.services.connectome import (
    ConnectomeStore,
    DatasetError,
    NeuronSelection,
    soma_distances_um,
    synthesize_cortex,
)


@pytest.fixture(scope="module")
def cortex():
    return synthesize_cortex(200, seed=0)


def test_put_get_round_trip(tmp_path: Path, cortex) -> None:
    store = ConnectomeStore(tmp_path)
    sha = store.put(cortex)
    assert len(sha) == 64 and store.put(cortex) == sha
    back = ConnectomeStore(tmp_path).get(sha, verify=True)
    pd.testing.assert_frame_equal(back.neurons, cortex.neurons)
    assert (back.synapse_counts != cortex.synapse_counts).nnz == 0
    np.testing.assert_allclose(back.synapse_sizes.toarray(), cortex.synapse_sizes.toarray())
    for k, m in cortex.functional.items():
        np.testing.assert_array_equal(back.functional[k], m)
    np.testing.assert_array_equal(back.spikes.offsets, cortex.spikes.offsets)
    assert back.meta == cortex.meta and back.name == cortex.name
    # Only safe formats on disk: every array file loads without pickle.
    d = store.dataset_dir(sha)
    assert sorted(p.name for p in d.iterdir()) == ["arrays.npz", "manifest.json", "neurons.parquet"]
    with np.load(d / "arrays.npz", allow_pickle=False) as z:
        assert all(z[k].dtype != object for k in z.files)
    assert store.list() == [sha]
    assert not any((tmp_path / "tmp").iterdir())


def test_sha_depends_on_content(tmp_path: Path, cortex) -> None:
    store = ConnectomeStore(tmp_path)
    other = cortex.subset(np.arange(199))
    assert store.put(other) != store.put(cortex)


def test_cache_second_request_is_a_hit(tmp_path: Path, cortex) -> None:
    store = ConnectomeStore(tmp_path)
    sha = store.put(cortex)
    calls = []

    def compute():
        calls.append(1)
        return soma_distances_um(cortex.positions_nm)

    key = {"dataset": sha, "selection": NeuronSelection(), "params": {}}
    first = store.cached("distances", key, compute)
    second = ConnectomeStore(tmp_path).cached("distances", key, compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(first, second)
    # Different parameters: a different entry.
    store.cached("distances", {**key, "params": {"x": 1}}, compute)
    assert len(calls) == 2


def test_prior_keys_include_bin_and_dt(tmp_path: Path, cortex) -> None:
    store = ConnectomeStore(tmp_path)
    sha = store.put(cortex)
    sel = NeuronSelection(strategy="random", n_neurons=50, seed=1)
    a = store.prior(sha, "functional", sel, bin_s=0.5, sttc_dt_s=0.5)
    assert store.misses == 1
    b = store.prior(sha, "functional", sel, bin_s=0.5, sttc_dt_s=0.5)
    assert store.hits == 1
    np.testing.assert_array_equal(a["sttc"], b["sttc"])
    c = store.prior(sha, "functional", sel, bin_s=0.5, sttc_dt_s=1.0)
    assert store.misses == 2 and not np.array_equal(a["sttc"], c["sttc"])
    np.testing.assert_array_equal(a["correlation"], c["correlation"])
    d = store.prior(sha, "distances", sel)
    assert d.shape == (50, 50)


def _hammer(root: str, seed: int, out) -> None:
    store = ConnectomeStore(Path(root))
    c = synthesize_cortex(120, seed=9)
    shas = set()
    for i in range(15):
        shas.add(store.put(c))
        v = store.cached("big", {"i": i % 3}, lambda i=i: np.full((300, 300), float(i % 3)))
        if not np.all(v == float(i % 3)):
            out.put("bad value")
            return
    out.put(shas.pop())


def test_concurrent_writers_do_not_corrupt(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(str(tmp_path), s, q)) for s in range(2)]
    for p in procs:
        p.start()
    results = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert results[0] == results[1] and len(results[0]) == 64
    store = ConnectomeStore(tmp_path)
    store.get(results[0], verify=True)
    for i in range(3):
        np.testing.assert_array_equal(
            store.cached("big", {"i": i}, lambda: pytest.fail("should hit")), float(i)
        )
    leftovers = list((tmp_path / "tmp").iterdir()) + [p for p in (tmp_path / "cache").rglob(".*")]
    assert leftovers == []


def test_failed_put_leaves_nothing(tmp_path: Path, cortex) -> None:
    bad = cortex.subset(np.arange(10))
    bad.functional["correlation"][0, 1] = 0.7  # now asymmetric
    store = ConnectomeStore(tmp_path)
    with pytest.raises(DatasetError, match=r"functional\['correlation'\].*must be symmetric"):
        store.put(bad)
    assert store.list() == []
    assert not (tmp_path / "datasets").exists() or not any((tmp_path / "datasets").iterdir())


def test_cache_refuses_bad_kind_and_objects(tmp_path: Path) -> None:
    store = ConnectomeStore(tmp_path)
    with pytest.raises(DatasetError, match="cache kind must match"):
        store.cached("../evil", {}, lambda: np.zeros(1))
    with pytest.raises(DatasetError, match="numeric arrays"):
        store.cached("objs", {}, lambda: np.array([{"a": 1}], dtype=object))
    assert not list((tmp_path / "cache").rglob("*.npz"))
