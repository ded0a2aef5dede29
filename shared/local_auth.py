"""The embedded deployment's local admin: a token the client on the same machine finds by
itself (a file readable only by its owner), so that a laptop user never handles tokens."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from cortexrnn.shared.auth import authenticate, create_user, issue_token
from cortexrnn.shared.db import session_scope
from cortexrnn.shared.models import User
from cortexrnn.shared.settings import get_settings
from cortexrnn.wire import embedded
from cortexrnn.wire.embedded import LOCAL_ADMIN

__all__ = ["LOCAL_ADMIN", "ensure_local_admin", "local_token_path"]


def local_token_path() -> Path:
    """The token file in the configured home; the client finds it by the same rule
    (cortexrnn.wire.embedded)."""
    return embedded.local_token_path(get_settings().home)


def ensure_local_admin() -> Path:
    """Make sure the local admin exists and its token file holds a live token."""
    path = local_token_path()
    with session_scope() as session:
        if path.is_file() and authenticate(session, path.read_text().strip()) is not None:
            return path
        user = session.scalar(select(User).where(User.name == LOCAL_ADMIN))
        token = (
            issue_token(session, user, label="embedded server")
            if user
            else create_user(session, LOCAL_ADMIN, admin=True)[1]
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    os.chmod(path, 0o600)
    return path
