"""API tokens: generated once, stored as SHA-256 only, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from cortexrnn.shared.models import ApiToken, User, utcnow

TOKEN_PREFIX = "crnn_"


class AuthError(ValueError):
    pass


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast unsalted hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def issue_token(session: Session, user: User, label: str | None = None) -> str:
    """Store a new token for `user` and return the plain token (shown once, never stored)."""
    token = new_token()
    session.add(
        ApiToken(user_id=user.id, token_hash=hash_token(token), prefix=token[:12], label=label)
    )
    session.flush()
    return token


def create_user(session: Session, name: str, *, admin: bool = False) -> tuple[User, str]:
    name = name.strip()
    if not name or len(name) > 64 or not all(c.isalnum() or c in "-_." for c in name):
        raise AuthError(f"user name {name!r} must be 1-64 letters, digits, '-', '_' or '.'")
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise AuthError(
            f"user {name!r} already exists; use `cortexrnn users token {name}` for a new token"
        )
    user = User(name=name, is_admin=admin)
    session.add(user)
    session.flush()
    return user, issue_token(session, user, label="created with user")


def authenticate(session: Session, token: str) -> User | None:
    """The user a live token belongs to, or None."""
    digest = hash_token(token)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    # The lookup is by an index on the hash; the final comparison is constant-time anyway.
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at is not None:
        return None
    row.last_used_at = utcnow()
    return row.user


def revoke_tokens(session: Session, *, prefix: str | None = None, user: User | None = None) -> int:
    """Revoke tokens by their shown prefix, or all tokens of a user; returns how many."""
    stmt = select(ApiToken).where(ApiToken.revoked_at.is_(None))
    if prefix:
        stmt = stmt.where(ApiToken.prefix == prefix[:12])
    if user is not None:
        stmt = stmt.where(ApiToken.user_id == user.id)
    if prefix is None and user is None:
        raise AuthError("name a token prefix or a user to revoke")
    rows = list(session.scalars(stmt))
    for row in rows:
        row.revoked_at = utcnow()
    return len(rows)
