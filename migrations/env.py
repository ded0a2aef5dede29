"""Alembic environment: the models' metadata is the target; the URL comes from the config
that `cortexrnn.shared.migrate` builds (or CORTEXRNN_DATABASE_URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from cortexrnn.shared.db import make_engine
from cortexrnn.shared.models import Base
from cortexrnn.shared.settings import get_settings

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().database_url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            # A batch rebuild drops the old table; with foreign keys on, SQLite would first
            # delete its rows and cascade to the child tables. The pragma only takes effect
            # outside a transaction, hence the commit before Alembic begins its own.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        # Batch mode lets ALTER-style migrations work on SQLite too.
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
