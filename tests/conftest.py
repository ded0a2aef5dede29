"""Shared fixtures. Tests that need real services or the MICrONS example fields skip with a
visible reason where those are absent; CI sets CORTEXRNN_REQUIRE_SERVICES=1 so that a
missing service fails instead of skipping."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MICRONS_DIR = Path(
    os.environ.get("CORTEXRNN_MICRONS_DIR", REPO.parent / "shared" / "data" / "microns")
)
REQUIRE_SERVICES = os.environ.get("CORTEXRNN_REQUIRE_SERVICES") == "1"


def build_wheel(dist: Path) -> Path:
    """The checkout built as a wheel into `dist` (without build isolation: offline-safe)."""
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), REPO],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    return next(dist.glob("cortexrnn-*.whl"))


def clean_venv(venv: Path) -> Path:
    """A new virtual environment with nothing installed; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    return venv / "bin" / "python"


def _missing(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (CORTEXRNN_REQUIRE_SERVICES=1, so this is an error here)")
    pytest.skip(reason)


MICRONS_FIELDS = ("6_6_2", "4_7_2", "5_3_4", "5_3_8")
# Set by CI where the fields are expected (.ci/run): the tests that need them, the only
# learning test among them, must not turn green by skipping.
REQUIRE_DATA = os.environ.get("CORTEXRNN_REQUIRE_DATA") == "1"


@pytest.fixture(scope="session")
def microns_dir() -> Path:
    """The folder holding the MICrONS example fields (6_6_2, 4_7_2, 5_3_4, 5_3_8). Where they
    are absent the test skips, or fails under CORTEXRNN_REQUIRE_DATA=1."""
    absent = [f for f in MICRONS_FIELDS if not (MICRONS_DIR / f).is_dir()]
    if absent:
        reason = (
            f"MICrONS example fields {', '.join(absent)} not found in {MICRONS_DIR} "
            "(set CORTEXRNN_MICRONS_DIR)"
        )
        if REQUIRE_DATA:
            pytest.fail(f"{reason}; CORTEXRNN_REQUIRE_DATA=1, so this is an error here")
        pytest.skip(reason)
    return MICRONS_DIR


@pytest.fixture()
def cortexrnn_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated embedded deployment: CORTEXRNN_HOME in a temporary folder."""
    from cortexrnn.shared.db import get_engine, get_sessionmaker
    from cortexrnn.shared.settings import reset_settings_cache

    # A test before this one may have left the default engine cached on another home; the
    # mutation runs order tests by what they cover, so no test may rely on its neighbours.
    get_sessionmaker.cache_clear()
    get_engine.cache_clear()
    home = tmp_path / "cortexrnn-home"
    monkeypatch.setenv("CORTEXRNN_HOME", str(home))
    for var in (
        "CORTEXRNN_DATABASE_URL",
        "CORTEXRNN_BROKER_URL",
        "CORTEXRNN_STORE_DIR",
        "CORTEXRNN_ARTIFACTS_DIR",
    ):
        monkeypatch.delenv(var, raising=False)
    reset_settings_cache()
    yield home
    reset_settings_cache()
    get_sessionmaker.cache_clear()
    get_engine.cache_clear()


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """URL of a Postgres server where tests may create throwaway databases."""
    url = os.environ.get(
        "CORTEXRNN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if not _port_open(u.host or "127.0.0.1", u.port or 5432):
        _missing(f"PostgreSQL not reachable at {u.host}:{u.port} (set CORTEXRNN_TEST_POSTGRES_URL)")
    return url


@pytest.fixture()
def postgres_url(postgres_admin_url: str) -> str:
    """A fresh, empty Postgres database for one test, dropped afterwards."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"cortexrnn_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    yield url
    from cortexrnn.shared.db import get_engine, get_sessionmaker

    for cached in (get_sessionmaker, get_engine):
        cached.cache_clear()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("CORTEXRNN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    from urllib.parse import urlparse

    u = urlparse(url)
    if not _port_open(u.hostname or "127.0.0.1", u.port or 6379):
        _missing(f"Redis not reachable at {u.hostname}:{u.port} (set CORTEXRNN_TEST_REDIS_URL)")
    return url


def seeded_app(*, event_interval_s: float = 0.05, tiny_dataset: bool = True):
    """The real app on the configured (test) database, migrated, with users alice, bob and
    root (admin) and, optionally, a small synthetic cortex registered as 'tiny'.
    Returns (app, tokens by user name)."""
    from cortexrnn.api.app import create_app
    from cortexrnn.services.connectome.synthetic import synthesize_cortex
    from cortexrnn.shared.auth import create_user
    from cortexrnn.shared.datasets_registry import store_and_register
    from cortexrnn.shared.db import session_scope
    from cortexrnn.shared.migrate import upgrade
    from cortexrnn.shared.settings import get_settings

    upgrade()
    tokens = {}
    with session_scope() as s:
        for name, admin in (("alice", False), ("bob", False), ("root", True)):
            tokens[name] = create_user(s, name, admin=admin)[1]
    if tiny_dataset:
        store_and_register(synthesize_cortex(80, 3, name="tiny"))
    app = create_app(get_settings(), broker_check=lambda: "ok")
    app.state.event_interval_s = event_interval_s
    return app, tokens


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database: SQLite, and Postgres where reachable."""
    from cortexrnn.shared.migrate import upgrade

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    upgrade(url=url)
    return url


@pytest.fixture()
def sessions(db_url: str):
    """Sessions on `db_url`."""
    from cortexrnn.shared.db import get_sessionmaker

    return get_sessionmaker(db_url)
