"""`cortexrnn workers ...`: worker tokens, the credential of workers on other hosts (they
upload artifacts and fetch checkpoints and datasets through the API, and can do nothing else)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from cortexrnn.shared.db import session_scope
from cortexrnn.shared.migrate import upgrade
from cortexrnn.shared.worker_tokens import (
    DEFAULT_WORKER_TOKEN_DAYS,
    WorkerTokenError,
    issue_worker_token,
    list_worker_tokens,
    revoke_worker_tokens,
)

app = typer.Typer(help="Worker tokens for workers on other hosts.", no_args_is_help=True)
console = Console()


@app.command("token")
def token(
    name: str = typer.Argument(..., help="What holds it, e.g. the host or the Slurm cluster."),
    days: float = typer.Option(
        DEFAULT_WORKER_TOKEN_DAYS, min=0, help="Lifetime in days (0: never expires)."
    ),
) -> None:
    """Create a worker token and print it (shown once). Set it as CORTEXRNN_WORKER_TOKEN, with
    CORTEXRNN_API_URL, on the worker hosts."""
    upgrade()
    try:
        with session_scope() as session:
            plain = issue_worker_token(session, name, days=days or None)
    except WorkerTokenError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(plain)


@app.command("tokens")
def tokens() -> None:
    """List worker tokens (prefix, name, last use, expiry, revocation)."""
    upgrade()
    table = Table("prefix", "name", "created", "last used", "expires", "revoked")
    with session_scope() as session:
        for t in list_worker_tokens(session):
            table.add_row(
                t.prefix,
                t.name,
                f"{t.created_at:%Y-%m-%d}",
                f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "-",
                f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "never",
                f"{t.revoked_at:%Y-%m-%d}" if t.revoked_at else "",
            )
    console.print(table)


@app.command("revoke")
def revoke(which: str = typer.Argument(..., help="A token prefix or a token name.")) -> None:
    """Revoke worker tokens; their workers' uploads are refused from now on."""
    upgrade()
    with session_scope() as session:
        n = revoke_worker_tokens(session, which)
    if not n:
        typer.echo(f"error: no live worker token with prefix or name {which!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {n} worker token(s)")
