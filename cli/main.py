"""`cortexrnn`: the server-side command. Each command group lives in its own module."""

from __future__ import annotations

import typer

from cortexrnn.wire.installs import SCIENCE_PACKAGES, SERVER_PACKAGES, missing_package


def missing_server(exc: ModuleNotFoundError) -> str | None:
    """The message for a client-only install (`pip install 'cortexrnn[client]'`) that runs the
    server command; None when `exc` is something else (a bug: it keeps its traceback)."""
    top = missing_package(exc, SCIENCE_PACKAGES | SERVER_PACKAGES)
    if top is None:
        return None
    return (
        f"error: `cortexrnn` is the server-side command and needs the server installed "
        f"({top} is missing here: this looks like a client-only install). On the API host: "
        "pip install 'cortexrnn[server]'; on GPU worker hosts: pip install 'cortexrnn[worker]'. "
        "Scientists use `cortexrnn-client`, which this install has."
    )


try:
    from cortexrnn.cli import datasets, db, demo, run, serve, slurm, users, workers
except ModuleNotFoundError as _exc:
    if missing_server(_exc) is None:
        raise
    _MISSING: ModuleNotFoundError | None = _exc
else:
    _MISSING = None

app = typer.Typer(
    name="cortexrnn",
    help="CortexRNN server side: database, datasets, local runs, the service and its workers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
if _MISSING is None:
    app.add_typer(db.app, name="db")
    app.add_typer(users.app, name="users")
    app.add_typer(datasets.app, name="datasets")
    app.add_typer(workers.app, name="workers")
    app.add_typer(slurm.app, name="slurm")
    for module in (run, serve, demo):
        module.register(app)


def main() -> None:
    """Console entry point: configuration and connection problems end with one clear line."""
    if _MISSING is not None:
        typer.echo(missing_server(_MISSING), err=True)
        raise SystemExit(2)
    # Imported here: a client-only install lacks them (the message above is its answer).
    from sqlalchemy.exc import OperationalError  # noqa: PLC0415

    from cortexrnn.shared.artifacts import ArtifactStoreError  # noqa: PLC0415
    from cortexrnn.shared.settings import UnsafeSettingsError  # noqa: PLC0415

    try:
        app()
    except (UnsafeSettingsError, ArtifactStoreError) as exc:  # ...or a bucket it cannot use
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    except OperationalError as exc:
        typer.echo(
            f"error: cannot reach the database ({exc.orig}); check CORTEXRNN_DATABASE_URL", err=True
        )
        raise SystemExit(3) from None
    except ModuleNotFoundError as exc:  # a command that imports a server package when it runs
        message = missing_server(exc)
        if message is None:
            raise
        typer.echo(message, err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
