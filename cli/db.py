"""`cortexrnn db ...`: schema migrations."""

from __future__ import annotations

import typer

from cortexrnn.shared.migrate import downgrade, revision_of, upgrade

app = typer.Typer(help="Create and migrate the database schema.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_cmd(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    url = upgrade(revision)
    typer.echo(f"database at {url} is at revision {revision_of()}")


@app.command("downgrade")
def downgrade_cmd(
    revision: str = typer.Argument(..., help="Target revision, e.g. -1 or base."),
) -> None:
    """Revert migrations down to REVISION."""
    downgrade(revision)
    typer.echo(f"database is at revision {revision_of() or 'base'}")


@app.command("current")
def current_cmd() -> None:
    """Print the revision the database is at."""
    typer.echo(revision_of() or "base (empty database)")
