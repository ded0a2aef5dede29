"""Worker tokens: what a worker on another host sends to the API. They can upload artifacts
and fetch checkpoints and datasets, nothing else; a user token cannot do worker things and a
worker token cannot do user things (separate tables, separate prefixes)."""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cortexrnn.shared.artifact_models import WorkerToken
from cortexrnn.shared.auth import hash_token
from cortexrnn.shared.models import as_utc, utcnow

WORKER_TOKEN_PREFIX = "crnw_"
DEFAULT_WORKER_TOKEN_DAYS = 365
CREATE_HINT = "create one on the API host with `cortexrnn workers token NAME`"


class WorkerTokenError(ValueError):
    pass


def is_worker_token(token: str | None) -> bool:
    """Whether `token` looks like a worker token (the prefix tells the kinds apart, so that a
    worker configured with a user token keeps the old behaviour instead of failing)."""
    return bool(token) and str(token).startswith(WORKER_TOKEN_PREFIX)


def issue_worker_token(
    session: Session, name: str, *, days: float | None = DEFAULT_WORKER_TOKEN_DAYS
) -> str:
    """Store a new worker token called `name`; returns the plain token (shown once).
    `days=None`: it never expires."""
    name = name.strip()
    if not name or len(name) > 128 or not all(c.isalnum() or c in "-_.@" for c in name):
        raise WorkerTokenError(
            f"worker token name {name!r} must be 1-128 letters, digits, '-', '_', '.' or '@'"
        )
    if days is not None and days <= 0:
        raise WorkerTokenError("a worker token's lifetime (--days) must be positive")
    token = WORKER_TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        WorkerToken(
            name=name,
            token_hash=hash_token(token),
            prefix=token[:12],
            created_at=now,
            expires_at=None if days is None else now + timedelta(days=days),
        )
    )
    session.flush()
    return token


def refusal(session: Session, token: str, now: datetime | None = None) -> str | None:
    """Why `token` may not act as a worker (None: it may); marks it used when it may."""
    if not is_worker_token(token):
        return (
            "this is not a worker token (worker routes need one that starts with "
            f"{WORKER_TOKEN_PREFIX!r}; user tokens cannot do worker things): {CREATE_HINT} "
            "and set it as CORTEXRNN_WORKER_TOKEN on the worker host"
        )
    digest = hash_token(token)
    row = session.scalar(select(WorkerToken).where(WorkerToken.token_hash == digest))
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return f"unknown worker token; {CREATE_HINT}"
    now = now or utcnow()
    if row.revoked_at is not None:
        return f"worker token {row.prefix}… ({row.name}) was revoked; {CREATE_HINT}"
    expires = as_utc(row.expires_at)
    if expires is not None and expires <= now:
        return (
            f"worker token {row.prefix}… ({row.name}) expired on {expires:%Y-%m-%d}; {CREATE_HINT}"
        )
    row.last_used_at = now
    return None


def list_worker_tokens(session: Session) -> list[WorkerToken]:
    return list(session.scalars(select(WorkerToken).order_by(WorkerToken.id)))


def revoke_worker_tokens(session: Session, which: str) -> int:
    """Revoke the live worker tokens with this shown prefix or this name; returns how many."""
    rows = list(
        session.scalars(
            select(WorkerToken).where(
                WorkerToken.revoked_at.is_(None),
                (WorkerToken.prefix == which[:12]) | (WorkerToken.name == which),
            )
        )
    )
    for row in rows:
        row.revoked_at = utcnow()
    return len(rows)
