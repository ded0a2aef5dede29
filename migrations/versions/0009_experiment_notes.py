"""experiment notes: free text the owner writes after submission (dashboard, PATCH)

Revision ID: 0009_experiment_notes
Revises: 0008_worker_resources
Create Date: 2026-12-05 19:15:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_experiment_notes"
down_revision: str | None = "0008_worker_resources"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("notes", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("notes")
