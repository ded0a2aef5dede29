"""The dependency of the worker routes: a worker token (shared/worker_tokens.py), never a
user's. The name of the token is what the routes get; it goes to the log of what it did."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cortexrnn.api.deps import SessionDep
from cortexrnn.api.errors import ApiError
from cortexrnn.shared.auth import TOKEN_PREFIX
from cortexrnn.shared.worker_tokens import CREATE_HINT, refusal

_bearer = HTTPBearer(
    auto_error=False, description="A worker token from `cortexrnn workers token NAME`."
)


def current_worker_token(
    session: SessionDep, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> str:
    if creds is None or not creds.credentials:
        raise ApiError(
            401,
            f"missing worker token: send 'Authorization: Bearer <worker token>' ({CREATE_HINT})",
            headers={"WWW-Authenticate": "Bearer"},
        )
    why = refusal(session, creds.credentials)
    if why is not None:
        # A user token is a credential of the wrong kind: forbidden, not unauthenticated.
        status = 403 if creds.credentials.startswith(TOKEN_PREFIX) else 401
        raise ApiError(status, why, headers={"WWW-Authenticate": "Bearer"})
    session.commit()  # records last_used_at
    return creds.credentials[:12]


WorkerDep = Annotated[str, Depends(current_worker_token)]
