"""client fixes: ids are never reused on SQLite

Without AUTOINCREMENT, SQLite gives the next row max(id)+1, so deleting the newest experiment
hands its id to the next one and `show 12` names a different experiment than before. SQLite
only sets AUTOINCREMENT when a table is created, so batch mode rebuilds each table whose ids
users see (rows, indexes and constraints copied). Postgres sequences never reuse ids: nothing
to do there.

Revision ID: 0006_client_fixes
Revises: 0005_artifacts
Create Date: 2026-12-05 16:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006_client_fixes"
down_revision: str | None = "0005_artifacts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Parents before children, as shared/models.py sets NEVER_REUSE_IDS on them.
TABLES = ("users", "api_tokens", "datasets", "experiments", "packs", "runs")


def _rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}
        ):
            pass


def upgrade() -> None:
    _rebuild(True)


def downgrade() -> None:
    _rebuild(False)
