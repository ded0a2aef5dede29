"""The FastAPI application factory."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import redis
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker

from cortexrnn.api.dashboard import install_dashboard
from cortexrnn.api.deps import storable_parameters
from cortexrnn.api.errors import error_body, install_error_handlers
from cortexrnn.api.routers import (
    artifacts,
    datasets,
    experiments,
    health,
    queue,
    results,
    runs,
    specs,
    tokens,
    users,
)
from cortexrnn.shared.artifacts import ArtifactStore, finished_files
from cortexrnn.shared.db import get_sessionmaker
from cortexrnn.shared.remote_settings import get_remote_settings
from cortexrnn.shared.settings import Settings, get_settings

log = logging.getLogger("cortexrnn.api")

UPLOAD_PATHS = ("/v1/datasets",)


def _default_broker_check(settings: Settings) -> Callable[[], str]:
    def check() -> str:
        if settings.broker_url.startswith("filesystem://"):
            return "ok" if settings.broker_dir.parent.exists() else "broker folder missing"
        if settings.broker_url.startswith("redis://"):
            try:
                redis.Redis.from_url(
                    settings.broker_url, socket_connect_timeout=1, socket_timeout=1
                ).ping()
                return "ok"
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                return f"unreachable: {type(exc).__name__}"
        return "ok"

    return check


def create_app(
    settings: Settings | None = None,
    *,
    session_factory: sessionmaker[Session] | None = None,
    broker_check: Callable[[], str] | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="CortexRNN",
        version="1",
        docs_url=None,  # /docs and /redoc come from the dashboard, with no CDN
        redoc_url=None,
        description="Train RNNs with cortical priors and measure what they learn. "
        "Every request needs `Authorization: Bearer <token>` except the health endpoints.",
        dependencies=[Depends(storable_parameters)],
    )
    app.state.settings = settings
    app.state.sessionmaker = session_factory or get_sessionmaker(settings.database_url)
    app.state.broker_check = broker_check or _default_broker_check(settings)
    # Where finished artifacts live (local disk, or a bucket): a bucket that is missing or
    # unreachable stops the API here, with the reason, rather than at the first upload.
    app.state.artifact_store = ArtifactStore(
        settings.artifacts_dir or settings.home / "artifacts",
        finished_files(settings, get_remote_settings()),
    )
    app.state.artifact_store.files.check()
    app.state.event_interval_s = 1.0
    install_error_handlers(app)

    @app.middleware("http")
    async def limit_request_size(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        limit = (
            settings.upload_max_bytes
            if request.url.path.startswith(UPLOAD_PATHS)
            else settings.request_max_bytes
        )
        length = request.headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return JSONResponse(
                    error_body(400, "Content-Length must be a number"), status_code=400
                )
            if int(length) > limit:
                return JSONResponse(
                    error_body(
                        413, f"request body of {length} bytes exceeds the limit of {limit} bytes"
                    ),
                    status_code=413,
                )
        elif (
            request.method in ("POST", "PUT", "PATCH")
            and request.headers.get("transfer-encoding") == "chunked"
        ):
            return JSONResponse(
                error_body(411, "send a Content-Length header with request bodies"), status_code=411
            )
        return await call_next(request)

    # specs before experiments: /v1/experiments/validate is a fixed path beside /{experiment_id}.
    routers = (specs, experiments, results, runs, queue, datasets, tokens, users)
    for router in (health.router, *(module.router for module in routers)):
        app.include_router(router)
    app.include_router(artifacts.router)  # /v1/worker: worker tokens only
    install_dashboard(app)  # web pages at /, offline /docs and /redoc
    return app
