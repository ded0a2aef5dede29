"""Settings of workers on other hosts and of the API's artifact store (``CORTEXRNN_*``, as
shared/settings.py; kept apart so that the multi-host pieces read theirs in one place)."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Literal

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cortexrnn.shared.settings import Settings
from cortexrnn.shared.worker_tokens import is_worker_token

GiB = 1024**3
MiB = 1024**2


class RemoteSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CORTEXRNN_", extra="ignore")

    # How a worker hands over weights and checkpoints. "api": uploads them to
    # CORTEXRNN_API_URL; "local": writes them to CORTEXRNN_ARTIFACTS_DIR (shared storage or
    # the API's own host); "auto": "api" where CORTEXRNN_WORKER_TOKEN is a worker token.
    artifact_transport: Literal["auto", "local", "api"] = "auto"
    # A running pack's latest checkpoint goes to the API at most this often (and always when
    # the worker drains on SIGTERM or the pack is cancelled).
    checkpoint_upload_every_s: float = 300.0
    # Datasets fetched from the API by content hash, least recently used evicted past the size.
    dataset_cache_dir: Path | None = None
    dataset_cache_max_bytes: int = 20 * GiB
    # API side: the largest artifact accepted, and the chunk size it asks workers for (capped
    # by CORTEXRNN_REQUEST_MAX_BYTES, the body limit of non-upload routes).
    artifact_max_bytes: int = 64 * GiB
    upload_chunk_bytes: int = 8 * MiB
    # API side: where finished artifacts live. Empty: CORTEXRNN_ARTIFACTS_DIR on local disk;
    # "s3://bucket/prefix": an S3-compatible bucket (pip install 'cortexrnn[s3]') at the
    # endpoint URL (unset: AWS itself), with the standard AWS credentials (AWS_ACCESS_KEY_ID
    # and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the host's role). docs/operations.md.
    artifact_store: str = ""
    artifact_s3_endpoint_url: str | None = None
    artifact_s3_region: str | None = None

    @field_validator("artifact_store")
    @classmethod
    def _store_url(cls, value: str) -> str:
        value = value.strip()
        if value and not re.fullmatch(r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?", value):
            raise ValueError(
                "CORTEXRNN_ARTIFACT_STORE: expected empty (local disk) or s3://bucket[/prefix] "
                "with a valid bucket name"
            )
        return value


@functools.lru_cache(maxsize=1)
def get_remote_settings() -> RemoteSettings:
    return RemoteSettings()


def uses_api_transport(settings: Settings, remote: RemoteSettings) -> bool:
    """Whether this worker sends its artifacts to the API instead of its artifacts folder."""
    if remote.artifact_transport == "local":
        return False
    if remote.artifact_transport == "api":
        if not settings.api_url or not settings.worker_token:
            raise ValueError(
                "CORTEXRNN_ARTIFACT_TRANSPORT=api needs CORTEXRNN_API_URL and a worker token in "
                "CORTEXRNN_WORKER_TOKEN (`cortexrnn workers token NAME` on the API host)"
            )
        return True
    return bool(settings.api_url) and is_worker_token(settings.worker_token)


def dataset_cache_dir(settings: Settings, remote: RemoteSettings) -> Path:
    return remote.dataset_cache_dir or settings.home / "dataset-cache"
