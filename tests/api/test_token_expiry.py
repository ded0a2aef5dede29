"""API tokens expire: a default lifetime at issue (configurable), `expires_in_days` when a user
creates one, a 401 that says the token expired and how to get a new one, tokens listed and
revoked through the API, and migration 0004 giving the tokens issued before it a grace period
instead of leaving them valid forever."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from cortexrnn.shared.auth import (
    DEFAULT_TOKEN_TTL_DAYS,
    authenticate,
    create_user,
    hash_token,
    issue_token,
)
from cortexrnn.shared.db import make_engine, session_scope
from cortexrnn.shared.migrate import downgrade, upgrade
from cortexrnn.shared.models import ApiToken, User, as_utc, utcnow
from tests.api.conftest import Api, assert_error


def _token_row(session, token: str) -> ApiToken:
    return session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).one()


def _expire(token: str) -> None:
    with session_scope() as s:
        _token_row(s, token).expires_at = utcnow() - timedelta(minutes=1)


def test_tokens_get_the_default_lifetime_at_issue(api: Api) -> None:
    with session_scope() as s:
        row = _token_row(s, api.tokens["alice"])
        left = as_utc(row.expires_at) - utcnow()
    assert (
        timedelta(days=DEFAULT_TOKEN_TTL_DAYS - 1) < left <= timedelta(days=DEFAULT_TOKEN_TTL_DAYS)
    )


def test_the_default_lifetime_follows_the_settings(api: Api, monkeypatch) -> None:
    from cortexrnn.shared.settings import reset_settings_cache

    monkeypatch.setenv("CORTEXRNN_TOKEN_TTL_DAYS", "7")
    reset_settings_cache()
    with session_scope() as s:
        token = issue_token(s, s.scalars(select(User).where(User.name == "bob")).one())
        left = as_utc(_token_row(s, token).expires_at) - utcnow()
    monkeypatch.delenv("CORTEXRNN_TOKEN_TTL_DAYS")
    reset_settings_cache()
    assert timedelta(days=6) < left <= timedelta(days=7)


def test_an_expired_token_is_401_saying_so_and_how_to_get_a_new_one(api: Api) -> None:
    assert api.get("/v1/me").status_code == 200
    _expire(api.tokens["alice"])
    body = assert_error(api.get("/v1/me"), 401, "expired")
    message = body["error"]["message"]
    assert "cortexrnn users token" in message and "cortexrnn-client login" in message
    assert api.get("/v1/me", user="bob").status_code == 200  # other tokens are unaffected
    with session_scope() as s:  # the embedded server's check treats it as gone, and renews it
        assert authenticate(s, api.tokens["alice"]) is None


def test_a_token_that_never_expires_keeps_working(api: Api) -> None:
    with session_scope() as s:
        _, token = create_user(s, "service", expires_in="never")
        assert _token_row(s, token).expires_at is None
    response = api.client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json()["name"] == "service"


def test_a_user_creates_a_token_with_an_expiry_lists_and_revokes_it(api: Api) -> None:
    created = api.post("/v1/tokens", json={"label": "laptop", "expires_in_days": 3})
    assert created.status_code == 201, created.text
    body = created.json()
    token, prefix = body["token"], body["prefix"]
    assert token.startswith(prefix) and body["user"] == "alice" and not body["expired"]
    with session_scope() as s:
        left = as_utc(_token_row(s, token).expires_at) - utcnow()
    assert timedelta(days=2) < left <= timedelta(days=3)

    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/v1/me", headers=headers).json()["name"] == "alice"
    mine = api.get("/v1/tokens").json()
    assert {t["prefix"] for t in mine} >= {prefix} and {t["user"] for t in mine} == {"alice"}
    assert all("token" not in t for t in mine)  # the plain token is shown once only

    assert_error(api.delete(f"/v1/tokens/{prefix}", user="bob"), 403, "owner")
    assert api.delete(f"/v1/tokens/{prefix}").status_code == 204
    assert_error(api.client.get("/v1/me", headers=headers), 401, "revoked")
    assert_error(api.delete(f"/v1/tokens/{prefix}"), 404, "token")


@pytest.mark.parametrize("days", [0, -1, 3651, "soon"])
def test_an_invalid_lifetime_is_422_naming_the_field(api: Api, days: object) -> None:
    assert_error(api.post("/v1/tokens", json={"expires_in_days": days}), 422, "expires_in_days")


def test_an_admin_lists_everyones_tokens_and_revokes_any(api: Api) -> None:
    everyone = api.get("/v1/tokens", user="root").json()
    assert {t["user"] for t in everyone} == {"alice", "bob", "root"}
    bobs = api.get("/v1/tokens", user="root", params={"owner": "bob"}).json()
    assert [t["user"] for t in bobs] == ["bob"]
    _expire(api.tokens["bob"])
    (expired,) = api.get("/v1/tokens", user="root", params={"owner": "bob"}).json()
    assert expired["expired"]
    assert api.delete(f"/v1/tokens/{bobs[0]['prefix']}", user="root").status_code == 204
    assert api.get("/v1/tokens", user="root", params={"owner": "bob"}).json() == []
    assert_error(api.get("/v1/tokens", user="root", params={"owner": "nobody"}), 404, "user")


def _tokens_before_expiry(url: str) -> None:
    """A database at the revision before token expiry, with one live and one revoked token."""
    upgrade("0003_scheduler_indexes", url=url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO users (id, name, is_admin, created_at) VALUES (1, 'old', :f, :t)"
                ),
                {"f": False, "t": utcnow()},
            )
            for i, revoked in ((1, None), (2, utcnow())):
                conn.execute(
                    text(
                        "INSERT INTO api_tokens (id, user_id, token_hash, prefix, created_at, "
                        "revoked_at) VALUES (:i, 1, :h, :p, :t, :r)"
                    ),
                    {"i": i, "h": f"{i:064d}", "p": f"crnn_{i}", "t": utcnow(), "r": revoked},
                )
    finally:
        engine.dispose()


def _check_grace(url: str) -> None:
    _tokens_before_expiry(url)
    upgrade("0004_token_expiry", url=url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT id, expires_at FROM api_tokens")).all())
    finally:
        engine.dispose()
    live = rows[1] if not isinstance(rows[1], str) else None
    if live is None:  # SQLite hands back text through a raw query
        from datetime import datetime

        live = datetime.fromisoformat(rows[1])
    left = as_utc(live) - utcnow()
    assert timedelta(days=89) < left <= timedelta(days=90)
    assert rows[2] is None  # a revoked token is left as it was
    downgrade("0003_scheduler_indexes", url=url)
    upgrade("0004_token_expiry", url=url)


def test_migration_gives_earlier_tokens_a_grace_period_on_sqlite(tmp_path: Path) -> None:
    _check_grace(f"sqlite:///{tmp_path / 'tokens.db'}")


@pytest.mark.postgres
def test_migration_gives_earlier_tokens_a_grace_period_on_postgres(postgres_url: str) -> None:
    _check_grace(postgres_url)


def test_the_users_command_sets_a_tokens_lifetime(api: Api) -> None:
    from typer.testing import CliRunner

    from cortexrnn.cli.main import app

    runner = CliRunner()
    short = runner.invoke(app, ["users", "create", "carol", "--expires-in-days", "2"])
    assert short.exit_code == 0, short.output
    forever = runner.invoke(app, ["users", "token", "carol", "--never-expires"])
    assert forever.exit_code == 0, forever.output
    both = runner.invoke(
        app, ["users", "token", "carol", "--never-expires", "--expires-in-days", "1"]
    )
    assert both.exit_code == 2 and "not both" in both.output
    with session_scope() as s:
        left = as_utc(_token_row(s, short.output.strip()).expires_at) - utcnow()
        assert timedelta(days=1) < left <= timedelta(days=2)
        assert _token_row(s, forever.output.strip()).expires_at is None
    listed = runner.invoke(app, ["users", "list"])
    assert listed.exit_code == 0 and "never" in listed.output
