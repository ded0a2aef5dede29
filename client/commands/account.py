"""Who and where: login, logout, config, version."""

from __future__ import annotations

import os
from importlib.metadata import version as dist_version

import typer

from cortexrnn.client import science
from cortexrnn.client.api import Client
from cortexrnn.client.commands.common import CLIENT_OPTIONS
from cortexrnn.client.config import config_path, embedded_url, resolve, write_user_config
from cortexrnn.client.errors import UsageError


def login(
    ctx: typer.Context,
    url: str = typer.Option(None, "--url", help="Server address, e.g. http://cortex.lab:8765."),
    token: str | None = typer.Option(
        None, "--token", help="Your API token (asked for, hidden, when omitted)."
    ),
    user: str = typer.Option(None, "--user", help="Your user name (used by `list --mine`)."),
    check: bool = typer.Option(
        True, "--check/--no-check", help="Verify the token with the server first."
    ),
) -> None:
    """Store the server address and your token in the user config file (mode 0600)."""
    root = ctx.find_root().obj or {}
    server = url or root.get("url") or os.environ.get("CORTEXRNN_URL") or embedded_url()
    token = token or root.get("token")
    if not token:
        token = typer.prompt("API token", hide_input=True).strip()
    if not token:
        raise UsageError(
            "--token: an API token is needed (`cortexrnn users create NAME` prints one)"
        )
    client = Client(server, token, **CLIENT_OPTIONS)
    if check:
        client.list_experiments(limit=1)  # 401 here ends the command before anything is stored
        if user is None:
            try:
                user = client.whoami()
            except UsageError:
                user = None
    path = write_user_config(client.url, token, user)
    who = f" as {user}" if user else ""
    typer.echo(f"logged in to {client.url}{who}; saved to {path} (readable only by you)")


def logout() -> None:
    """Forget the stored server address and token."""
    path = config_path()
    if path.exists():
        path.unlink()
        typer.echo(f"removed {path}")
    else:
        typer.echo(f"nothing stored ({path} does not exist)")


def show_config(ctx: typer.Context) -> None:
    """Show which server and token the client would use, and where they come from."""
    obj = ctx.find_root().obj or {}
    cfg = resolve(obj.get("url"), obj.get("token"))
    typer.echo(f"url:   {cfg.url}  (from {cfg.url_source})")
    if cfg.note:
        typer.echo(f"note:  {cfg.note}")
    shown = f"{cfg.token[:12]}...  (from {cfg.token_source})" if cfg.token else "none"
    typer.echo(f"token: {shown}")
    if cfg.user:
        typer.echo(f"user:  {cfg.user}")
    where = (
        "here (the science is installed)"
        if science.available()
        else f"by the server (for offline checks: {science.INSTALL_SCIENCE})"
    )
    typer.echo(f"specs: validated {where}")


def version() -> None:
    """Print the client version."""
    typer.echo(dist_version("cortexrnn"))


def register(app: typer.Typer) -> None:
    app.command()(login)
    app.command()(logout)
    app.command("config")(show_config)
    app.command()(version)
