"""API tokens: generated once, stored as SHA-256 only, compared in constant time, refused
after their expiry (settings `token_ttl_days`, 90 days by default, after issue)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cortexrnn.shared.models import ApiToken, User, as_utc, utcnow
from cortexrnn.shared.settings import get_settings

TOKEN_PREFIX = "crnn_"
DEFAULT_TOKEN_TTL_DAYS = 90
# How to get a new token, for the messages that refuse one.
RENEW_HINT = (
    "ask an admin for a new one (`cortexrnn users token NAME`) and store it with "
    "`cortexrnn-client login`"
)

# A token's lifetime: a duration, "never", or None for the deployment's default.
Lifetime = timedelta | Literal["never"] | None


class AuthError(ValueError):
    pass


class TokenRefused(AuthError):
    """A token that does not authenticate; the message says why and what to do."""


def default_token_ttl() -> timedelta:
    """The lifetime of a token issued without one (settings `token_ttl_days`)."""
    return timedelta(days=float(get_settings().token_ttl_days))


def expiry(lifetime: Lifetime, now: datetime | None = None) -> datetime | None:
    if lifetime == "never":
        return None
    if lifetime is None:
        lifetime = default_token_ttl()
    if lifetime <= timedelta(0):
        raise AuthError("a token's lifetime must be positive")
    return (now or utcnow()) + lifetime


def hash_token(token: str) -> str:
    # Tokens carry 256 random bits, so a fast unsalted hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def issue_token(
    session: Session, user: User, label: str | None = None, *, expires_in: Lifetime = None
) -> str:
    """Store a new token for `user` and return the plain token (shown once, never stored).
    `expires_in`: its lifetime (default: the deployment's), or "never"."""
    token = new_token()
    session.add(
        ApiToken(
            user_id=user.id,
            token_hash=hash_token(token),
            prefix=token[:12],
            label=label,
            expires_at=expiry(expires_in),
        )
    )
    session.flush()
    return token


def create_user(
    session: Session, name: str, *, admin: bool = False, expires_in: Lifetime = None
) -> tuple[User, str]:
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
    return user, issue_token(session, user, label="created with user", expires_in=expires_in)


def check_token(session: Session, token: str) -> User:
    """The user a live token belongs to (its use is recorded); TokenRefused says why not."""
    digest = hash_token(token)
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
    # The lookup is by an index on the hash; the final comparison is constant-time anyway.
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at is not None:
        raise TokenRefused(f"invalid or revoked API token; {RENEW_HINT}")
    now = utcnow()
    expires_at = as_utc(row.expires_at)
    if expires_at is not None and expires_at <= now:
        raise TokenRefused(
            f"API token {row.prefix}… expired on {expires_at:%Y-%m-%d %H:%M} UTC; {RENEW_HINT}"
        )
    row.last_used_at = now
    return row.user


def authenticate(session: Session, token: str) -> User | None:
    """The user a live token belongs to, or None (revoked, expired or unknown)."""
    try:
        return check_token(session, token)
    except TokenRefused:
        return None


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


def list_tokens(session: Session, user: User | None = None) -> list[ApiToken]:
    """Tokens not revoked (expired ones included, so that they can be seen and revoked), of
    one user or of everyone, newest first."""
    stmt = select(ApiToken).where(ApiToken.revoked_at.is_(None))
    if user is not None:
        stmt = stmt.where(ApiToken.user_id == user.id)
    return list(session.scalars(stmt.order_by(ApiToken.id.desc())))
