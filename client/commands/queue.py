"""The shared queue: who is waiting and running, which workers are alive."""

from __future__ import annotations

import typer
from rich.table import Table

from cortexrnn.client.commands.common import client_from, console, when


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
    if not q.waiting:
        return
    waiting = Table(
        "#", "id", "name", "owner", "prio", "pending", "in pack", "identical", "running",
        "ahead", "expected start", "reason",
        title=f"waiting in queue '{q.queue}' ({q.busy} packs busy, {q.slots} slots)",
    )  # fmt: skip
    for e in q.waiting:
        waiting.add_row(
            str(e.position), str(e.experiment_id), e.name, e.owner, str(e.priority),
            str(e.pending), str(e.in_pack), str(e.identical), str(e.running), str(e.runs_ahead),
            in_about(e.expected_start_s), e.reason,
        )  # fmt: skip
    out.print(waiting)


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
