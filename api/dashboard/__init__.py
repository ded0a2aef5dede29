"""The web dashboard, served by the API at `/` (docs/dashboard.md): queue, experiments,
experiment pages with live curves, compare, datasets; and the offline /docs and /redoc.

Pages are rendered on the server (Jinja2); the browser draws charts with the vendored uPlot.
Every script and style comes from `static/` in the installed package, so that the pages work
on machines without internet.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from cortexrnn.api.dashboard import (
    actions,
    compare,
    datasets_pages,
    docs,
    experiment_data,
    experiment_page,
    login,
    overview_pages,
)
from cortexrnn.api.dashboard.auth import LoginRequired, Refused, optional_viewer
from cortexrnn.api.dashboard.templating import STATIC_DIR, STATIC_PATH, render
from cortexrnn.api.errors import error_body

ROUTERS = (
    login.router,
    docs.router,
    overview_pages.router,
    experiment_page.router,
    experiment_data.router,
    actions.router,
    compare.router,
    datasets_pages.router,
)


def install_dashboard(app: FastAPI) -> None:
    """Add the dashboard's routes, its static files and its error pages to the API app (the
    app's own docs_url and redoc_url must be None: these replace them)."""
    for router in ROUTERS:
        app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="dashboard-static")
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(Refused, _refused)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.next_path, safe='/')}", status_code=303)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    if request.url.path.startswith("/ui/") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse(error_body(exc.status, exc.message), status_code=exc.status)
    with request.app.state.sessionmaker() as session:
        viewer = optional_viewer(request, session)
        return render(request, "error.html", viewer, status_code=exc.status, error=exc)
