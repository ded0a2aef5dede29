"""API tokens expire

A token is refused after its `expires_at` (null: never). Tokens issued before this revision
had no expiry; rather than leave them valid forever, each live one gets the default lifetime
from the moment of the upgrade (90 days): they keep working, and their owners have that long
to get new ones. Revoked tokens stay as they were.

Revision ID: 0004_token_expiry
Revises: 0003_scheduler_indexes
Create Date: 2026-12-05 13:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0004_token_expiry"
# Chained after the scheduler's indexes, written at the same time, so that there is one head.
down_revision: str | None = "0003_scheduler_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The default token lifetime when this revision was written (shared/auth.py may change it
# later; the grace given to old tokens stays what it was).
GRACE = timedelta(days=90)


def upgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    tokens = sa.table(
        "api_tokens",
        sa.column("expires_at", sa.DateTime(timezone=True)),
        sa.column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        tokens.update()
        .where(tokens.c.revoked_at.is_(None))
        .values(expires_at=datetime.now(UTC) + GRACE)
    )


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
