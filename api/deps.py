"""FastAPI dependencies: database sessions and the authenticated user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from cortexrnn.api.errors import ApiError, invalid_field
from cortexrnn.shared.auth import TokenRefused, check_token
from cortexrnn.shared.models import User

# Ids are BIGINT (SQLite INTEGER): a larger number in a URL would overflow the database driver
# (a 500); bounding the path parameter makes it a 422 that names the parameter.
MAX_ID = 2**63 - 1
ExperimentId = Annotated[int, Path(ge=1, le=MAX_ID, description="The experiment's id.")]
RunId = Annotated[int, Path(ge=1, le=MAX_ID, description="The run's id.")]

_bearer = HTTPBearer(auto_error=False, description="An API token from `cortexrnn users create`.")


def storable_parameters(request: Request) -> None:
    """Every route's path and query parameters: Postgres text cannot hold NUL, so a NUL that
    reached a query would fail there as a server error (SQLite would just find nothing)."""
    for name, value in (*request.path_params.items(), *request.query_params.multi_items()):
        if "\0" in name or "\0" in str(value):
            # A generated query may have an empty or NUL name: the error still names something.
            readable = name.replace("\0", "\\0").strip() or "query parameter name"
            raise invalid_field(readable, "a NUL character is not allowed here")


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
    try:
        user = check_token(session, creds.credentials)
    except TokenRefused as exc:
        raise ApiError(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    session.commit()  # records last_used_at
    return user


UserDep = Annotated[User, Depends(current_user)]


def require_owner(user: User, owner_id: int | None, what: str) -> None:
    """Only the owner or an admin may change something; everyone may read."""
    if not user.is_admin and user.id != owner_id:
        raise ApiError(403, f"only the owner of this {what} or an admin may do that")
