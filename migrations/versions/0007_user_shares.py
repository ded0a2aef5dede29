"""each user's share of the queue: limits set by an admin and decayed usage

One row per user (shared/fair_share.py): the runs they may have in flight and the worker-hours
they may use per UTC day (null: no limit), and the worker time their packs used, as a total
halved every `fair_share_half_life_h` (Slurm's decayed fair-share usage) and as today's total.
The scheduler reads it in one lookup per user; before, fair share looked only at runs in
flight and the time of the last dispatch.

Revision ID: 0007_user_shares
Revises: 0006_client_fixes
Create Date: 2026-12-05 16:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_user_shares"
down_revision: str | None = "0006_client_fixes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "user_shares",
        sa.Column("user_id", ID, nullable=False),
        sa.Column("max_runs_in_flight", sa.Integer(), nullable=True),
        sa.Column("max_worker_hours_per_day", sa.Float(), nullable=True),
        sa.Column("decayed_seconds", sa.Float(), nullable=False),
        sa.Column("decayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("day", sa.String(length=10), nullable=True),
        sa.Column("day_seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_shares_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_shares")),
    )


def downgrade() -> None:
    op.drop_table("user_shares")
