from __future__ import annotations

import pytest
from sqlalchemy import select

from cortexrnn.shared.auth import AuthError, authenticate, create_user, issue_token, revoke_tokens
from cortexrnn.shared.db import session_scope
from cortexrnn.shared.migrate import upgrade
from cortexrnn.shared.models import ApiToken


@pytest.fixture()
def db(cortexrnn_home):
    upgrade()
    return cortexrnn_home


def test_tokens_are_stored_hashed_and_authenticate(db) -> None:
    with session_scope() as s:
        _user, token = create_user(s, "alice")
    with session_scope() as s:
        stored = list(s.scalars(select(ApiToken.token_hash)))
        assert token not in stored and all(len(h) == 64 for h in stored)
        assert authenticate(s, token).name == "alice"
        assert authenticate(s, token + "x") is None
        assert authenticate(s, "") is None


def test_revoked_tokens_stop_working(db) -> None:
    with session_scope() as s:
        user, first = create_user(s, "bob")
        second = issue_token(s, user)
    with session_scope() as s:
        assert revoke_tokens(s, prefix=first[:12]) == 1
    with session_scope() as s:
        assert authenticate(s, first) is None
        assert authenticate(s, second).name == "bob"


def test_bad_and_duplicate_user_names(db) -> None:
    with session_scope() as s:
        create_user(s, "carol")
    with pytest.raises(AuthError, match="already exists"), session_scope() as s:
        create_user(s, "carol")
    with pytest.raises(AuthError, match="letters, digits"), session_scope() as s:
        create_user(s, "../etc")
