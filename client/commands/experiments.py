"""Experiments: submit, watch, status, list, cancel, retry, delete."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cortexrnn.client import specs
from cortexrnn.client.api import RECONNECT_FOR_S, Client
from cortexrnn.client.commands.common import client_from, console, when
from cortexrnn.client.commands.spec import check_and_print
from cortexrnn.client.errors import RunsFailed, UsageError
from cortexrnn.client.experiment import REPEATS_ON_RETRY, failure_line
from cortexrnn.client.watch import progress_line
from cortexrnn.client.watch import watch as watch_experiment


def submit(
    ctx: typer.Context,
    spec: Path = typer.Argument(
        ..., help="The experiment spec (YAML or JSON).", show_default=False
    ),
    wait: bool = typer.Option(
        False, "--wait", help="Watch it until it finishes (exit 1 if a run failed)."
    ),
    priority: str = typer.Option(
        None, "--priority", help="low | normal | high | an integer in [-100, 100]."
    ),
    name: str = typer.Option(None, "--name", help="Override the spec's name."),
    force: bool = typer.Option(
        False, "--force", help="Train again even where identical runs already succeeded."
    ),
    seeds: int = typer.Option(
        None,
        "--seeds",
        min=1,
        help="Override the spec's seeds with 0..N-1 (e.g. 5 of the paper's 20).",
    ),
    dataset: str = typer.Option(
        None, "--dataset", help="Override the spec's dataset (the same grid on another field)."
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Only validate the spec (here with the science "
        "installed, else by the server); submit nothing.",
    ),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print only the experiment id."),
) -> None:
    """Validate SPEC (here with the science installed, else on the server), submit it and
    print the experiment id."""
    if dry_run:
        changes = specs.overrides(
            name=name,
            priority=priority,
            force=True if force else None,
            seeds=seeds,
            dataset=dataset,
        )
        check_and_print(ctx, spec, changes, dataset=True)
        return
    client = client_from(ctx)
    experiment = client.submit(
        spec,
        name=name,
        priority=priority,
        force=True if force else None,
        seeds=seeds,
        dataset=dataset,
    )
    sub = experiment.submission
    assert sub is not None
    if quiet:
        typer.echo(str(sub.id))
    else:
        again = "" if sub.created else " (already submitted: same idempotency key)"
        cached = f", {sub.n_cached} answered from earlier results" if sub.n_cached else ""
        if sub.n_waiting:
            cached += f", {sub.n_waiting} waiting for identical runs in flight"
        label = f" ({sub.name})" if sub.name else ""
        typer.echo(f"submitted experiment {sub.id}{label}: {sub.n_runs} runs{cached}{again}")
        if not wait:
            typer.echo(f"follow it with: cortexrnn-client watch {sub.id}")
    if wait:
        watch_and_exit(client, sub.id)


def watch_and_exit(client: Client, experiment_id: int) -> None:
    final = watch_experiment(client, experiment_id, console())
    if final.status != "succeeded":
        raise RunsFailed(failure_line(final, client.runs(experiment_id)))
    typer.echo(
        f"experiment {experiment_id} succeeded: {final.n_runs} runs; "
        f"next: cortexrnn-client report {experiment_id} -o report.html"
    )


def watch(
    ctx: typer.Context,
    experiment_id: int = typer.Argument(..., metavar="ID"),
    reconnect_for: float = typer.Option(
        RECONNECT_FOR_S,
        "--reconnect-for",
        min=0,
        metavar="SECONDS",
        help="How long to keep reconnecting when the server goes away (e.g. restarts).",
    ),
) -> None:
    """Live progress bars per condition until the experiment finishes (exit 1 if a run failed)."""
    client = client_from(ctx)
    client.reconnect_for = reconnect_for
    watch_and_exit(client, experiment_id)


def status(ctx: typer.Context, experiment_id: int = typer.Argument(..., metavar="ID")) -> None:
    """The experiment's state, progress and ETA, with run counts per condition."""
    client = client_from(ctx)
    d = client.get_experiment(experiment_id)
    runs = client.runs(experiment_id)
    out = console()
    waiting = (
        next((w for w in client.queue().waiting if w.experiment_id == d.id), None)
        if d.phase == "waiting"
        else None
    )
    out.print(f"experiment {d.id} {d.name or ''}".rstrip())
    out.print(
        f"  owner {d.owner}, priority {d.priority}, created {when(d.created_at)}"
        + (f", finished {when(d.finished_at)}" if d.finished_at else "")
    )
    out.print(f"  status {progress_line(d, waiting)}")
    states = ["pending", "queued", "running", "succeeded", "failed", "cancelled", "lost"]
    table = Table("condition", *states, "cached")
    per: dict[str, dict[str, int]] = {}
    for r in runs:
        row = per.setdefault(r.condition, dict.fromkeys([*states, "cached"], 0))
        row[r.state] = row.get(r.state, 0) + 1
        row["cached"] += r.cached_from_id is not None
    for condition, row in per.items():
        table.add_row(condition, *(str(row[s]) if row[s] else "." for s in [*states, "cached"]))
    out.print(table)
    failed = [r for r in runs if r.state in ("failed", "lost")]
    for r in failed[:10]:
        out.print(
            f"  run {r.id} ({r.condition}, seed {r.seed}, {r.task}) {r.state}: "
            f"{r.error or 'no message'}"
        )
    if len(failed) > 10:
        out.print(f"  ... and {len(failed) - 10} more failed runs")


