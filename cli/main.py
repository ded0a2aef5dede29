"""`cortexrnn`: the server-side command. Each command group lives in its own module."""

from __future__ import annotations

import typer

from cortexrnn.cli import db as db_commands

app = typer.Typer(
    name="cortexrnn",
    help="CortexRNN server side: database, datasets, local runs, the service and its workers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(db_commands.app, name="db")


def _register_optional() -> None:
    # Command groups are added as their modules land; each module owns its own Typer app.
    import importlib

    for module_name, group in [
        ("cortexrnn.cli.users", "users"),
        ("cortexrnn.cli.datasets", "datasets"),
    ]:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        app.add_typer(module.app, name=group)
    for module_name in ["cortexrnn.cli.run", "cortexrnn.cli.serve"]:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue
            raise
        module.register(app)


_register_optional()


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
