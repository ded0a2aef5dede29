"""Database models (SQLAlchemy 2.0, typed). The database is the source of truth for
every experiment and run; the broker only carries pack ids.

Works on SQLite (embedded) and PostgreSQL (lab). States are plain strings validated in
code, so that adding a state never needs an enum migration.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar, overload

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names keep Alembic autogenerate and the drift test deterministic.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements INTEGER PRIMARY KEY; Postgres gets 64-bit ids.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# Tables whose ids users see and type (`show 12`, `revoke 3`): without AUTOINCREMENT SQLite
# hands a deleted row's id to the next row, so an old id would name a different experiment.
# Postgres sequences never reuse ids (migration 0006_client_fixes).
NEVER_REUSE_IDS: dict[str, Any] = {"sqlite_autoincrement": True}


def utcnow() -> datetime:
    return datetime.now(UTC)


@overload
def as_utc(dt: datetime) -> datetime: ...
@overload
def as_utc(dt: datetime | None) -> datetime | None: ...
def as_utc(dt: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes for timezone-aware columns; they are UTC."""
    return dt if dt is None or dt.tzinfo else dt.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class RunState(str, enum.Enum):  # noqa: UP042 - StrEnum changes str(); rows store .value
    PENDING = "pending"  # accepted, not yet in a pack on the broker
    QUEUED = "queued"  # in a pack that was sent to the broker
    RUNNING = "running"  # claimed by a worker that heartbeats
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"  # retried up to the limit and lost again

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_RUN_STATES


TERMINAL_RUN_STATES = frozenset(
    {RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.LOST}
)

# Allowed transitions; every change goes through `Run.transition`, which in the service only
# shared/lifecycle.py calls.
RUN_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.PENDING: frozenset(
        {RunState.QUEUED, RunState.SUCCEEDED, RunState.CANCELLED, RunState.FAILED}
    ),
    RunState.QUEUED: frozenset(
        {RunState.RUNNING, RunState.PENDING, RunState.CANCELLED, RunState.LOST, RunState.FAILED}
    ),
    RunState.RUNNING: frozenset(
        {
            RunState.SUCCEEDED,
            RunState.FAILED,
            RunState.CANCELLED,
            RunState.PENDING,
            RunState.QUEUED,
            RunState.LOST,
        }
    ),
    RunState.SUCCEEDED: frozenset(),
    RunState.FAILED: frozenset({RunState.PENDING}),  # retry
    RunState.CANCELLED: frozenset({RunState.PENDING}),  # retry
    RunState.LOST: frozenset({RunState.PENDING}),  # retry
}


class InvalidTransition(ValueError):
    pass


class ExperimentStatus(str, enum.Enum):  # noqa: UP042 - as RunState
    ACTIVE = "active"  # some run not terminal
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # terminal, at least one run failed or lost
    CANCELLED = "cancelled"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")


