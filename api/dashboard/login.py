"""Logging in with an API token, and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from cortexrnn.api.dashboard.auth import CheckedViewer, OptionalViewer, key_of, same_origin
from cortexrnn.api.dashboard.session import (
    LOGIN_COOKIE,
    LOGIN_MAX_AGE_S,
    SESSION_COOKIE,
    SESSION_MAX_AGE_S,
    csrf_valid,
    encode_login_nonce,
    encode_session,
    login_nonce,
)
from cortexrnn.api.dashboard.templating import render
from cortexrnn.api.deps import SessionDep
from cortexrnn.shared.auth import authenticate, hash_token

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Only a path on this server: a login link must not forward to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    # Secure wherever the page itself came over HTTPS (a proxy in front of the API must pass
    # the scheme on, e.g. uvicorn --proxy-headers); a plain-HTTP localhost needs it off.
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _login_page(
    request: Request, next_path: str, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    cookie, token = encode_login_nonce(key_of(request))
    response = render(
        request,
        "login.html",
        None,
        status_code=status_code,
        csrf=token,
        next_path=next_path,
        error=error,
    )
    _set_cookie(response, request, LOGIN_COOKIE, cookie, LOGIN_MAX_AGE_S)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, viewer: OptionalViewer, next: str | None = None) -> Response:
    if viewer is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, safe_next(next))


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    token: Annotated[str, Form(max_length=200)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    key = key_of(request)
    nonce = login_nonce(key, request.cookies.get(LOGIN_COOKIE))
    if not same_origin(request) or nonce is None or not csrf_valid(key, nonce, csrf_token, "login"):
        return _login_page(
            request, safe_next(next), "The login form expired; please try again.", 403
        )
    token = token.strip()
    user = authenticate(session, token) if token else None
    if user is None:
        return _login_page(
            request,
            safe_next(next),
            "That token is not valid (unknown, revoked or expired). Tokens come from "
            "`cortexrnn users create NAME` or `cortexrnn users token NAME`.",
            401,
        )
    session.commit()  # records last_used_at
    response = RedirectResponse(safe_next(next), status_code=303)
    _set_cookie(
        response, request, SESSION_COOKIE, encode_session(key, hash_token(token)), SESSION_MAX_AGE_S
    )
    response.delete_cookie(LOGIN_COOKIE, path="/")
    return response


@router.post("/logout")
def logout(request: Request, _: CheckedViewer) -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
