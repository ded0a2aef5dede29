"""Every error leaves the API as JSON a user can act on:
{"error": {"status": int, "message": str, "fields": [{"path": str, "message": str}]}}."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from cortexrnn.shared.artifacts import ArtifactStoreError
from cortexrnn.wire.schemas import ErrorResponse

log = logging.getLogger("cortexrnn.api")

# What FastAPI's `responses=` takes: extra OpenAPI responses by status code.
Responses = dict[int | str, dict[str, Any]]


def error_responses(*statuses: int) -> Responses:
    """OpenAPI `responses=` documenting these statuses with the error body."""
    return {status: {"model": ErrorResponse} for status in statuses}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        fields: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields or []
        self.headers = headers


def invalid_field(path: str, message: str) -> ApiError:
    """422 for one field of the request, named by its path (as validation errors are)."""
    return ApiError(422, f"{path}: {message}", [{"path": path, "message": message}])


def not_found(what: str, ident: object) -> ApiError:
    return ApiError(404, f"{what} {ident} does not exist")


def error_body(
    status: int, message: str, fields: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    return {"error": {"status": status, "message": message, "fields": fields or []}}


def field_errors(
    errors: Iterable[Mapping[str, Any]], *, drop_prefix: tuple[str, ...] = ()
) -> list[dict[str, str]]:
    """Pydantic errors as {path, message} with dotted paths (`conditions.full.lam`)."""
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ())]
        while loc and loc[0] in drop_prefix:
            loc = loc[1:]
        message = str(err.get("msg", "invalid"))
        # pydantic prefixes our validators' messages; the user only needs what follows.
        message = message.removeprefix("Value error, ")
        # An error may name a path deeper than its loc (services/spec/sweep.SweepPathError:
        # `sweep.fields.training.lr`, raised where the whole sweep is checked).
        named = getattr((err.get("ctx") or {}).get("error"), "path", None)
        out.append({"path": named or ".".join(loc) or "(body)", "message": message})
    return out


def describe_invalid(fields: list[dict[str, str]]) -> str:
    shown = "; ".join(f"{f['path']}: {f['message']}" for f in fields[:5])
    more = f" (and {len(fields) - 5} more)" if len(fields) > 5 else ""
    return f"invalid request: {shown}{more}"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.status, exc.message, exc.fields),
            status_code=exc.status,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        fields = field_errors(list(exc.errors()), drop_prefix=("body", "query", "path", "header"))
        return JSONResponse(error_body(422, describe_invalid(fields), fields), status_code=422)

    @app.exception_handler(ValidationError)
    async def _validation(_: Request, exc: ValidationError) -> JSONResponse:
        fields = field_errors(list(exc.errors()))
        return JSONResponse(error_body(422, describe_invalid(fields), fields), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = "no such endpoint; see /docs for the API"
        if exc.status_code == 405:
            message = "method not allowed on this endpoint; see /docs for the API"
        return JSONResponse(
            error_body(exc.status_code, message),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(ArtifactStoreError)
    async def _store_down(_: Request, exc: ArtifactStoreError) -> JSONResponse:
        log.warning("%s", exc)
        return JSONResponse(
            error_body(503, str(exc)), status_code=503, headers={"Retry-After": "5"}
        )

    @app.exception_handler(OperationalError)
    async def _db_down(_: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc.orig)
        return JSONResponse(
            error_body(503, "the database is unavailable right now; retry in a few seconds"),
            status_code=503,
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(DBAPIError)
    async def _db_error(_: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return JSONResponse(
                error_body(503, "the database connection was lost; retry in a few seconds"),
                status_code=503,
                headers={"Retry-After": "2"},
            )
        log.exception("database error")
        return JSONResponse(
            error_body(500, "internal database error; the administrators have the details"),
            status_code=500,
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            error_body(500, "internal error; the administrators have the details"), status_code=500
        )
