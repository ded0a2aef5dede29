"""Tables of the multi-host deployment (migration 0005): worker tokens, resumable artifact
uploads and the latest uploaded checkpoint of each pack.

Apart from shared/models.py only because that file is near its size limit; its last line
imports this module, so that `Base.metadata` always holds these tables too."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cortexrnn.shared.models import Base, BigId, utcnow


class WorkerToken(Base):
    """A credential that can only do worker things (upload artifacts, fetch checkpoints and
    datasets): a separate table, so that `shared.auth.authenticate` can never take one for a
    user. Only the SHA-256 is stored, as for user tokens."""

    __tablename__ = "worker_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(128))  # the host or pilot pool it was made for
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ArtifactUpload(Base):
    """One file a worker sends in chunks. `received_bytes` is the authority on how much of the
    partial file is good: a chunk is acknowledged only after it is on disk, so a client that
    lost its connection asks for it and goes on from there."""

    __tablename__ = "artifact_uploads"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pack_id: Mapped[int] = mapped_column(ForeignKey("packs.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))  # weights, checkpoint, file
    name: Mapped[str] = mapped_column(String(255))
    worker: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    step: Mapped[int | None] = mapped_column(Integer)  # a checkpoint's training step
    received_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open, complete
    path: Mapped[str | None] = mapped_column(String(1024))  # in the artifact store, once complete
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class PackCheckpoint(Base):
    """The latest uploaded checkpoint of a pack with a given set of runs (`runs_key`, as in
    worker/train.py's file name): what a worker on another host resumes from."""

    __tablename__ = "pack_checkpoints"
    __table_args__ = (UniqueConstraint("pack_id", "runs_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    pack_id: Mapped[int] = mapped_column(ForeignKey("packs.id", ondelete="CASCADE"))
    runs_key: Mapped[str] = mapped_column(String(64))
    step: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    worker: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
