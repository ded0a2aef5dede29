"""Engine and session factory, one per database URL; transactions retried while the
database is briefly unreachable."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from cortexrnn.shared.settings import get_settings

log = logging.getLogger("cortexrnn.db")
T = TypeVar("T")


@functools.lru_cache(maxsize=8)
def get_engine(url: str | None = None) -> Engine:
    """The process-wide pooled engine for `url` (default: the configured database)."""
    return make_engine(url or get_settings().database_url)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """A new engine with this project's connection settings (SQLite folder and pragmas)."""
    if url.startswith("sqlite"):
        db_path = url.split("///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if "poolclass" not in kwargs:
        kwargs = {"pool_size": 10, "max_overflow": 20, **kwargs}
    return create_engine(url, pool_pre_ping=True, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the API read while a worker writes; foreign keys are off by default in SQLite.
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


@functools.lru_cache(maxsize=8)
def get_sessionmaker(url: str | None = None) -> sessionmaker[Session]:
    return sessionmaker(get_engine(url), expire_on_commit=False)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = get_sessionmaker(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def with_db_retry(fn: Callable[[], T], *, attempts: int = 8, first_wait: float = 0.5) -> T:
    """Run a database transaction, retrying while the database is unreachable."""
    wait = first_wait
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except OperationalError:
            if attempt == attempts:
                raise
            log.warning(
                "database unavailable (attempt %d/%d); retrying in %.1f s", attempt, attempts, wait
            )
            time.sleep(wait)
            wait = min(wait * 2, 10.0)
    raise AssertionError("unreachable")


def transact(fn: Callable[..., T], *args: Any) -> T:
    """`fn(session, *args)` in its own committed transaction, retried whole (`with_db_retry`)."""

    def once() -> T:
        with session_scope() as session:
            return fn(session, *args)

    return with_db_retry(once)
