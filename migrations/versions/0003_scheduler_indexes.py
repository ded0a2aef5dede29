"""indexes that let a scheduler tick read each user's queue head, not the backlog

A tick picks, per user, the first pending run in priority and age order, counts the user's
runs in flight and finds when the user was last served; then it fills a pack with the first
pending runs of the head's pack key, its own experiment's first. Each of these is now one
index walk that stops after a few rows (worker/scheduler.py); before, a tick loaded every
pending run (14-17 s with 100,000 waiting on Postgres, see docs/benchmarks.md). The two
wider indexes replace the ones they extend, whose lookups they also serve.

Revision ID: 0003_scheduler_indexes
Revises: 0002_run_inputs
Create Date: 2026-12-05 12:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_scheduler_indexes"
down_revision: str | None = "0002_run_inputs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Priority descending, then age ascending: the scheduler's order, so an index walk yields it.
QUEUE_ORDER: list[str | sa.TextClause] = [sa.text("priority DESC"), "created_at", "id"]


def upgrade() -> None:
    op.drop_index("ix_runs_owner_id_state", table_name="runs")
    op.drop_index("ix_runs_experiment_id_state", table_name="runs")
    op.create_index(
        "ix_runs_owner_id_state_queue_order", "runs", ["owner_id", "state", *QUEUE_ORDER]
    )
    op.create_index(
        "ix_runs_experiment_id_state_pack_key_queue_order",
        "runs",
        ["experiment_id", "state", "pack_key", *QUEUE_ORDER],
    )
    op.create_index(
        "ix_runs_pack_key_state_queue_order", "runs", ["pack_key", "state", *QUEUE_ORDER]
    )
    op.create_index("ix_runs_owner_id_queued_at", "runs", ["owner_id", "queued_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_owner_id_queued_at", table_name="runs")
    op.drop_index("ix_runs_pack_key_state_queue_order", table_name="runs")
    op.drop_index("ix_runs_experiment_id_state_pack_key_queue_order", table_name="runs")
    op.drop_index("ix_runs_owner_id_state_queue_order", table_name="runs")
    op.create_index("ix_runs_experiment_id_state", "runs", ["experiment_id", "state"])
    op.create_index("ix_runs_owner_id_state", "runs", ["owner_id", "state"])
