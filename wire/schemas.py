"""Response models of the API (requests use the spec models from cortexrnn.services.spec,
which the client does not need: it may send a spec as a plain mapping)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field


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


def _size(n_bytes: float) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.3g} {unit}"
    return f"{n_bytes / 2**10:.3g} kB"


def _duration(seconds: float) -> str:
    for unit, scale in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= scale:
            return f"{seconds / scale:.2g} {unit}"
    return f"{seconds:.0f} s" if seconds >= 1 else "under 1 s"


class CostEstimate(BaseModel):
    """The server's cost model of a spec (services/spec/cost.py), against its queue's limits."""

    n_units: int = Field(description="Neurons per network (the selection's size).")
    n_runs: int
    run_peak_bytes: int = Field(description="Peak memory of the costliest run trained alone.")
    pack_networks: int = Field(description="Networks in the largest pack it forms.")
    pack_peak_bytes: int = Field(description="Peak memory of that pack.")
    pack_limit_bytes: int = Field(description="The queue's limit per pack.")
    run_flops: float = Field(description="Floating-point work of the costliest run.")
    flops_total: float
    worker_hours: float = Field(description="Worker time of all its runs, estimated.")
    worker_hours_limit: float = Field(description="The queue's limit per experiment.")
    device: str = Field(description="The device kind the worker time is estimated for.")

    def line(self) -> str:
        return (
            f"{self.n_runs} runs of N = {self.n_units}: peak memory {_size(self.run_peak_bytes)} "
            f"per run, {_size(self.pack_peak_bytes)} per pack of {self.pack_networks} (limit "
            f"{_size(self.pack_limit_bytes)}); {self.run_flops:.2g} FLOP per run; "
            f"{_duration(self.worker_hours * 3600)} of worker time on {self.device} in all "
            f"(limit {self.worker_hours_limit:g} worker-hours)"
        )


class QueueStart(BaseModel):
    """When an experiment submitted now would start: the worker time ahead of it over the live
    worker slots (everything waiting served first)."""

    slots: int = Field(description="Live worker slots serving the queue.")
    runs_ahead: int
    work_ahead_hours: float
    expected_start_s: float | None = Field(description="null: no live worker serves the queue.")

    def line(self) -> str:
        if self.expected_start_s is None:
            return (
                f"no live worker serves the queue; {self.runs_ahead} runs wait ahead "
                "(start one with `cortexrnn worker`)"
            )
        return (
            f"expected start in {_duration(self.expected_start_s)} ({self.runs_ahead} runs "
            f"ahead, {_duration(self.work_ahead_hours * 3600)} of worker time over "
            f"{self.slots} live worker slots)"
        )


class SpecCheck(BaseModel):
    """What a valid spec expands to (POST /v1/experiments/validate; nothing is stored):
    runs = conditions x seeds x tasks; from the server also its cost and expected start."""

    valid: bool = True
    name: str | None = None
    dataset: str
    n_runs: int
    conditions: list[str]
    seeds: list[int]
    tasks: list[str]  # the run labels (a task's label, else its name)
    spec_hash: str
    estimate: CostEstimate | None = None
    queue: QueueStart | None = None

    @classmethod
    def of(cls, spec: Any) -> SpecCheck:
        """From a validated cortexrnn.services.spec.ExperimentSpec (duck-typed: this module
        imports no science)."""
        return cls(
            name=spec.name,
            dataset=spec.dataset,
            n_runs=spec.n_runs,
            conditions=[c.label for c in spec.swept_conditions()],  # with a sweep's points
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
    notes: str | None = None  # the owner's free text, editable after submission
    spec_hash: str
    created_at: datetime
    finished_at: datetime | None
    n_runs: int
    counts: dict[str, int]
    progress: float  # percent of the runs succeeded (failed and cancelled ones are not done)
    eta_seconds: float | None
    # queued | running | waiting (between packs, or behind other work: `queue` says why) |
    # succeeded | failed | cancelled; empty from servers before it was added
    phase: str = ""


class ExperimentEdit(BaseModel):
    """PATCH /v1/experiments/{id}: what the owner may change after submission. Fields left
    out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    tags: list[str] | None = Field(None, description="Replaces the tags (the spec's rules).")
    notes: str | None = Field(
        None, max_length=10_000, description="Replaces the notes; an empty string clears them."
    )


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
    # A swept run's point: `family` (the spec's condition) and one value per swept field by
    # its dotted path (`condition.lam`); empty outside a sweep.
    sweep: dict[str, Any] = Field(default_factory=dict)


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
    model_config = ConfigDict(from_attributes=True)

    name: str
    hostname: str
    device: str
    queues: list[str]
    concurrency: int
    heartbeat_at: datetime
    alive: bool
    memory_mb: float | None = Field(None, description="Memory of each slot (MiB).")


class QueueWaiting(BaseModel):
    """A waiting experiment, in the order the scheduler is expected to serve it."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    position: int
    experiment_id: int = Field(validation_alias=AliasChoices("experiment_id", "id"))
    name: str
    owner: str
    priority: int
    pending: int = Field(description="Runs not yet sent to a worker.")
    in_pack: int = Field(description="Runs sent in a pack that no worker has claimed yet.")
    identical: int = Field(description="Runs waiting for identical runs in flight.")
    running: int
    runs_ahead: int = Field(description="Pending runs expected to be served before these.")
    reason: str = Field(description="Why it waits, and what would change that.")
    expected_start_s: float | None = Field(
        description="Seconds until its next runs start, from measured pack durations; null "
        "when nothing has been measured yet or no worker serves the queue."
    )


class ShareLimits(BaseModel):
    """PUT /v1/users/{name}/limits (an admin): null lifts a limit."""

    model_config = ConfigDict(extra="forbid")

    max_runs_in_flight: int | None = Field(
        None, ge=1, le=1_000_000, description="Runs queued or running at once."
    )
    max_worker_hours_per_day: float | None = Field(
        None, gt=0, le=1_000_000, allow_inf_nan=False, description="Per UTC day."
    )


class ShareOut(ShareLimits):
    """A user's standing in the fair share: their limits and the worker time they used."""

    user: str
    in_flight: int
    usage_hours: float = Field(description="Worker-hours, halved every fair-share half-life.")
    today_hours: float = Field(description="Worker-hours used since midnight UTC.")
    blocked: str | None = Field(description="Why none of their runs may start now, or null.")


class QueueInfo(BaseModel):
    """A queue as its live workers make it (shared/routing.py)."""

    name: str
    slots: int = Field(description="Slots of the live workers serving it.")
    busy: int = Field(description="Packs queued or running on it.")
    devices: list[str] = Field(description="Device kinds of its live workers.")
    memory_mb: float | None = Field(
        None,
        description="The smallest memory per slot among its workers (MiB): the largest run "
        "it takes, and what its packs are sized by.",
    )


class QueueOut(BaseModel):
    users: list[QueueUser]
    workers: list[QueueWorker]
    queues: list[QueueInfo] = Field(default_factory=list)
    queue: str = Field("", description="The queue these slots and estimates are for.")
    slots: int = Field(0, description="Worker slots of live workers serving the queue.")
    busy: int = Field(0, description="Packs queued or running in the queue.")
    waiting: list[QueueWaiting] = Field(default_factory=list)


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
