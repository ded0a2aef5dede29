"""What a worker on another host uses instead of shared folders: one HTTP client to the API
per process (a worker token, worker/artifact_client.py) and the dataset cache on its disk
(worker/dataset_cache.py). Workers without a worker token keep the shared-folder behaviour."""

from __future__ import annotations

import functools
from pathlib import Path

from cortexrnn.services.runner.pack import ExperimentInputs, prepare_inputs
from cortexrnn.shared.datasets_registry import get_store
from cortexrnn.shared.remote_settings import RemoteSettings, dataset_cache_dir, uses_api_transport
from cortexrnn.shared.settings import Settings
from cortexrnn.worker import claim
from cortexrnn.worker.artifact_client import ApiTransport
from cortexrnn.worker.dataset_cache import DatasetCache


def transport(settings: Settings, remote: RemoteSettings, worker: str) -> ApiTransport | None:
    """The API client of this worker process, or None where artifacts stay on local disk."""
    if not uses_api_transport(settings, remote):
        return None
    assert settings.api_url and settings.worker_token  # checked by uses_api_transport
    return _transport(settings.api_url, settings.worker_token, worker)


@functools.lru_cache(maxsize=4)
def _transport(api_url: str, token: str, worker: str) -> ApiTransport:
    return ApiTransport(api_url, token, worker)


@functools.lru_cache(maxsize=4)
def _cache(root: str, max_bytes: int, client: ApiTransport) -> DatasetCache:
    return DatasetCache(Path(root), max_bytes, client.dataset_file)


def load_inputs(
    claimed: claim.ClaimedPack,
    plan: claim.PackPlan,
    client: ApiTransport | None,
    settings: Settings,
    remote: RemoteSettings,
) -> ExperimentInputs:
    """The pack's inputs; its dataset from this host's store where it is there (the API's
    host, shared storage), else from the size-bounded cache, fetched by hash through the API."""
    sha = claimed.dataset_sha
    if client is None or sha is None or get_store().has(sha):
        return claim.load_inputs(claimed, plan)
    cache = _cache(str(dataset_cache_dir(settings, remote)), remote.dataset_cache_max_bytes, client)
    return prepare_inputs(plan.spec, cache.get(sha), claimed.selection)
