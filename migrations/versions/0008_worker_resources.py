"""queues and devices: what each run needs, what each worker offers

A run records the queue its spec named (null: any queue whose workers can hold it), the device
kind it asked for, the device memory it asked for, and the cost model's estimate of its memory
(one network alone, and each further network in its pack). A worker records its memory per
slot. The scheduler routes a run only to a queue whose live workers can all hold it and sizes
each pack by that memory (shared/routing.py).

Revision ID: 0008_worker_resources
Revises: 0007_user_shares
Create Date: 2026-12-05 19:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_worker_resources"
down_revision: str | None = "0007_user_shares"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("queue", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("device_kind", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("min_memory_mb", sa.Float(), nullable=True))
        batch.add_column(sa.Column("memory_mb", sa.Float(), nullable=True))
        batch.add_column(sa.Column("network_mb", sa.Float(), nullable=True))
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("memory_mb", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("memory_mb")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("network_mb")
        batch.drop_column("memory_mb")
        batch.drop_column("min_memory_mb")
        batch.drop_column("device_kind")
        batch.drop_column("queue")
