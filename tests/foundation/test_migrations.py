"""The migrations are the schema: upgrading an empty database gives exactly the models'
tables, columns, indexes and constraints, on SQLite and on Postgres, and they round-trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from cortexrnn.shared.db import make_engine
from cortexrnn.shared.migrate import downgrade, revision_of, upgrade
from cortexrnn.shared.models import Base


def _drift(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            return compare_metadata(ctx, Base.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _check_upgrade_gives_models_schema(url: str) -> None:
    assert _tables(url) == set()
    upgrade("head", url=url)
    assert _tables(url) == set(Base.metadata.tables)
    assert _drift(url) == []


def _check_round_trip(url: str) -> None:
    upgrade("head", url=url)
    head = revision_of(url)
    downgrade("base", url=url)
    assert _tables(url) == set()
    assert revision_of(url) is None
    upgrade("head", url=url)
    assert revision_of(url) == head
    assert _drift(url) == []


def test_sqlite_upgrade_matches_models(tmp_path: Path) -> None:
    _check_upgrade_gives_models_schema(f"sqlite:///{tmp_path / 'fresh.db'}")


def test_sqlite_downgrade_upgrade_round_trips(tmp_path: Path) -> None:
    _check_round_trip(f"sqlite:///{tmp_path / 'rt.db'}")


@pytest.mark.postgres
def test_postgres_upgrade_matches_models(postgres_url: str) -> None:
    _check_upgrade_gives_models_schema(postgres_url)


@pytest.mark.postgres
def test_postgres_downgrade_upgrade_round_trips(postgres_url: str) -> None:
    _check_round_trip(postgres_url)


def test_drift_check_can_fail(tmp_path: Path) -> None:
    """The drift comparison notices a column the migrations do not create."""
    url = f"sqlite:///{tmp_path / 'drift.db'}"
    upgrade("head", url=url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE runs DROP COLUMN error")
    engine.dispose()
    diffs = _drift(url)
    assert any(d[0] == "add_column" and d[3].name == "error" for d in diffs), diffs
