"""The worker's dataset cache: fetched by content hash, bounded in size (least recently used
evicted first, never the one in use), verified whenever read from disk (a damaged entry is
fetched again, a copy that does not match its hash is refused)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.store import ConnectomeStore, content_sha256
from cortexrnn.services.connectome.synthetic import synthesize_cortex
from cortexrnn.worker.dataset_cache import DatasetCache


@pytest.fixture()
def source(tmp_path: Path) -> tuple[ConnectomeStore, list[str]]:
    """The API's store with three small datasets."""
    store = ConnectomeStore(tmp_path / "api-store")
    shas = [store.put(synthesize_cortex(30, seed, name=f"d{seed}")) for seed in range(3)]
    return store, shas


class Fetcher:
    def __init__(self, store: ConnectomeStore) -> None:
        self.store = store
        self.calls: list[str] = []

    def __call__(self, sha: str, name: str) -> bytes:
        self.calls.append(sha)
        return (self.store.dataset_dir(sha) / name).read_bytes()

    def fetched(self) -> int:
        return len(self.calls) // len(ConnectomeStore.STORED_FILES)


def _bytes_of(store: ConnectomeStore, sha: str) -> int:
    return sum(p.stat().st_size for p in store.dataset_dir(sha).iterdir())


def test_fetched_once_then_read_from_disk_verified(source, tmp_path) -> None:
    store, (sha, *_) = source
    fetch = Fetcher(store)
    cache = DatasetCache(tmp_path / "cache", 10**9, fetch)
    c = cache.get(sha)
    assert content_sha256(c) == sha and fetch.fetched() == 1
    # Another worker process on the same host: read from disk (verified), not fetched.
    again = DatasetCache(tmp_path / "cache", 10**9, fetch)
    assert content_sha256(again.get(sha)) == sha and fetch.fetched() == 1


def test_a_damaged_entry_is_fetched_again(source, tmp_path) -> None:
    store, (sha, *_) = source
    fetch = Fetcher(store)
    DatasetCache(tmp_path / "cache", 10**9, fetch).get(sha)
    arrays = ConnectomeStore(tmp_path / "cache").dataset_dir(sha) / "arrays.npz"
    arrays.write_bytes(arrays.read_bytes()[:-100])  # truncated by a disk or a person
    c = DatasetCache(tmp_path / "cache", 10**9, fetch).get(sha)
    assert content_sha256(c) == sha and fetch.fetched() == 2


def test_a_copy_that_does_not_match_its_hash_is_refused(source, tmp_path) -> None:
    store, (sha, other, _) = source

    def wrong(_sha: str, name: str) -> bytes:  # the API (or a proxy) sends another dataset
        return (store.dataset_dir(other) / name).read_bytes()

    with pytest.raises(DatasetError):
        DatasetCache(tmp_path / "cache", 10**9, wrong).get(sha)
    assert not ConnectomeStore(tmp_path / "cache").has(sha)


def test_least_recently_used_is_evicted_past_the_size(source, tmp_path) -> None:
    store, (a, b, c) = source
    room = max(_bytes_of(store, s) for s in (a, b, c)) * 2 + 1000  # two fit, not three
    fetch = Fetcher(store)
    cache = DatasetCache(tmp_path / "cache", room, fetch)
    cache.get(a)
    cache.get(b)
    cache.get(a)  # a is now more recent than b
    cache.get(c)
    cached = set(ConnectomeStore(tmp_path / "cache").list())
    assert cached == {a, c}
    assert sum(size for _, _, size in cache.entries()) <= room
    # One larger than the whole cache is still kept while it is used.
    tiny = DatasetCache(tmp_path / "tiny-cache", 10, fetch)
    assert content_sha256(tiny.get(a)) == a
    assert ConnectomeStore(tmp_path / "tiny-cache").list() == [a]
