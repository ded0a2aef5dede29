"""/v1/tokens: a user's API tokens (create with an expiry, list, revoke); an admin's: all.

Tokens are created here for the caller only; an admin creates them for others (and tokens
that never expire) with `cortexrnn users token`. Only the SHA-256 of a token is stored: the
plain token is in the creation's answer and nowhere else.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import select

from cortexrnn.api.deps import SessionDep, UserDep, require_owner
from cortexrnn.api.errors import Responses, error_responses, not_found
from cortexrnn.shared.auth import hash_token, issue_token, list_tokens
from cortexrnn.shared.models import ApiToken, User, as_utc, utcnow
from cortexrnn.wire.schemas import TokenCreate, TokenCreated, TokenOut

router = APIRouter(prefix="/v1/tokens", tags=["tokens"])
ERRORS: Responses = error_responses(401, 403, 404, 422)


def _out(row: ApiToken) -> TokenOut:
    expires_at = as_utc(row.expires_at)
    return TokenOut(
        prefix=row.prefix,
        user=row.user.name,
        label=row.label,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=expires_at,
        expired=expires_at is not None and expires_at <= utcnow(),
    )


@router.post("", status_code=201, response_model=TokenCreated, responses=ERRORS)
def create_token(body: TokenCreate, session: SessionDep, user: UserDep) -> TokenCreated:
    """A new token for the caller, shown once in this answer; it expires after
    `expires_in_days` (default: the server's token lifetime)."""
    lifetime = None if body.expires_in_days is None else timedelta(days=body.expires_in_days)
    token = issue_token(session, user, label=body.label, expires_in=lifetime)
    row = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).one()
    session.commit()
    return TokenCreated(**_out(row).model_dump(), token=token)


@router.get("", response_model=list[TokenOut], responses=ERRORS)
def get_tokens(
    session: SessionDep,
    user: UserDep,
    owner: str | None = Query(None, max_length=64, description="An admin: only this user's."),
) -> list[TokenOut]:
    """The caller's tokens not revoked (expired ones included); an admin sees everyone's."""
    if not user.is_admin:
        return [_out(t) for t in list_tokens(session, user)]
    whose = None
    if owner is not None:
        whose = session.scalar(select(User).where(User.name == owner))
        if whose is None:
            raise not_found("user", repr(owner))
    return [_out(t) for t in list_tokens(session, whose)]


@router.delete("/{prefix}", status_code=204, responses=ERRORS)
def revoke_token(
    session: SessionDep,
    user: UserDep,
    prefix: str = Path(min_length=12, max_length=12, description="The token's shown prefix."),
) -> Response:
    """Revoke a token by its prefix: the owner's own, or any for an admin."""
    row = session.scalar(
        select(ApiToken).where(ApiToken.prefix == prefix, ApiToken.revoked_at.is_(None))
    )
    if row is None:
        raise not_found("token", repr(prefix))
    require_owner(user, row.user_id, "token")
    row.revoked_at = utcnow()
    session.commit()
    return Response(status_code=204)
