"""The shared queue: who is waiting and running, which workers are alive."""

from __future__ import annotations

import typer
from rich.table import Table

from cortexrnn.client.commands.common import client_from, console, when


def queue(ctx: typer.Context) -> None:
    """Who is waiting and running, and which workers are alive."""
    q = client_from(ctx).queue()
    out = console()
    users = Table("user", "priority", "pending", "queued", "running", title="runs by user")
    for u in q.users:
        users.add_row(u.user, str(u.priority), str(u.pending), str(u.queued), str(u.running))
    out.print(users if q.users else "no runs waiting or running")
    workers = Table(
        "worker", "host", "device", "queues", "slots", "last heartbeat", "alive", title="workers"
    )
    for w in q.workers:
        workers.add_row(
            w.name,
            w.hostname,
            w.device,
            ",".join(w.queues),
            str(w.concurrency),
            when(w.heartbeat_at),
            "yes" if w.alive else "[red]no[/]",
        )
    out.print(workers if q.workers else "no workers have registered")


def register(app: typer.Typer) -> None:
    app.command()(queue)
