"""`cortexrnn users ...`: lab members and their API tokens."""

from __future__ import annotations

from datetime import timedelta

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from cortexrnn.shared import fair_share
from cortexrnn.shared.auth import AuthError, Lifetime, create_user, issue_token, revoke_tokens
from cortexrnn.shared.db import session_scope
from cortexrnn.shared.migrate import upgrade
from cortexrnn.shared.models import ApiToken, User, utcnow

app = typer.Typer(help="Manage users and API tokens.", no_args_is_help=True)
console = Console()


EXPIRES_IN_DAYS = typer.Option(
    None,
    "--expires-in-days",
    min=0.001,
    help="The token's lifetime in days (default: the deployment's token_ttl_days).",
)
NEVER_EXPIRES = typer.Option(
    False, "--never-expires", help="A token that never expires (a service account's)."
)


def _lifetime(days: float | None, never: bool) -> Lifetime:
    if never and days is not None:
        typer.echo("error: give --expires-in-days or --never-expires, not both", err=True)
        raise typer.Exit(2)
    return "never" if never else (timedelta(days=days) if days is not None else None)


def _user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise typer.BadParameter(f"no user named {name!r}; see `cortexrnn users list`")
    return user


@app.command("create")
def create(
    name: str,
    admin: bool = typer.Option(False, "--admin", help="May cancel/retry anyone's work."),
    expires_in_days: float | None = EXPIRES_IN_DAYS,
    never_expires: bool = NEVER_EXPIRES,
) -> None:
    """Create a user and print their API token (shown once)."""
    lifetime = _lifetime(expires_in_days, never_expires)
    upgrade()
    try:
        with session_scope() as session:
            _, token = create_user(session, name, admin=admin, expires_in=lifetime)
    except AuthError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(token)


@app.command("token")
def token(
    name: str,
    label: str = typer.Option(None, help="A note to tell tokens apart."),
    expires_in_days: float | None = EXPIRES_IN_DAYS,
    never_expires: bool = NEVER_EXPIRES,
) -> None:
    """Issue an additional token for a user (printed once)."""
    lifetime = _lifetime(expires_in_days, never_expires)
    upgrade()
    with session_scope() as session:
        typer.echo(issue_token(session, _user(session, name), label=label, expires_in=lifetime))


@app.command("revoke")
def revoke(
    prefix: str = typer.Option(None, help="The token prefix shown by `users list`."),
    user: str = typer.Option(None, help="Revoke every token of this user."),
) -> None:
    """Revoke tokens; requests with them are refused from now on."""
    upgrade()
    with session_scope() as session:
        try:
            n = revoke_tokens(session, prefix=prefix, user=_user(session, user) if user else None)
        except AuthError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
    typer.echo(f"revoked {n} token(s)")


@app.command("limits")
def limits(
    name: str,
    runs_in_flight: int | None = typer.Option(
        None, "--runs-in-flight", min=1, help="Runs queued or running at once."
    ),
    worker_hours_per_day: float | None = typer.Option(
        None, "--worker-hours-per-day", min=0.001, help="Worker-hours per UTC day."
    ),
) -> None:
    """Set a user's queue limits (both replaced; leave one out to lift it) and show their
    standing: the same as PUT /v1/users/NAME/limits."""
    upgrade()
    with session_scope() as session:
        user = _user(session, name)
        fair_share.set_limits(
            session,
            user.id,
            max_runs_in_flight=runs_in_flight,
            max_worker_hours_per_day=worker_hours_per_day,
        )
        session.flush()
        st = fair_share.standing(
            session.get(fair_share.UserShare, user.id), utcnow(), fair_share.half_life_h()
        )
    typer.echo(
        f"{name}: runs in flight {runs_in_flight or 'unlimited'}, worker-hours per day "
        f"{worker_hours_per_day or 'unlimited'}; used {st.today_seconds / 3600:.2f} h today, "
        f"{st.usage_seconds / 3600:.2f} h decayed"
    )


@app.command("list")
def list_users() -> None:
    """List users and their live tokens (prefixes only)."""
    upgrade()
    table = Table("user", "admin", "token prefix", "label", "last used", "expires")
    with session_scope() as session:
        for user in session.scalars(select(User).order_by(User.name)):
            live = [
                t
                for t in session.scalars(select(ApiToken).where(ApiToken.user_id == user.id))
                if t.revoked_at is None
            ]
            if not live:
                table.add_row(user.name, "yes" if user.is_admin else "", "-", "", "", "")
            for t in live:
                table.add_row(
                    user.name,
                    "yes" if user.is_admin else "",
                    t.prefix,
                    t.label or "",
                    str(t.last_used_at or ""),
                    str(t.expires_at or "never"),
                )
    console.print(table)
