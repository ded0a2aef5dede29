"""run inputs and the experiment's resolved selection

Each run stores its own resolved inputs (condition, seed, task entry, fidelity) and each
experiment the content hash of its dataset and the neuron indices its sampling selects, all
resolved once at submission. Rows from before this revision keep nulls there; the worker
falls back to expanding their experiment's spec (worker/claim.py, `legacy_run_specs`).

Revision ID: 0002_run_inputs
Revises: 0001_initial
Create Date: 2026-12-06 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_run_inputs"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dataset_sha", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("selection", sa.JSON(), nullable=True))

    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inputs", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("inputs")

    with op.batch_alter_table("experiments", schema=None) as batch_op:
        batch_op.drop_column("selection")
        batch_op.drop_column("dataset_sha")
