"""Ids that users type are never handed to a new row after a delete (SQLite AUTOINCREMENT,
migration 0006_client_fixes), and the migration keeps every row of an existing database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from cortexrnn.shared.db import make_engine
from cortexrnn.shared.migrate import upgrade
from tests.client.conftest import Server, small_spec


def test_deleted_experiment_id_is_not_given_to_the_next(server: Server) -> None:
    client = server.client()
    first = client.submit(small_spec(name="first")).id
    newest = client.submit(small_spec(name="newest", seeds=2)).id
    client.cancel(newest)
    client.delete(newest)
    again = client.submit(small_spec(name="again", seeds=1)).id
    assert again > newest > first
    run_ids = [r.id for r in client.runs(again)]
    assert min(run_ids) > max(r.id for r in client.runs(first)) + 2  # newest's 2x2 runs


def _scalar(url: str, sql: str) -> object:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def test_migration_keeps_rows_and_stops_reuse(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade("0005_artifacts", url=url)
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO users (id, name, is_admin, created_at) VALUES (1, 'a', 0, '2026-01-01')"
        )
        for eid in (1, 2):
            conn.exec_driver_sql(
                "INSERT INTO experiments (id, owner_id, spec, spec_hash, priority, status, tags,"
                f" created_at, updated_at) VALUES ({eid}, 1, '{{}}', 'h', 0, 'active', '[]',"
                " '2026-01-01', '2026-01-01')"
            )
            conn.exec_driver_sql(
                "INSERT INTO runs (experiment_id, owner_id, condition, seed, task, run_hash,"
                " pack_key, priority, state, attempt, progress, step, total_steps,"
                f" cancel_requested, created_at) VALUES ({eid}, 1, 'c', 0, 't', 'r', 'p', 0,"
                " 'pending', 0, 0, 0, 0, 0, '2026-01-01')"
            )
    engine.dispose()

    upgrade("head", url=url)
    # The rebuild of `experiments` did not cascade into `runs`.
    assert _scalar(url, "SELECT count(*) FROM runs") == 2
    assert "AUTOINCREMENT" in str(
        _scalar(url, "SELECT sql FROM sqlite_master WHERE name = 'experiments'")
    )
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM experiments WHERE id = 2")
        conn.exec_driver_sql(
            "INSERT INTO experiments (owner_id, spec, spec_hash, priority, status, tags,"
            " created_at, updated_at) VALUES (1, '{}', 'h', 0, 'active', '[]',"
            " '2026-01-01', '2026-01-01')"
        )
    engine.dispose()
    assert _scalar(url, "SELECT max(id) FROM experiments") == 3
    assert _scalar(url, "SELECT count(*) FROM runs") == 1  # experiment 2's run went with it
