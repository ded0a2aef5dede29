"""The dashboard's signed session cookie and its CSRF tokens (no server-side session store).

The cookie holds the SHA-256 of the API token the user logged in with, never the token: every
request looks the digest up again, so revoking the token (`cortexrnn users revoke`) ends the
browser session too, and a stolen cookie never reveals a token that works on /v1.

CSRF: a synchronizer token derived from the session's random nonce with the server's key
(HMAC), put in every form and checked on every state-changing request. Before login the same
scheme runs on a short-lived login cookie, so that another site cannot log a browser into an
account of its choosing (login CSRF).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

SESSION_COOKIE = "cortexrnn_session"
LOGIN_COOKIE = "cortexrnn_login"
SESSION_MAX_AGE_S = 12 * 3600
LOGIN_MAX_AGE_S = 600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signing_key(secret_key: str) -> bytes:
    # A key of its own, so that nothing else signed with the server secret can pass as a
    # dashboard cookie.
    return hmac.new(secret_key.encode(), b"cortexrnn-dashboard-session-v1", hashlib.sha256).digest()


@dataclass(frozen=True)
class SessionData:
    token_hash: str
    nonce: str
    issued_at: float


def _sign(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())


def encode_session(key: bytes, token_hash: str, now: float | None = None) -> str:
    body = {"h": token_hash, "n": secrets.token_urlsafe(16), "t": int(now or time.time())}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{_sign(key, payload)}"


def decode_session(key: bytes, cookie: str | None, now: float | None = None) -> SessionData | None:
    """The session a cookie carries, or None when it is missing, forged, malformed or old."""
    if not cookie or cookie.count(".") != 1:
        return None
    payload, signature = cookie.split(".")
    if not hmac.compare_digest(signature, _sign(key, payload)):
        return None
    try:
        body = json.loads(_unb64(payload))
        data = SessionData(str(body["h"]), str(body["n"]), float(body["t"]))
    except (ValueError, KeyError, TypeError):
        return None
    if (now or time.time()) - data.issued_at > SESSION_MAX_AGE_S:
        return None
    return data


def csrf_token(key: bytes, nonce: str, purpose: str = "session") -> str:
    return _sign(key, f"csrf|{purpose}|{nonce}")


def csrf_valid(key: bytes, nonce: str, offered: str | None, purpose: str = "session") -> bool:
    return bool(offered) and hmac.compare_digest(str(offered), csrf_token(key, nonce, purpose))


def encode_login_nonce(key: bytes, now: float | None = None) -> tuple[str, str]:
    """(cookie value, form token) for the login form."""
    nonce = f"{secrets.token_urlsafe(16)}:{int(now or time.time())}"
    return f"{nonce}.{_sign(key, nonce)}", csrf_token(key, nonce, "login")


def login_nonce(key: bytes, cookie: str | None, now: float | None = None) -> str | None:
    if not cookie or cookie.count(".") != 1:
        return None
    nonce, signature = cookie.split(".")
    if not hmac.compare_digest(signature, _sign(key, nonce)):
        return None
    try:
        issued = int(nonce.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None
    return nonce if (now or time.time()) - issued <= LOGIN_MAX_AGE_S else None
