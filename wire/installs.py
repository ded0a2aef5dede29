"""What each install extra adds, by import name, so that the client and the server CLI can
tell "not installed here" (a clear message naming the extra) from a genuine import bug (a
traceback). pyproject.toml's optional dependencies are the source these sets follow."""

from __future__ import annotations

# `cortexrnn[science]`
SCIENCE_PACKAGES = frozenset(
    {"numpy", "scipy", "torch", "pandas", "pyarrow", "matplotlib", "networkx"}
)
# `cortexrnn[worker]` and `cortexrnn[server]`, beyond the science
SERVER_PACKAGES = frozenset(
    {
        "sqlalchemy",
        "alembic",
        "pydantic_settings",
        "celery",
        "kombu",
        "redis",
        "psycopg",
        "fastapi",
        "starlette",
        "uvicorn",
        "sse_starlette",
        "prometheus_client",
        "multipart",
        "python_multipart",
    }
)


def missing_package(exc: ModuleNotFoundError, packages: frozenset[str]) -> str | None:
    """The top-level package `exc` could not import, when it is one of `packages`; None when
    it is anything else (a bug, which should keep its traceback)."""
    top = (exc.name or "").partition(".")[0]
    return top if top in packages else None
