"""Response models of the API (requests use the spec models from cortexrnn.services.spec)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


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
    n_cached: int
    created: bool
    status: str


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
