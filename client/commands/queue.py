"""The shared queue: who is waiting and running, which workers are alive."""

from __future__ import annotations

import typer
from rich.table import Table

from cortexrnn.client.commands.common import client_from, console, print_rows, when


def queue(ctx: typer.Context) -> None:
    """Who is waiting and running, which workers are alive, and each waiting experiment with
    why it waits and when it is expected to start (like squeue's reason column)."""
    q = client_from(ctx).queue()
    out = console()
    users = Table("user", "priority", "pending", "queued", "running", title="runs by user")
    for u in q.users:
        users.add_row(u.user, str(u.priority), str(u.pending), str(u.queued), str(u.running))
    out.print(users if q.users else "no runs waiting or running")
    workers = Table(
        "worker", "host", "device", "queues", "slots", "GB per slot", "last heartbeat", "alive",
        title="workers",
    )  # fmt: skip
    for w in q.workers:
        workers.add_row(
            w.name,
            w.hostname,
            w.device,
            ",".join(w.queues),
            str(w.concurrency),
            "?" if w.memory_mb is None else f"{w.memory_mb / 1024:.3g}",
            when(w.heartbeat_at),
            "yes" if w.alive else "[red]no[/]",
        )
    out.print(workers if q.workers else "no workers have registered")
    if q.queues:
        queues = Table("queue", "slots", "busy", "devices", "GB per slot", title="live queues")
        for c in q.queues:
            queues.add_row(
                c.name, str(c.slots), str(c.busy), ",".join(c.devices),
                "?" if c.memory_mb is None else f"{c.memory_mb / 1024:.3g}",
            )  # fmt: skip
        out.print(queues)
    if not q.waiting:
        return
    # The reason first after who and when: on a narrow terminal the counts are dropped, never
    # the reason, and no number is cut (screen_table).
    rows = [
        {
            "#": e.position, "id": e.experiment_id, "name": e.name, "owner": e.owner,
            "expected start": in_about(e.expected_start_s), "reason": e.reason,
            "prio": e.priority, "pending": e.pending, "in pack": e.in_pack,
            "identical": e.identical, "running": e.running, "ahead": e.runs_ahead,
        }
        for e in q.waiting
    ]  # fmt: skip
    print_rows(rows, list(rows[0]), "waiting experiments")


def in_about(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 1:
        return "next tick"
    minutes = seconds / 60
    if minutes < 90:
        return f"in ~{max(round(minutes), 1)} min"
    return f"in ~{minutes / 60:.1f} h"


def register(app: typer.Typer) -> None:
    app.command()(queue)
