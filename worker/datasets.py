"""Datasets for a worker: from the local store, or fetched from the API by content hash
(workers on other hosts) and kept in the local store, verified against the hash."""

from __future__ import annotations

import functools
import logging

import httpx

from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.store import ConnectomeStore
from cortexrnn.shared.datasets_registry import get_store
from cortexrnn.shared.settings import get_settings

log = logging.getLogger("cortexrnn.worker")


def fetch_into_store(store: ConnectomeStore, sha: str, client: httpx.Client) -> None:
    """Copy dataset `sha` from the API (`client` carries base URL and token) into `store`."""
    files = {}
    for name in ConnectomeStore.STORED_FILES:
        r = client.get(f"/v1/datasets/by-sha/{sha}/{name}")
        if r.status_code != 200:
            raise DatasetError(
                f"dataset {sha}: the API at {client.base_url} answered {r.status_code} for {name}"
            )
        files[name] = r.content
    store.import_files(sha, files)
    log.info("fetched dataset %s from %s", sha[:12], client.base_url)


@functools.lru_cache(maxsize=4)
def load_connectome(sha: str):  # noqa: ANN201 - a Connectome, loaded once per worker process
    store = get_store()
    if not store.has(sha):
        settings = get_settings()
        if not settings.api_url:
            raise DatasetError(
                f"dataset {sha} is not in this worker's store ({store.root}) and "
                "CORTEXRNN_API_URL is not set to fetch it"
            )
        headers = (
            {"Authorization": f"Bearer {settings.worker_token}"} if settings.worker_token else {}
        )
        with httpx.Client(
            base_url=settings.api_url.rstrip("/"), headers=headers, timeout=300
        ) as client:
            fetch_into_store(store, sha, client)
    return store.get(sha)
