"""Secrets never reach logs, responses or error messages: API tokens, database and broker
passwords. The database here is a Postgres URL with a password that nothing answers at, so
that every error path that could echo it (503 handler, readiness, worker retries and
tracebacks, the settings refusal) is taken."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from cortexrnn.shared.settings import DEV_SECRET, Settings, UnsafeSettingsError

DB_PASSWORD = "Pg-pa55word-do-not-log"
BROKER_PASSWORD = "Redis-pa55word-do-not-log"
TOKEN = "crnn_" + "T0ken-do-not-log" * 2
DB_URL = (
    f"postgresql+psycopg://cortex:{DB_PASSWORD}@127.0.0.1:1/cortexrnn"  # port 1: refused at once
)
BROKER_URL = f"redis://:{BROKER_PASSWORD}@127.0.0.1:1/0"
SECRETS = (DB_PASSWORD, BROKER_PASSWORD, TOKEN, TOKEN[5:])


def _assert_clean(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into: {text[:400]}"


@pytest.fixture()
def unreachable(cortexrnn_home):
    from cortexrnn.shared.db import get_engine, get_sessionmaker

    settings = Settings(database_url=DB_URL, broker_url=BROKER_URL, secret_key="k" * 40)
    yield settings
    get_sessionmaker.cache_clear()
    get_engine.cache_clear()


def test_api_error_paths_log_no_secret(unreachable, caplog) -> None:
    from cortexrnn.api.app import create_app

    caplog.set_level(logging.DEBUG)
    app = create_app(unreachable)  # the real broker check, against a Redis URL with a password
    with TestClient(app, raise_server_exceptions=False) as client:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        responses = [
            client.get("/v1/experiments", headers=auth),
            client.post("/v1/experiments", headers=auth, json={"name": "x"}),
            client.get("/readyz", headers=auth),
            client.get("/v1/me", headers={"Authorization": f"Bearer {TOKEN}x"}),
        ]
    assert [r.status_code for r in responses] == [503, 503, 503, 503]
    assert responses[0].headers["retry-after"]
    checks = responses[2].json()["checks"]
    assert checks["database"].startswith("unreachable") and checks["broker"].startswith(
        "unreachable"
    )
    assert any(r.name == "cortexrnn.api" for r in caplog.records), (
        "the 503 path should log something"
    )
    _assert_clean(
        caplog.text, *(r.text for r in responses), *(str(dict(r.headers)) for r in responses)
    )


def test_worker_retries_and_tracebacks_log_no_secret(unreachable, caplog) -> None:
    from cortexrnn.shared.db import make_engine, with_db_retry

    caplog.set_level(logging.DEBUG)
    engine = make_engine(unreachable.database_url)

    def write() -> None:
        with engine.connect():
            pass

    with pytest.raises(OperationalError) as info:
        with_db_retry(write, attempts=2, first_wait=0.0)
    worker_log = logging.getLogger("cortexrnn.worker")
    try:
        raise info.value
    except OperationalError:
        worker_log.exception("pack %s failed", 1)  # what execution.py logs when a pack fails
    assert "database unavailable (attempt 1/2)" in caplog.text and "Traceback" in caplog.text
    _assert_clean(caplog.text, str(info.value), repr(info.value), repr(engine), str(engine.url))


def test_celery_shows_the_broker_without_its_password(unreachable) -> None:
    from cortexrnn.worker.celery_app import make_celery

    app = make_celery(unreachable)
    with app.connection_for_write() as conn:
        shown = conn.as_uri()  # what the worker banner and its logs print
    assert "127.0.0.1" in shown
    _assert_clean(shown)


def test_settings_refusal_redacts_the_password() -> None:
    with pytest.raises(UnsafeSettingsError) as info:
        Settings(database_url=DB_URL, secret_key=DEV_SECRET).refuse_unsafe()
    message = str(info.value)
    assert "CORTEXRNN_SECRET_KEY" in message and "cortex:***@127.0.0.1" in message
    _assert_clean(message)


def test_settings_validation_errors_do_not_echo_the_url() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        Settings(database_url=DB_URL, api_port="not-a-port")
    _assert_clean(str(info.value))
