"""Response models of the API (requests use the spec models from cortexrnn.services.spec,
which the client does not need: it may send a spec as a plain mapping)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorField(BaseModel):
    path: str
    message: str


class ErrorDetail(BaseModel):
    status: int
    message: str
    fields: list[ErrorField] = []


class ErrorResponse(BaseModel):
    error: ErrorDetail


class SubmitResponse(BaseModel):
    id: int
    name: str | None
    n_runs: int
    n_cached: int  # answered at once from identical runs that succeeded
    # Identical to runs still being trained: queued until those finish, then given their
    # results (a run's `cached_from_id` names the run it waits for).
    n_waiting: int = 0
    created: bool
    status: str


class SpecCheck(BaseModel):
    """What a valid spec expands to (POST /v1/experiments/validate; nothing is stored):
    runs = conditions x seeds x tasks."""

    valid: bool = True
    name: str | None = None
    dataset: str
    n_runs: int
    conditions: list[str]
    seeds: list[int]
    tasks: list[str]  # the run labels (a task's label, else its name)
    spec_hash: str

    @classmethod
    def of(cls, spec: Any) -> SpecCheck:
        """From a validated cortexrnn.services.spec.ExperimentSpec (duck-typed: this module
        imports no science)."""
        return cls(
            name=spec.name,
            dataset=spec.dataset,
            n_runs=spec.n_runs,
            conditions=list(spec.conditions),
            seeds=list(spec.seed_list),
            tasks=[t.run_label for t in spec.tasks],
            spec_hash=spec.canonical_hash(),
        )

    def line(self) -> str:
        """`2 conditions x 3 seeds x 1 tasks = 6 runs`."""
        return (
            f"{len(self.conditions)} conditions x {len(self.seeds)} seeds x "
            f"{len(self.tasks)} tasks "
            f"= {self.n_runs} runs"
        )


class ExperimentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str | None
    owner: str
    status: str
    priority: int
    tags: list[str]
    spec_hash: str
    created_at: datetime
    finished_at: datetime | None
    n_runs: int
    counts: dict[str, int]
    progress: float  # percent
    eta_seconds: float | None


class ExperimentDetail(ExperimentOut):
    spec: dict[str, Any]


class ExperimentPage(BaseModel):
    items: list[ExperimentOut]
    total: int
    offset: int
    limit: int


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    experiment_id: int
    condition: str
    seed: int
    task: str
    state: str
    attempt: int
    progress: float
    step: int
    total_steps: int
    worker: str | None
    heartbeat_at: datetime | None
    cached_from_id: int | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class RunDetail(RunOut):
    summary: dict[str, float | None]
    summary_reasons: dict[str, str]


class MetricSeries(BaseModel):
    name: str
    steps: list[int]
    epochs: list[float | None]
    values: list[float | None]


class RunMetrics(BaseModel):
    run_id: int
    series: list[MetricSeries]


class DatasetOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    source: str
    content_sha256: str
    n_neurons: int
    n_connections: int
    n_synapses: int
    fields: list[Any]
    license: str | None
    citation: str | None
    created_at: datetime


class QueueUser(BaseModel):
    user: str
    priority: int
    pending: int
    queued: int
    running: int


class QueueWorker(BaseModel):
    name: str
    hostname: str
    device: str
    queues: list[str]
    concurrency: int
    heartbeat_at: datetime
    alive: bool


class QueueOut(BaseModel):
    users: list[QueueUser]
    workers: list[QueueWorker]


class TokenCreate(BaseModel):
    """POST /v1/tokens: a new token for the caller."""

    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(None, max_length=128, description="A note to tell tokens apart.")
    expires_in_days: int | None = Field(
        None,
        ge=1,
        le=3650,
        description="Lifetime in days (default: the server's, 90 unless configured).",
    )


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    prefix: str  # what `DELETE /v1/tokens/{prefix}` and `cortexrnn users revoke` take
    user: str
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None  # null: never expires
    expired: bool


class TokenCreated(TokenOut):
    token: str  # shown once; only its SHA-256 is stored