def list_cmd(
    ctx: typer.Context,
    mine: bool = typer.Option(False, "--mine", help="Only your experiments."),
    owner: str = typer.Option(None, "--owner", help="Only this user's experiments."),
    status: str = typer.Option(None, "--status", help="active | succeeded | failed | cancelled."),
    tag: str = typer.Option(None, "--tag"),
    name: str = typer.Option(None, "--name", help="Names containing this text."),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    offset: int = typer.Option(0, "--offset", min=0),
) -> None:
    """Experiments, newest first (everyone's unless --mine or --owner)."""
    if status is not None and status not in ("active", "succeeded", "failed", "cancelled"):
        raise UsageError(f"--status: {status!r} is not one of active, succeeded, failed, cancelled")
    client = client_from(ctx)
    if mine:
        if owner:
            raise UsageError("--mine and --owner: give one of them")
        owner = client.whoami()
    page = client.list_experiments(
        owner=owner, status=status, tag=tag, name=name, offset=offset, limit=limit
    )
    table = Table("id", "name", "owner", "status", "runs", "progress", "created", "tags")
    for e in page.items:
        table.add_row(
            str(e.id),
            e.name or "-",
            e.owner,
            e.status,
            str(e.n_runs),
            f"{e.progress:.0f}%",
            when(e.created_at),
            ",".join(e.tags),
        )
    out = console()
    out.print(table)
    shown = f"{offset + 1}-{offset + len(page.items)}" if page.items else "0"
    out.print(f"{shown} of {page.total} experiments")


def cancel(ctx: typer.Context, experiment_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Cancel every unfinished run (running ones stop at their next step and keep their
    checkpoint)."""
    out = client_from(ctx).cancel(experiment_id)
    running = out.counts.get("running", 0)
    note = f"; {running} running runs stop at their next step" if running else ""
    typer.echo(f"experiment {out.id}: cancel requested, status {out.status}{note}")


def retry(ctx: typer.Context, experiment_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Queue the failed, lost and cancelled runs again (from their checkpoints)."""
    client = client_from(ctx)
    diverged = [
        r
        for r in client.runs(experiment_id, "failed")
        if (r.error or "").startswith(REPEATS_ON_RETRY)
    ]
    out = client.retry(experiment_id)
    typer.echo(
        f"experiment {out.id}: {out.counts.get('pending', 0)} runs queued again, "
        f"status {out.status}"
    )
    if diverged:  # training is deterministic per seed: these diverge again
        typer.echo(
            f"note: {len(diverged)} of them diverged and will diverge again at the same step; "
            "to train them differently, change the spec (a lower training.lr or regulariser) "
            "and submit it again"
        )


def delete(
    ctx: typer.Context,
    experiment_id: int = typer.Argument(..., metavar="ID"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a finished experiment and its results."""
    if not yes:
        typer.confirm(f"delete experiment {experiment_id} and all its results?", abort=True)
    client_from(ctx).delete(experiment_id)
    typer.echo(f"experiment {experiment_id} deleted")


def register(app: typer.Typer) -> None:
    for command in (submit, watch, status):
        app.command()(command)
    app.command("list")(list_cmd)
    for command in (cancel, retry, delete):
        app.command()(command)
