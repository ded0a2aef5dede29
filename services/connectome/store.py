"""The content-addressed on-disk store of datasets and of matrices derived from them.

Layout under `root`:
  datasets/<sha256>/ manifest.json, arrays.npz (allow_pickle=False), neurons.parquet
  cache/<kind>/<key sha256>.npz
  tmp/ work area; everything is written there first and moved in with os.replace, so a
  reader (or a second writer in another process) sees either nothing or the whole thing.

A dataset's sha256 is computed from its content (arrays, neuron table, name, meta), not from
file bytes, so it is the same whatever the parquet/npz writer versions.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel

from cortexrnn.services.connectome.derived import derive
from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.neurons import canonical_neurons
from cortexrnn.services.connectome.selection import NeuronSelection, select
from cortexrnn.services.connectome.types import FUNCTIONAL_KINDS, Connectome, SpikeTrains
from cortexrnn.services.connectome.validation import canonical_csr, validate_connectome

FORMAT_VERSION = 1
# Bump when a derived computation changes meaning, so stale cache entries are never hit.
CODE_VERSION = "connectome-derived-1"
_KIND_RE = re.compile(r"^[a-z0-9_\-]{1,64}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


def jsonable(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return jsonable(obj.model_dump(mode="json"))
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, NaN refused: equal keys, equal bytes."""
    return json.dumps(
        jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=True
    )


def _arrays_of(c: Connectome) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    counts = canonical_csr(c.synapse_counts.astype(np.int64))
    arrays["counts_indptr"] = counts.indptr.astype(np.int64)
    arrays["counts_indices"] = counts.indices.astype(np.int64)
    arrays["counts_data"] = counts.data.astype(np.int64)
    if c.synapse_sizes is not None:
        sizes = canonical_csr(c.synapse_sizes.astype(np.float64))
        arrays["sizes_indptr"] = sizes.indptr.astype(np.int64)
        arrays["sizes_indices"] = sizes.indices.astype(np.int64)
        arrays["sizes_data"] = sizes.data.astype(np.float64)
    for kind in sorted(c.functional):
        arrays[f"functional_{kind}"] = np.ascontiguousarray(c.functional[kind], dtype=np.float64)
    if c.spikes is not None:
        arrays["spikes_times"] = np.ascontiguousarray(c.spikes.times, dtype=np.float64)
        arrays["spikes_offsets"] = np.ascontiguousarray(c.spikes.offsets, dtype=np.int64)
        arrays["spikes_duration_s"] = np.array(c.spikes.duration_s, dtype=np.float64)
    neurons = canonical_neurons(c.neurons)
    for col in ("root_id", "unit_id", "nucleus_id"):
        arrays[f"neurons_{col}"] = neurons[col].to_numpy(dtype=np.int64)
    for col in ("x_nm", "y_nm", "z_nm"):
        arrays[f"neurons_{col}"] = neurons[col].to_numpy(dtype=np.float64)
    return arrays


def content_sha256(c: Connectome) -> str:
    """sha256 over every array (dtype, shape, bytes), the string columns, name and meta."""
    h = hashlib.sha256()
    h.update(f"cortexrnn-connectome-v{FORMAT_VERSION}\n".encode())
    for key, arr in sorted(_arrays_of(c).items()):
        arr = np.ascontiguousarray(arr)
        h.update(f"{key}|{arr.dtype.str}|{arr.shape}\n".encode())
        h.update(arr.tobytes())
    neurons = canonical_neurons(c.neurons)
    strings = {col: neurons[col].tolist() for col in ("field", "cell_type")}
    h.update(canonical_json({"name": c.name, "meta": c.meta, "strings": strings}).encode())
    return h.hexdigest()


class ConnectomeStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0
        self._loaded: dict[str, Connectome] = {}

    # -- paths ---------------------------------------------------------------------------
    def _tmp(self) -> Path:
        tmp = self.root / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return tmp / f"{os.getpid()}-{uuid.uuid4().hex}"

    def dataset_dir(self, sha: str) -> Path:
        if not _SHA_RE.match(sha):
            raise DatasetError(f"not a dataset sha256: {sha!r}")
        return self.root / "datasets" / sha

    # -- datasets ------------------------------------------------------------------------
    def put(self, connectome: Connectome) -> str:
        """Validate, then store atomically; returns the content sha256 (idempotent)."""
        validate_connectome(connectome)
        sha = content_sha256(connectome)
        final = self.dataset_dir(sha)
        if (final / "manifest.json").exists():
            return sha
        tmp = self._tmp()
        tmp.mkdir(parents=True)
        try:
            # Any, not ndarray: numpy's stub matches ** entries against `allow_pickle: bool` too.
            arrays: dict[str, Any] = _arrays_of(connectome)
            np.savez(tmp / "arrays.npz", **arrays)
            canonical_neurons(connectome.neurons).to_parquet(tmp / "neurons.parquet", index=False)
            manifest = {
                "format_version": FORMAT_VERSION,
                "sha256": sha,
                "name": connectome.name,
                "n_neurons": connectome.n_neurons,
                "meta": jsonable(connectome.meta),
            }
            (tmp / "manifest.json").write_text(canonical_json(manifest))
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(tmp, final)
            except OSError:
                if not (final / "manifest.json").exists():
                    raise
                # Another writer stored the same content first; theirs is identical.
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return sha

    STORED_FILES = ("manifest.json", "arrays.npz", "neurons.parquet")

    def import_files(self, sha: str, files: dict[str, bytes]) -> None:
        """Add a dataset copied from another store (a worker fetching it from the API); its
        content is verified against `sha` before it becomes visible."""
        if self.has(sha):
            return
        missing = sorted(set(self.STORED_FILES) - set(files))
        if missing:
            raise DatasetError(f"dataset {sha}: files {missing} missing from the copy")
        tmp = self._tmp()
        tmp.mkdir(parents=True)
        try:
            for name in self.STORED_FILES:
                (tmp / name).write_bytes(files[name])
            staging = ConnectomeStore(self.root / "tmp" / f"verify-{tmp.name}")
            (staging.root / "datasets").mkdir(parents=True, exist_ok=True)
            os.replace(tmp, staging.dataset_dir(sha))
            staging.get(sha, verify=True)  # raises if the bytes are not this content
            final = self.dataset_dir(sha)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(staging.dataset_dir(sha), final)
            except OSError:
                if not self.has(sha):
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.rmtree(self.root / "tmp" / f"verify-{tmp.name}", ignore_errors=True)

    def has(self, sha: str) -> bool:
        return (self.dataset_dir(sha) / "manifest.json").exists()

    def list(self) -> list[str]:
        d = self.root / "datasets"
        return (
            sorted(p.name for p in d.iterdir() if (p / "manifest.json").exists())
            if d.is_dir()
            else []
        )

    def get(self, sha: str, verify: bool = False) -> Connectome:
        """Load a dataset (numeric arrays only: allow_pickle=False)."""
        if sha in self._loaded and not verify:
            return self._loaded[sha]
        d = self.dataset_dir(sha)
        if not (d / "manifest.json").exists():
            raise DatasetError(f"dataset {sha} is not in the store at {self.root}")
        manifest = json.loads((d / "manifest.json").read_text())
        with np.load(d / "arrays.npz", allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
        n = int(manifest["n_neurons"])
        neurons = canonical_neurons(pd.read_parquet(d / "neurons.parquet"))
        counts = sp.csr_matrix(
            (a["counts_data"], a["counts_indices"], a["counts_indptr"]), shape=(n, n)
        )
        sizes = None
        if "sizes_data" in a:
            sizes = sp.csr_matrix(
                (a["sizes_data"], a["sizes_indices"], a["sizes_indptr"]), shape=(n, n)
            )
        functional = {k: a[f"functional_{k}"] for k in FUNCTIONAL_KINDS if f"functional_{k}" in a}
        spikes = None
        if "spikes_times" in a:
            spikes = SpikeTrains(
                a["spikes_times"], a["spikes_offsets"], float(a["spikes_duration_s"])
            )
        c = Connectome(
            manifest["name"], neurons, counts, sizes, functional, spikes, manifest["meta"]
        )
        if verify and content_sha256(c) != sha:
            raise DatasetError(
                f"dataset {sha}: stored content does not match its sha256 (corrupt store)"
            )
        self._loaded[sha] = c
        return c

    # -- derived-matrix cache ------------------------------------------------------------
    @staticmethod
    def cache_key(kind: str, key: dict) -> str:
        return hashlib.sha256(
            canonical_json({"kind": kind, "key": key, "code_version": CODE_VERSION}).encode()
        ).hexdigest()

    def cache_path(self, kind: str, key: dict) -> Path:
        if not _KIND_RE.match(kind):
            raise DatasetError(f"cache kind must match {_KIND_RE.pattern}, got {kind!r}")
        return self.root / "cache" / kind / f"{self.cache_key(kind, key)}.npz"

    # An array computed is an array returned, a dict a dict (so `cached` is a priors `Cache`).
    @overload
    def cached(
        self, kind: str, key: dict[str, Any], compute: Callable[[], np.ndarray]
    ) -> np.ndarray: ...
    @overload
    def cached(
        self, kind: str, key: dict[str, Any], compute: Callable[[], dict[str, np.ndarray]]
    ) -> dict[str, np.ndarray]: ...
    @overload
    def cached(
        self,
        kind: str,
        key: dict[str, Any],
        compute: Callable[[], np.ndarray | dict[str, np.ndarray]],
    ) -> np.ndarray | dict[str, np.ndarray]: ...
    def cached(
        self,
        kind: str,
        key: dict[str, Any],
        compute: Callable[[], np.ndarray | dict[str, np.ndarray]],
    ) -> np.ndarray | dict[str, np.ndarray]:
        """The value stored under (kind, key, CODE_VERSION), computing and storing it on a miss.

        `key` should hold the dataset sha256, the selection and every parameter that changes
        the result (e.g. bin width and STTC dt). A hit is one read of one npz file.
        """
        path = self.cache_path(kind, key)
        try:
            with np.load(path, allow_pickle=False) as z:
                value = {k: z[k] for k in z.files}
            self.hits += 1
            return value["__array__"] if set(value) == {"__array__"} else value
        except FileNotFoundError:
            pass
        self.misses += 1
        result = compute()
        if isinstance(result, dict):
            bad = [k for k in result if not isinstance(k, str) or k == "__array__"]
            if bad:
                raise DatasetError(
                    f"cache {kind}: dict keys must be strings other than '__array__', got {bad}"
                )
            payload = {k: np.asarray(v) for k, v in result.items()}
        else:
            payload = {"__array__": np.asarray(result)}
        # Any, not ndarray: numpy's stub matches ** entries against `allow_pickle: bool` too.
        entries: dict[str, Any] = payload
        if any(v.dtype == object for v in payload.values()):
            raise DatasetError(f"cache {kind}: values must be numeric arrays, not objects")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.stem}.{os.getpid()}-{uuid.uuid4().hex}.npz"
        try:
            with open(tmp, "wb") as fh:
                np.savez(fh, **entries)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return result

    def prior(
        self,
        dataset_sha: str,
        kind: str,
        selection: NeuronSelection | None = None,
        **params: Any,
    ) -> np.ndarray | dict[str, np.ndarray]:
        """A derived matrix (derived.derive kinds) for the selected neurons, through the cache."""
        selection = selection or NeuronSelection()
        key = {"dataset": dataset_sha, "selection": selection, "params": params}

        def compute() -> np.ndarray | dict[str, np.ndarray]:
            c = self.get(dataset_sha)
            return derive(c.subset(select(c, selection)), kind, params)

        return self.cached(kind, key, compute)
