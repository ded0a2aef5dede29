"""FastAPI dependencies: database sessions and the authenticated user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from cortexrnn.api.errors import ApiError
from cortexrnn.shared.auth import authenticate
from cortexrnn.shared.models import User

# Ids are BIGINT (SQLite INTEGER): a larger number in a URL would overflow the database driver
# (a 500); bounding the path parameter makes it a 422 that names the parameter.
MAX_ID = 2**63 - 1
ExperimentId = Annotated[int, Path(ge=1, le=MAX_ID, description="The experiment's id.")]
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="The run's id.")]

_bearer = HTTPBearer(auto_error=False, description="An API token from `cortexrnn users create`.")


def get_session(request: Request) -> Iterator[Session]:
    session = request.app.state.sessionmaker()
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def current_user(
    session: SessionDep, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> User:
    if creds is None or not creds.credentials:
        raise ApiError(
            401,
            "missing API token: send 'Authorization: Bearer <token>' "
            "(get one with `cortexrnn users create NAME`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    user = authenticate(session, creds.credentials)
    if user is None:
        raise ApiError(
            401,
            "invalid or revoked API token; ask an admin for a new one",
            headers={"WWW-Authenticate": "Bearer"},
        )
    session.commit()  # records last_used_at
    return user


UserDep = Annotated[User, Depends(current_user)]


def require_owner(user: User, owner_id: int | None, what: str) -> None:
    """Only the owner or an admin may change something; everyone may read."""
    if not user.is_admin and user.id != owner_id:
        raise ApiError(403, f"only the owner of this {what} or an admin may do that")
