"""`cortexrnn`: the server-side command. Each command group lives in its own module."""

from __future__ import annotations

import typer

from cortexrnn.cli import datasets, db, demo, run, serve, users

app = typer.Typer(
    name="cortexrnn",
    help="CortexRNN server side: database, datasets, local runs, the service and its workers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.add_typer(datasets.app, name="datasets")
for module in (run, serve, demo):
    module.register(app)


def main() -> None:
    """Console entry point: configuration and connection problems end with one clear line."""
    from sqlalchemy.exc import OperationalError

    from cortexrnn.shared.settings import UnsafeSettingsError

    try:
        app()
    except UnsafeSettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None
    except OperationalError as exc:
        typer.echo(f"error: cannot reach the database ({exc.orig}); check CORTEXRNN_DATABASE_URL", err=True)
        raise SystemExit(3) from None


if __name__ == "__main__":
    main()