class ApiToken(Base):
    """Only the SHA-256 of a token is stored; the plain token is shown once at creation.
    A token is refused after `expires_at` (migration 0004; null: it never expires)."""

    __tablename__ = "api_tokens"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # lets a user tell tokens apart
    label: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User] = relationship(back_populates="tokens")


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # microns-folder, cave-tables, synthetic, upload
    source: Mapped[str] = mapped_column(String(64))
    content_sha256: Mapped[str] = mapped_column(String(64), index=True)
    n_neurons: Mapped[int] = mapped_column(Integer)
    n_connections: Mapped[int] = mapped_column(Integer)  # non-zero directed pairs
    n_synapses: Mapped[int] = mapped_column(Integer)
    fields: Mapped[list[Any]] = mapped_column(default=list)
    license: Mapped[str | None] = mapped_column(String(256))
    citation: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Experiment(Base):
    __tablename__ = "experiments"
    __table_args__ = (
        UniqueConstraint("owner_id", "idempotency_key"),
        Index("ix_experiments_owner_id_created_at", "owner_id", "created_at"),
        Index("ix_experiments_status_created_at", "status", "created_at"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    spec: Mapped[dict[str, Any]] = mapped_column()
    spec_hash: Mapped[str] = mapped_column(String(64), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=ExperimentStatus.ACTIVE.value)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    notes: Mapped[str | None] = mapped_column(Text)  # the owner's, editable (migration 0009)
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    # Resolved once at submission (migration 0002; null on older rows): the dataset's content
    # hash and the indices of the neurons its sampling selects, which every pack reuses.
    dataset_sha: Mapped[str | None] = mapped_column(String(64))
    selection: Mapped[list[Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    runs: Mapped[list[Run]] = relationship(
        back_populates="experiment", cascade="all, delete-orphan"
    )
    owner: Mapped[User] = relationship()


class Pack(Base):
    """Runs that share task, N, model and optimiser settings, trained as one population."""

    __tablename__ = "packs"
    __table_args__ = (Index("ix_packs_state_created_at", "state", "created_at"), NEVER_REUSE_IDS)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pack_key: Mapped[str] = mapped_column(String(64))  # hash of what its runs share
    queue: Mapped[str] = mapped_column(String(32), default="cpu")
    state: Mapped[str] = mapped_column(String(16), default=RunState.QUEUED.value)
    worker: Mapped[str | None] = mapped_column(String(200))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_state_priority_created_at", "state", "priority", "created_at"),
        Index("ix_runs_run_hash_state", "run_hash", "state"),
        Index("ix_runs_pack_id", "pack_id"),
        Index("ix_runs_owner_id_queued_at", "owner_id", "queued_at"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    condition: Mapped[str] = mapped_column(String(128))
    seed: Mapped[int] = mapped_column(Integer)
    task: Mapped[str] = mapped_column(String(64))
    run_hash: Mapped[str] = mapped_column(String(64))  # canonical inputs of this run
    pack_key: Mapped[str] = mapped_column(String(64))
    # This run's own resolved inputs (condition, seed, task entry, fidelity), stored at
    # submission so that a worker never re-expands the spec (migration 0002; null on older rows).
    inputs: Mapped[dict[str, Any] | None] = mapped_column()
    priority: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default=RunState.PENDING.value)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    pack_id: Mapped[int | None] = mapped_column(ForeignKey("packs.id", ondelete="SET NULL"))
    worker: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    checkpoint_path: Mapped[str | None] = mapped_column(String(1024))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    cached_from_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    error: Mapped[str | None] = mapped_column(Text)
    # Where it may train (migration 0008; worker/routing.py): the queue its spec named (null:
    # any queue whose workers can hold it), the device kind and memory it asked for, and the
    # cost model's memory estimate for one network alone and for each further one in a pack.
    queue: Mapped[str | None] = mapped_column(String(32))
    device_kind: Mapped[str | None] = mapped_column(String(16))
    min_memory_mb: Mapped[float | None] = mapped_column(Float)
    memory_mb: Mapped[float | None] = mapped_column(Float)
    network_mb: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    experiment: Mapped[Experiment] = relationship(back_populates="runs")

    @property
    def run_state(self) -> RunState:
        return RunState(self.state)

    def transition(self, new: RunState, now: datetime | None = None) -> None:
        """Move to `new`, refusing transitions the state machine does not allow. `now` lets
        the runs of one pack share their timestamps."""
        current = RunState(self.state)
        if new not in RUN_TRANSITIONS[current]:
            raise InvalidTransition(f"run {self.id}: {current.value} -> {new.value} is not allowed")
        self.state = new.value
        now = now or utcnow()
        if new is RunState.QUEUED:
            self.queued_at = now
        elif new is RunState.RUNNING:
            self.started_at = now
        elif new.is_terminal:
            self.finished_at = now
        elif new is RunState.PENDING:
            self.finished_at = None


# The scheduler's queue order (priority descending, then age) as index suffixes, so that a tick
# reads each user's queue head and a pack's first runs by walking an index a few rows deep
# (migration 0003_scheduler_indexes; worker/scheduler.py).
_QUEUE_ORDER = (Run.priority.desc(), Run.created_at, Run.id)
Index("ix_runs_owner_id_state_queue_order", Run.owner_id, Run.state, *_QUEUE_ORDER)
Index(
    "ix_runs_experiment_id_state_pack_key_queue_order",
    Run.experiment_id,
    Run.state,
    Run.pack_key,
    *_QUEUE_ORDER,
)
Index("ix_runs_pack_key_state_queue_order", Run.pack_key, Run.state, *_QUEUE_ORDER)


class MetricPoint(Base):
    """One value of a time series (loss, accuracy, topology per epoch) of one run."""

    __tablename__ = "metric_points"
    __table_args__ = (Index("ix_metric_points_run_id_name_step", "run_id", "name", "step"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[float | None] = mapped_column(Float)
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float)  # null: undefined (NaN)


class RunSummary(Base):
    """Final per-run values, one row per metric; `reason` says why a value is null."""

    __tablename__ = "run_summaries"
    __table_args__ = (
        UniqueConstraint("run_id", "name"),
        Index("ix_run_summaries_name", "name"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(String(256))


class Artifact(Base):
    __tablename__ = "artifacts"
    __table_args__ = (
        Index("ix_artifacts_run_id_kind", "run_id", "kind"),
        Index("ix_artifacts_experiment_id_kind", "experiment_id", "kind"),
        Index("ix_artifacts_dataset_id", "dataset_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE")
    )
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    # weights, checkpoint, curves, report, dataset-file
    kind: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class WorkerInfo(Base):
    """A worker process as last seen; `GET /v1/queue` lists these."""

    __tablename__ = "workers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    hostname: Mapped[str] = mapped_column(String(200))
    device: Mapped[str] = mapped_column(String(64))
    queues: Mapped[list[Any]] = mapped_column(default=list)
    concurrency: Mapped[int] = mapped_column(Integer, default=1)
    memory_mb: Mapped[float | None] = mapped_column(Float)  # per slot (migration 0008)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# The multi-host tables live beside this file (size limit); importing them here keeps
# `Base.metadata` complete for Alembic, the drift test and create_all.
from cortexrnn.shared import artifact_models as _artifact_models  # noqa: E402, F401
from cortexrnn.shared import fair_share as _fair_share  # noqa: E402, F401
