"""Datasets on a worker without the API's store: fetched from the API by content hash into a
cache of bounded size on this host, least recently used evicted first, and verified against
their hash whenever they are read from disk: a damaged entry (a disk error, a half-deleted
folder, someone's edit) is deleted and fetched again instead of training on wrong data."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.store import ConnectomeStore
from cortexrnn.services.connectome.types import Connectome

log = logging.getLogger("cortexrnn.worker")

Fetch = Callable[[str, str], bytes]  # (sha, file name) -> the file's bytes
USED = ".last_used"
IN_MEMORY = 2  # datasets kept loaded in this process (they are verified when read from disk)


class DatasetCache:
    def __init__(self, root: Path, max_bytes: int, fetch: Fetch) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.fetch = fetch
        self.fetches = 0
        self._loaded: OrderedDict[str, Connectome] = OrderedDict()

    def get(self, sha: str) -> Connectome:
        if sha in self._loaded:
            self._loaded.move_to_end(sha)
            self._touch(sha)
            return self._loaded[sha]
        for attempt in (1, 2):
            store = ConnectomeStore(self.root)  # a fresh one: its own memo would pin every dataset
            if not store.has(sha):
                self._fetch(store, sha)
            try:
                connectome = store.get(sha, verify=True)
            except Exception as exc:  # any failure to read it back means the entry is damaged
                log.warning(
                    "dataset %s in the cache at %s is damaged (%s: %s); fetching it again",
                    sha[:12],
                    self.root,
                    type(exc).__name__,
                    exc,
                )
                self.remove(sha)
                if attempt == 2:
                    raise DatasetError(
                        f"dataset {sha}: the copy fetched from the API does not match its hash"
                    ) from exc
                continue
            self._touch(sha)
            self._evict(keep=sha)
            self._loaded[sha] = connectome
            while len(self._loaded) > IN_MEMORY:
                self._loaded.popitem(last=False)
            return connectome
        raise AssertionError("unreachable")

    def _fetch(self, store: ConnectomeStore, sha: str) -> None:
        files = {name: self.fetch(sha, name) for name in ConnectomeStore.STORED_FILES}
        store.import_files(sha, files)  # verified against `sha` before it becomes visible
        self.fetches += 1
        log.info("fetched dataset %s into the cache (%d bytes)", sha[:12], self._size(sha))

    def _dir(self, sha: str) -> Path:
        return ConnectomeStore(self.root).dataset_dir(sha)

    def _touch(self, sha: str) -> None:
        # Recency lives in a file of its own: reading a dataset does not change its folder's
        # times on every file system (noatime), writing this file does.
        marker = self._dir(sha) / USED
        if marker.parent.is_dir():
            marker.write_text(f"{time.time():.6f}\n")

    def _size(self, sha: str) -> int:
        folder = self._dir(sha)
        return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())

    def entries(self) -> list[tuple[float, str, int]]:
        """(last used, sha, bytes) of every cached dataset, least recently used first."""
        out = []
        for sha in ConnectomeStore(self.root).list():
            marker = self._dir(sha) / USED
            try:
                used = float(marker.read_text())
            except (OSError, ValueError):
                used = 0.0  # never recorded: evicted first
            out.append((used, sha, self._size(sha)))
        return sorted(out)

    def _evict(self, keep: str) -> None:
        entries = self.entries()
        total = sum(size for _, _, size in entries)
        for _, sha, size in entries:
            if total <= self.max_bytes:
                break
            if sha == keep:
                continue
            log.info("dataset cache over %d bytes: evicting %s", self.max_bytes, sha[:12])
            self.remove(sha)
            total -= size
        if total > self.max_bytes:
            log.warning(
                "dataset cache at %s holds %d bytes, over its limit of %d "
                "(CORTEXRNN_DATASET_CACHE_MAX_BYTES): the dataset in use is larger",
                self.root,
                total,
                self.max_bytes,
            )

    def remove(self, sha: str) -> None:
        self._loaded.pop(sha, None)
        folder = self._dir(sha)
        # Renamed first, so that no reader ever sees a half-deleted entry as present.
        doomed = self.root / "tmp" / f"removing-{sha}-{os.getpid()}-{time.monotonic_ns()}"
        doomed.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(folder, doomed)
        except FileNotFoundError:
            return
        shutil.rmtree(doomed, ignore_errors=True)
