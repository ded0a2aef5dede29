"""FastAPI dependencies of the dashboard: who is looking (from the session cookie), and the
CSRF check every state-changing request passes.

The /v1 API never reads this cookie (it takes Bearer tokens only), so the cookie cannot be
used to drive the API from another site; the dashboard's own POSTs are what CSRF guards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from sqlalchemy import select

from cortexrnn.api.dashboard.session import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    csrf_token,
    csrf_valid,
    decode_session,
    signing_key,
)
from cortexrnn.api.deps import SessionDep
from cortexrnn.shared.models import ApiToken, User, as_utc, utcnow


class LoginRequired(Exception):
    """A page needs a logged-in user; answered with a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class Refused(Exception):
    """A dashboard request refused with `status`; answered as a page or as JSON."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Viewer:
    user: User
    csrf: str  # this session's CSRF token, for forms and the X-CSRF-Token header
    nonce: str

    def may_change(self, owner_id: int | None) -> bool:
        """The same rule as the API's `require_owner`: the owner or an admin."""
        return self.user.is_admin or self.user.id == owner_id


def key_of(request: Request) -> bytes:
    return signing_key(request.app.state.settings.secret_key)


def optional_viewer(request: Request, session: SessionDep) -> Viewer | None:
    key = key_of(request)
    data = decode_session(key, request.cookies.get(SESSION_COOKIE))
    if data is None:
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == data.token_hash))
    if row is None or row.revoked_at is not None:
        return None
    # The token's own expiry (where the deployment's schema has one) ends the session too.
    expires_at = as_utc(getattr(row, "expires_at", None))
    if expires_at is not None and expires_at <= utcnow():
        return None
    return Viewer(row.user, csrf_token(key, data.nonce), data.nonce)


OptionalViewer = Annotated[Viewer | None, Depends(optional_viewer)]


def page_viewer(request: Request, viewer: OptionalViewer) -> Viewer:
    if viewer is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(target)
    return viewer


def data_viewer(viewer: OptionalViewer) -> Viewer:
    if viewer is None:
        raise Refused(401, "log in to the dashboard first")
    return viewer


PageViewer = Annotated[Viewer, Depends(page_viewer)]
DataViewer = Annotated[Viewer, Depends(data_viewer)]


def same_origin(request: Request) -> bool:
    """A browser names the page a request came from in Origin (or, older ones, Referer); a
    request from another site is refused even before its CSRF token is looked at."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return True  # non-browser clients send neither; the token check still applies
    return urlsplit(source).netloc == request.headers.get("host", "")


async def checked_viewer(request: Request, viewer: DataViewer) -> Viewer:
    """The viewer of a state-changing request whose CSRF token matches its session."""
    if not same_origin(request):
        raise Refused(403, "cross-site request refused")
    offered = request.headers.get(CSRF_HEADER)
    if offered is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        offered = value if isinstance(value, str) else None
    if not csrf_valid(key_of(request), viewer.nonce, offered):
        raise Refused(403, "missing or invalid CSRF token; reload the page and try again")
    return viewer


CheckedViewer = Annotated[Viewer, Depends(checked_viewer)]
