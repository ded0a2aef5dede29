"""Deployment settings, read from ``CORTEXRNN_*`` environment variables.

Defaults are the embedded deployment: everything under ``~/.cortexrnn`` (or
``CORTEXRNN_HOME``), SQLite, and a filesystem broker that needs no server.
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from cortexrnn.services.spec.model import MAX_NEURONS, MAX_RUNS
from cortexrnn.wire.embedded import DEFAULT_API_HOST, DEFAULT_API_PORT, default_home

DEV_SECRET = "cortexrnn-embedded-dev-secret"


class UnsafeSettingsError(ValueError):
    """Settings that would be dangerous in a shared deployment."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CORTEXRNN_", extra="ignore")

    # The home folder and the default address are also what the client looks for
    # (cortexrnn.wire.embedded holds the rule for both sides).
    home: Path = Field(default_factory=default_home)
    database_url: str = ""
    broker_url: str = ""
    store_dir: Path | None = None
    artifacts_dir: Path | None = None
    secret_key: str = DEV_SECRET
    api_host: str = DEFAULT_API_HOST
    api_port: int = DEFAULT_API_PORT
    upload_max_bytes: int = 512 * 1024 * 1024
    request_max_bytes: int = 1024 * 1024
    heartbeat_timeout_s: float = 120.0
    max_attempts: int = 3
    default_queue: str = "cpu"  # Celery queue new packs go to: "cpu" or "gpu"
    max_pack_size: int = 32  # networks trained together in one population
    dispatch_timeout_s: float = 300.0  # a dispatched pack no worker claimed by then is sent again
    # Workers on hosts without the store fetch datasets from the API by content hash.
    api_url: str | None = None
    worker_token: str | None = None
    # Lifetime of a token issued without an explicit one (CORTEXRNN_TOKEN_TTL_DAYS).
    token_ttl_days: float = Field(90.0, gt=0)
    # Fair share: a user's past worker time counts half as much after this many hours.
    fair_share_half_life_h: float = Field(24.0, gt=0)
    final_nulls: int = 1000  # null graphs for small-worldness of each run's final matrix
    checkpoint_every_steps: int = 50
    # Memory (MiB) a pack's own process may take beyond what it holds when training starts
    # (worker/pack_memory.py); unset: the cost estimate plus margin, or no limit without one.
    pack_memory_limit_mb: float | None = Field(None, gt=0, allow_inf_nan=False)
    # Train each pack in its own memory-limited process (worker/pack_process.py), so that a
    # pack out of memory fails alone and the worker lives (CORTEXRNN_PACK_ISOLATION=0: in the
    # worker's process, as before).
    pack_isolation: bool = True
    # Pack processes allocate their large buffers in transparent huge pages (glibc's
    # malloc.hugetlb tunable, worker/malloc_tunables.py): ~15 % faster steps on CPU.
    huge_pages: bool = True
    # Pack processes keep the memory they free for their next allocations instead of giving it
    # back to the kernel (worker/malloc_tunables.py): no page faults after the first step.
    keep_freed_memory: bool = True
    allow_insecure: bool = False
    # Admission limits (shared/admission.py, docs/operations.md): a spec that exceeds one is
    # refused at submission with a 422 naming the field. The defaults let the paper's grids
    # through (a pack of 32 at N = 312 needs ~1.7 GB; a run ~45 s of one CPU core).
    max_pack_memory_gb: float = Field(8.0, gt=0, allow_inf_nan=False)
    # Optimiser steps per run (epochs x train_trials / batch_size); runs.total_steps is 32-bit.
    max_steps_per_run: int = Field(1_000_000, ge=1, le=2**31 - 1)
    max_trial_steps: int = Field(10_000, ge=1)  # time steps of one trial (a task's periods)
    max_neurons: int = Field(MAX_NEURONS, ge=1, le=MAX_NEURONS)
    max_runs_per_experiment: int = Field(MAX_RUNS, ge=1, le=MAX_RUNS)
    max_worker_hours_per_experiment: float = Field(10_000.0, gt=0, allow_inf_nan=False)
    # The cost model's worker time per FLOP on the queue's device kind (`default_queue`):
    # effective rates; the CPU's calibrated on the paper's runs (docs/operations.md).
    cpu_gflops: float = Field(40.0, gt=0, allow_inf_nan=False)
    gpu_gflops: float = Field(2000.0, gt=0, allow_inf_nan=False)
    # Notices of ended experiments (shared/notify.py, docs/operations.md). Webhooks go only
    # to hosts this comma-separated list allows: "external" (every address the name resolves
    # to is public: no loopback, private or link-local), "*" (anywhere, internal networks
    # included), or a host name or IP, with * globs ("*.lab.example.org"); empty: no webhooks.
    webhook_allowed_hosts: str = "external"
    # E-mail is sent only with a host and a from address; STARTTLS unless turned off.
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_from: str | None = None
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    # Where users open the dashboard, for links in e-mails (default: CORTEXRNN_API_URL, else
    # http://api_host:api_port).
    public_url: str | None = None

    @model_validator(mode="after")
    def _fill_embedded_defaults(self) -> Settings:
        self.home = self.home.expanduser()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home / 'cortexrnn.db'}"
        if not self.broker_url:
            self.broker_url = "filesystem://"
        if self.store_dir is None:
            self.store_dir = self.home / "store"
        if self.artifacts_dir is None:
            self.artifacts_dir = self.home / "artifacts"
        return self

    @property
    def is_embedded(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def webhook_host_patterns(self) -> list[str]:
        return [p.strip().lower() for p in self.webhook_allowed_hosts.split(",") if p.strip()]

    @property
    def smtp_configured(self) -> bool:
        return bool(self.smtp_host and self.smtp_from)

    @property
    def dashboard_url(self) -> str:
        base = self.public_url or self.api_url or f"http://{self.api_host}:{self.api_port}"
        return base.rstrip("/")

    @property
    def broker_dir(self) -> Path:
        return self.home / "broker"

    def refuse_unsafe(self) -> Settings:
        """Raise UnsafeSettingsError for settings that must not reach a shared deployment.

        Checked outside validation so that the error never echoes the raw input (passwords).
        """
        if self.allow_insecure or self.is_embedded:
            return self
        if self.secret_key == DEV_SECRET or len(self.secret_key) < 16:
            raise UnsafeSettingsError(
                "CORTEXRNN_SECRET_KEY is the embedded default (or shorter than 16 characters) "
                "while CORTEXRNN_DATABASE_URL points at a shared database "
                f"({self.redacted_database_url}). "
                "Set CORTEXRNN_SECRET_KEY to a long random value, e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
            )
        return self

    @property
    def redacted_database_url(self) -> str:
        return make_url(self.database_url).render_as_string(hide_password=True)


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings().refuse_unsafe()


def reset_settings_cache() -> None:
    """Forget cached settings (tests and CLIs that change the environment)."""
    get_settings.cache_clear()
