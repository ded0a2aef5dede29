"""artifacts through the API: worker tokens, resumable uploads, pack checkpoints

Workers on other hosts need no shared folder: they send weights and checkpoints to the API in
chunks (`artifact_uploads`, resumable: `received_bytes` is what the server has on disk), the
latest checkpoint of each pack is recorded (`pack_checkpoints`) so that a worker on another
host resumes from it, and they authenticate with worker tokens, a table of their own so that
a worker's credential is never taken for a user's.

Revision ID: 0005_artifacts
Revises: 0004_token_expiry
Create Date: 2026-12-07 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_artifacts"
down_revision: str | None = "0004_token_expiry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "worker_tokens",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("last_used_at", WHEN, nullable=True),
        sa.Column("expires_at", WHEN, nullable=True),
        sa.Column("revoked_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worker_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_worker_tokens_token_hash")),
    )
    op.create_table(
        "artifact_uploads",
        sa.Column("id", ID, nullable=False),
        sa.Column("pack_id", ID, nullable=False),
        sa.Column("run_id", ID, nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("received_bytes", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["pack_id"],
            ["packs.id"],
            name=op.f("fk_artifact_uploads_pack_id_packs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_artifact_uploads_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifact_uploads")),
    )
    with op.batch_alter_table("artifact_uploads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_artifact_uploads_pack_id"), ["pack_id"], unique=False)
    op.create_table(
        "pack_checkpoints",
        sa.Column("id", ID, nullable=False),
        sa.Column("pack_id", ID, nullable=False),
        sa.Column("runs_key", sa.String(length=64), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["pack_id"],
            ["packs.id"],
            name=op.f("fk_pack_checkpoints_pack_id_packs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pack_checkpoints")),
        sa.UniqueConstraint(
            "pack_id", "runs_key", name=op.f("uq_pack_checkpoints_pack_id_runs_key")
        ),
    )


def downgrade() -> None:
    op.drop_table("pack_checkpoints")
    with op.batch_alter_table("artifact_uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_artifact_uploads_pack_id"))
    op.drop_table("artifact_uploads")
    op.drop_table("worker_tokens")
