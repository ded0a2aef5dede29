"""Jinja2 templates, their number and time filters, and the headers every page carries."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from cortexrnn.api.dashboard.auth import Viewer
from cortexrnn.shared.models import as_utc, utcnow

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_PATH = "/ui/static"

# Pages load scripts, styles and data from this server only: an injected tag cannot reach
# another host, and a page that tried would show up in the browser test as a CSP error.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    # Pages show one user's view of live state; nothing in between should keep them.
    "Cache-Control": "no-store",
}


def fmt_num(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool | str):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    v = float(value)
    if not math.isfinite(v):
        return "–"
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}g}" if abs(v) >= 1 else f"{v:.{digits}f}".rstrip("0").rstrip(".") or "0"


def fmt_p(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    v = float(value)
    return "< 0.001" if v < 0.001 else f"{v:.3f}"


def fmt_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def fmt_time(value: datetime | None) -> str:
    if value is None:
        return "–"
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def fmt_ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    return fmt_duration((utcnow() - as_utc(value)).total_seconds()) + " ago"


templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters.update(
    num=fmt_num, p=fmt_p, duration=fmt_duration, time=fmt_time, ago=fmt_ago
)
templates.env.globals["static"] = STATIC_PATH


def render(
    request: Request,
    name: str,
    viewer: Viewer | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        name,
        {"viewer": viewer, **context},
        status_code=status_code,
        headers=PAGE_HEADERS,
    )
