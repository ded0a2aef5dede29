"""Every failure the client can meet, as one exception type per exit code.

The CLI prints `error: <message>` (plus one line per field error) and exits with the
class's `exit_code`; the Python API raises the same exceptions. The codes are documented in
docs/client.md and must stay stable: scripts and Slurm jobs branch on them.
"""

from __future__ import annotations

from typing import Any

import httpx


class ClientError(Exception):
    """Base class: a one-line message saying what happened and what to do."""

    exit_code = 1

    def __init__(
        self, message: str, *, fields: list[dict[str, str]] | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or []
        self.status = status

    def lines(self) -> list[str]:
        out = [f"error: {self.message}"]
        out += [f"  {f.get('path') or '(top level)'}: {f.get('message', '')}" for f in self.fields]
        return out


class RunsFailed(ClientError):
    """The experiment finished, but some runs failed, were lost or were cancelled."""

    exit_code = 1


class UsageError(ClientError):
    """Bad input: an invalid spec, a bad option, a request the server refused as invalid
    (400/413/422)."""

    exit_code = 2


class SpecInvalid(UsageError):
    """The spec failed local validation; `fields` holds the field paths."""


class Unreachable(ClientError):
    """No answer from the server: refused connection, timeout, or 502/503/504 after the retries."""

    exit_code = 3


class AuthFailed(ClientError):
    """401: no token, or the token is wrong or revoked."""

    exit_code = 4


class NotFound(ClientError):
    """404: no experiment, run or dataset by that id or name."""

    exit_code = 5


class Refused(ClientError):
    """403 or 409: not allowed for this user, or not possible in the current state."""

    exit_code = 6


class ServerError(ClientError):
    """500 (or another unexpected status): a bug or outage on the server side."""

    exit_code = 7


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "the experiment finished with failed, lost or cancelled runs",
    2: "usage error: invalid spec (field paths are listed), bad option, request refused as invalid",
    3: "server unreachable or unavailable (after retries)",
    4: "authentication failed: missing, wrong or revoked token",
    5: "not found: no such experiment, run or dataset",
    6: "refused: not the owner (403) or not possible now (409, e.g. nothing to retry)",
    7: "server error (500): the administrators have the details",
    130: "interrupted (Ctrl-C); the experiment keeps running on the server",
    141: "output closed by its reader (e.g. `| head`); what was sent to the server stands",
}


def _server_error_body(response: httpx.Response) -> tuple[str | None, list[dict[str, str]]]:
    try:
        body: Any = response.json()
    except ValueError:
        return None, []
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        fields = [f for f in err.get("fields") or [] if isinstance(f, dict)]
        return str(err.get("message") or ""), fields
    if isinstance(body, dict) and "detail" in body:  # a proxy or an older server
        return str(body["detail"]), []
    return None, []


def error_from_response(response: httpx.Response, *, url: str) -> ClientError:
    """The exception for a non-2xx response, with a hint that fits its status."""
    status = response.status_code
    message, fields = _server_error_body(response)
    what = f"{response.request.method} {response.request.url.path}"
    message = message or (response.reason_phrase or "no message") + f" ({what})"
    if status == 401:
        return AuthFailed(
            f"{message} (server {url}); run `cortexrnn-client login` or set CORTEXRNN_TOKEN",
            status=status,
        )
    if status == 404:
        return NotFound(message, status=status)
    if status in (403, 409):
        return Refused(message, status=status)
    if status in (400, 411, 413, 415, 422):
        return UsageError(message, fields=fields, status=status)
    if status in (429, 502, 503, 504):
        return Unreachable(
            f"server {url} is unavailable ({status}: {message}); retry in a minute", status=status
        )
    return ServerError(f"server error {status} on {what}: {message}", status=status)


def unreachable(url: str, exc: Exception, note: str | None = None) -> Unreachable:
    reason = type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        reason = (
            "connection refused"
            if "refused" in str(exc).lower() or "errno 111" in str(exc).lower()
            else f"cannot connect: {exc}"
        )
    elif isinstance(exc, httpx.TimeoutException):
        reason = "timed out"
    return Unreachable(
        f"cannot reach the CortexRNN server at {url} ({reason}); start one with `cortexrnn serve`, "
        "or point the client at yours with --url / CORTEXRNN_URL" + (f" ({note})" if note else "")
    )
