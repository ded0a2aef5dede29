"""`cortexrnn-client`: the scientist's command line.

Every failure ends with one `error: ...` line on stderr (plus one line per invalid field) and
a documented exit code (cortexrnn.client.errors.EXIT_CODES); never a traceback, unless
CORTEXRNN_CLIENT_DEBUG=1 asks for one.
"""

from __future__ import annotations

import json
import os
import sys
import webbrowser
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from cortexrnn.client.errors import EXIT_CODES, ClientError, UsageError

# Extra keyword arguments for every Client the CLI builds (tests inject an in-process
# transport here; nothing else should need it).
CLIENT_OPTIONS: dict[str, Any] = {}


class _ClientGroup(TyperGroup):
    """Turns every ClientError into its one-line message and exit code."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClientError as exc:
            for line in exc.lines():
                typer.echo(line, err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            typer.echo("interrupted; the experiment keeps running on the server", err=True)
            ctx.exit(130)
        except (typer.exceptions.TyperException, typer.Exit, typer.Abort, SystemExit):
            raise  # usage errors, --help, declined confirmations: the framework reports them
        except Exception as exc:  # noqa: BLE001 - the promise is: never a traceback
            if os.environ.get("CORTEXRNN_CLIENT_DEBUG") == "1" or _is_framework_exception(exc):
                raise
            typer.echo(f"error: unexpected {type(exc).__name__}: {exc} "
                       "(rerun with CORTEXRNN_CLIENT_DEBUG=1 for details and report it)", err=True)
            ctx.exit(7)


def _is_framework_exception(exc: Exception) -> bool:
    # Typer vendors click; its exceptions (bad option, Abort, Exit) live in its own module.
    return type(exc).__module__.startswith(("typer.", "click."))


EPILOG = "Exit codes: " + "; ".join(f"{code} {what.split(':')[0]}" for code, what in EXIT_CODES.items())

app = typer.Typer(
    name="cortexrnn-client",
    help="Submit CortexRNN experiments, watch them and fetch their results.",
    epilog=EPILOG,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=_ClientGroup,
    rich_markup_mode=None,
)
datasets_app = typer.Typer(help="Connectome datasets on the server: list, show, upload.", no_args_is_help=True)
spec_app = typer.Typer(help="Experiment specs: a commented template, local validation.", no_args_is_help=True)
app.add_typer(datasets_app, name="datasets")
app.add_typer(spec_app, name="spec")


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def _err_console() -> Console:
    return Console(stderr=True, highlight=False)


@app.callback()
def main(
    ctx: typer.Context,
    url: str = typer.Option(None, "--url", help="Server address (default: CORTEXRNN_URL, the login file, "
                            "then the embedded server on 127.0.0.1:8765).", show_default=False),
    token: str = typer.Option(None, "--token", help="API token (default: CORTEXRNN_TOKEN, the login file, "
                              "then the embedded server's local token).", show_default=False),
) -> None:
    ctx.obj = {"url": url, "token": token}


def _client(ctx: typer.Context):  # noqa: ANN202
    from cortexrnn.client.api import Client

    obj = ctx.find_root().obj or {}
    return Client(obj.get("url"), obj.get("token"), **CLIENT_OPTIONS)


def _when(value: Any) -> str:
    if value is None:
        return "-"
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else str(value)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# -- configuration ------------------------------------------------------------------------
@app.command()
def login(
    ctx: typer.Context,
    url: str = typer.Option(None, "--url", help="Server address, e.g. http://cortex.lab:8765."),
    token: str = typer.Option(None, "--token", help="Your API token (asked for, hidden, when omitted)."),
    user: str = typer.Option(None, "--user", help="Your user name (used by `list --mine`)."),
    check: bool = typer.Option(True, "--check/--no-check", help="Verify the token with the server first."),
) -> None:
    """Store the server address and your token in the user config file (mode 0600)."""
    from cortexrnn.client.api import Client
    from cortexrnn.client.config import embedded_url, write_user_config

    root = ctx.find_root().obj or {}
    url = url or root.get("url") or os.environ.get("CORTEXRNN_URL") or embedded_url()
    token = token or root.get("token")
    if not token:
        token = typer.prompt("API token", hide_input=True).strip()
    if not token:
        raise UsageError("--token: an API token is needed (`cortexrnn users create NAME` prints one)")
    client = Client(url, token, **CLIENT_OPTIONS)
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


@app.command()
def logout() -> None:
    """Forget the stored server address and token."""
    from cortexrnn.client.config import config_path

    path = config_path()
    if path.exists():
        path.unlink()
        typer.echo(f"removed {path}")
    else:
        typer.echo(f"nothing stored ({path} does not exist)")


@app.command("config")
def show_config(ctx: typer.Context) -> None:
    """Show which server and token the client would use, and where they come from."""
    from cortexrnn.client.config import resolve

    obj = ctx.find_root().obj or {}
    cfg = resolve(obj.get("url"), obj.get("token"))
    typer.echo(f"url:   {cfg.url}  (from {cfg.url_source})")
    shown = f"{cfg.token[:12]}...  (from {cfg.token_source})" if cfg.token else "none"
    typer.echo(f"token: {shown}")
    if cfg.user:
        typer.echo(f"user:  {cfg.user}")


@app.command()
def version() -> None:
    """Print the client version."""
    from importlib.metadata import version as dist_version

    typer.echo(dist_version("cortexrnn"))


# -- experiments --------------------------------------------------------------------------
@app.command()
def submit(
    ctx: typer.Context,
    spec: Path = typer.Argument(..., help="The experiment spec (YAML or JSON).", show_default=False),
    wait: bool = typer.Option(False, "--wait", help="Watch it until it finishes (exit 1 if a run failed)."),
    priority: str = typer.Option(None, "--priority", help="low | normal | high | an integer in [-100, 100]."),
    name: str = typer.Option(None, "--name", help="Override the spec's name."),
    force: bool = typer.Option(False, "--force", help="Train again even where identical runs already succeeded."),
    seeds: int = typer.Option(None, "--seeds", min=1, help="Override the spec's seeds with 0..N-1 (e.g. 5 of the paper's 20)."),
    dataset: str = typer.Option(None, "--dataset", help="Override the spec's dataset (the same grid on another field)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only validate the spec locally; submit nothing."),
    quiet: bool = typer.Option(False, "-q", "--quiet", help="Print only the experiment id."),
) -> None:
    """Validate SPEC locally, submit it and print the experiment id."""
    from cortexrnn.client.api import validate_spec

    model = validate_spec(spec)
    overrides = {k: v for k, v in (("seeds", seeds), ("dataset", dataset)) if v is not None}
    if overrides:
        model = validate_spec({**model.model_dump(mode="json", exclude_unset=True), **overrides})
    if dry_run:
        typer.echo(f"{spec}: valid; {len(model.conditions)} conditions x {len(model.seed_list)} seeds x "
                   f"{len(model.tasks)} tasks = {model.n_runs} runs")
        return
    client = _client(ctx)
    experiment = client.submit(model, name=name, priority=priority, force=True if force else None)
    sub = experiment.submission
    assert sub is not None
    if quiet:
        typer.echo(str(sub.id))
    else:
        again = "" if sub.created else " (already submitted: same idempotency key)"
        cached = f", {sub.n_cached} answered from earlier results" if sub.n_cached else ""
        label = f" ({sub.name})" if sub.name else ""
        typer.echo(f"submitted experiment {sub.id}{label}: {sub.n_runs} runs{cached}{again}")
        if not wait:
            typer.echo(f"follow it with: cortexrnn-client watch {sub.id}")
    if wait:
        _watch_and_exit(client, sub.id)


def _watch_and_exit(client, experiment_id: int) -> None:  # noqa: ANN001
    from cortexrnn.client.api import failure_line
    from cortexrnn.client.errors import RunsFailed
    from cortexrnn.client.watch import watch as watch_experiment

    final = watch_experiment(client, experiment_id, _console())
    if final.status != "succeeded":
        raise RunsFailed(failure_line(final))
    typer.echo(f"experiment {experiment_id} succeeded: {final.n_runs} runs; "
               f"next: cortexrnn-client report {experiment_id} -o report.html")


@app.command()
def watch(ctx: typer.Context, experiment_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Live progress bars per condition until the experiment finishes (exit 1 if a run failed)."""
    _watch_and_exit(_client(ctx), experiment_id)


@app.command()
def status(ctx: typer.Context, experiment_id: int = typer.Argument(..., metavar="ID")) -> None:
    """The experiment's state, progress and ETA, with run counts per condition."""
    from cortexrnn.client.watch import format_seconds

    client = _client(ctx)
    d = client.get_experiment(experiment_id)
    runs = client.runs(experiment_id)
    console = _console()
    eta = f", ETA {format_seconds(d.eta_seconds)}" if d.eta_seconds is not None else ""
    console.print(f"experiment {d.id} {d.name or ''}".rstrip())
    console.print(f"  owner {d.owner}, priority {d.priority}, created {_when(d.created_at)}"
                  + (f", finished {_when(d.finished_at)}" if d.finished_at else ""))
    console.print(f"  status {d.status}: {d.progress:.1f}% of {d.n_runs} runs{eta}")
    states = ["pending", "queued", "running", "succeeded", "failed", "cancelled", "lost"]
    table = Table("condition", *states, "cached")
    per: dict[str, dict[str, int]] = {}
    for r in runs:
        row = per.setdefault(r.condition, dict.fromkeys([*states, "cached"], 0))
        row[r.state] = row.get(r.state, 0) + 1
        row["cached"] += r.cached_from_id is not None
    for condition, row in per.items():
        table.add_row(condition, *(str(row[s]) if row[s] else "." for s in [*states, "cached"]))
    console.print(table)
    failed = [r for r in runs if r.state in ("failed", "lost")]
    for r in failed[:10]:
        console.print(f"  run {r.id} ({r.condition}, seed {r.seed}, {r.task}) {r.state}: {r.error or 'no message'}")
    if len(failed) > 10:
        console.print(f"  ... and {len(failed) - 10} more failed runs")


@app.command("list")
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
    client = _client(ctx)
    if mine:
        if owner:
            raise UsageError("--mine and --owner: give one of them")
        owner = client.whoami()
    page = client.list_experiments(owner=owner, status=status, tag=tag, name=name, offset=offset, limit=limit)
    table = Table("id", "name", "owner", "status", "runs", "progress", "created", "tags")
    for e in page.items:
        table.add_row(str(e.id), e.name or "-", e.owner, e.status, str(e.n_runs), f"{e.progress:.0f}%",
                      _when(e.created_at), ",".join(e.tags))
    console = _console()
    console.print(table)
    shown = f"{offset + 1}-{offset + len(page.items)}" if page.items else "0"
    console.print(f"{shown} of {page.total} experiments")


@app.command()
def cancel(ctx: typer.Context, experiment_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Cancel every unfinished run (running ones stop at their next step and keep their checkpoint)."""
    out = _client(ctx).cancel(experiment_id)
    running = out.counts.get("running", 0)
    note = f"; {running} running runs stop at their next step" if running else ""
    typer.echo(f"experiment {out.id}: cancel requested, status {out.status}{note}")


@app.command()
def retry(ctx: typer.Context, experiment_id: int = typer.Argument(..., metavar="ID")) -> None:
    """Queue the failed, lost and cancelled runs again (from their checkpoints)."""
    out = _client(ctx).retry(experiment_id)
    typer.echo(f"experiment {out.id}: {out.counts.get('pending', 0)} runs queued again, status {out.status}")


@app.command()
def delete(
    ctx: typer.Context,
    experiment_id: int = typer.Argument(..., metavar="ID"),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete a finished experiment and its results."""
    if not yes:
        typer.confirm(f"delete experiment {experiment_id} and all its results?", abort=True)
    _client(ctx).delete(experiment_id)
    typer.echo(f"experiment {experiment_id} deleted")


# -- results ------------------------------------------------------------------------------
def _emit(rows: list[dict[str, Any]], columns: list[str], fmt: str, output: Path | None, title: str) -> None:
    import csv
    import io

    if fmt == "json":
        text = json.dumps([{k: r.get(k) for k in columns} for r in rows], indent=2) + "\n"
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: "" if r.get(k) is None else r.get(k) for k in columns})
        text = buf.getvalue()
    else:
        table = Table(*columns, title=title)
        for r in rows:
            table.add_row(*(_fmt(r.get(k)) for k in columns))
        if output is not None:
            with open(output, "w") as fh:
                Console(file=fh, width=240).print(table)
            typer.echo(f"wrote {output}")
        else:
            _console().print(table)
        return
    if output is not None:
        output.write_text(text)
        typer.echo(f"wrote {output}")
    else:
        sys.stdout.write(text)


FORMAT_HELP = "table | csv | json"


def _check_format(fmt: str) -> str:
    if fmt not in ("table", "csv", "json"):
        raise UsageError(f"--format: {fmt!r} is not one of table, csv, json")
    return fmt


@app.command()
def results(
    ctx: typer.Context,
    experiment_id: int = typer.Argument(..., metavar="ID"),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
    output: Path = typer.Option(None, "-o", "--output", help="Write to this file instead of the screen."),
    measures: str = typer.Option(None, "--measures", help="Comma-separated measures to show (default in a "
                                 "table: the headline ones; csv and json: all)."),
) -> None:
    """One row per run: condition, seed, task, state and its final measures."""
    from cortexrnn.client.tables import HEADLINE_MEASURES, RUN_COLUMNS, result_rows

    _check_format(fmt)
    rows, columns = result_rows(_client(ctx), experiment_id)
    available = [c for c in columns if c not in RUN_COLUMNS]
    if measures:
        wanted = [m.strip() for m in measures.split(",") if m.strip()]
        unknown = [m for m in wanted if m not in available]
        if unknown and available:
            raise UsageError(f"--measures: {', '.join(unknown)} not among the runs' measures: {', '.join(available)}")
        columns = RUN_COLUMNS + wanted
    elif fmt == "table":  # the screen is narrow: the run fields that matter, then the headline measures
        columns = [c for c in RUN_COLUMNS if c not in ("attempt", "cached_from_id", "error")]
        columns += [m for m in HEADLINE_MEASURES if m in available]
    hidden = len([m for m in available if m not in columns])
    _emit(rows, columns, fmt, output, f"experiment {experiment_id}: {len(rows)} runs")
    if fmt == "table" and hidden:
        _err_console().print(f"{hidden} more measures: --measures NAME,... or --format csv|json")


@app.command()
def compare(
    ctx: typer.Context,
    experiment_id: int = typer.Argument(..., metavar="ID"),
    metric: str = typer.Option(..., "--metric", "-m", help="The measure to compare, e.g. test_acc."),
    task: str = typer.Option(None, "--task", help="Only this task."),
    fmt: str = typer.Option("table", "--format", "-f", help=FORMAT_HELP),
) -> None:
    """Conditions side by side on one measure: mean and 95 % CI per condition, then the pairwise
    tests with corrected p-values (from the server's /summary)."""
    from cortexrnn.client.tables import comparison_rows, measure_of, omnibus_rows, stats_rows

    _check_format(fmt)
    summary = _client(ctx).summary_json(experiment_id, metric=metric, task=task)
    stats = [r for r in stats_rows(summary) if measure_of(r) == metric and (task is None or str(r.get("task")) == task)]
    pairs = comparison_rows(summary, metric, task)
    omnibus = omnibus_rows(summary, metric, task)
    if fmt != "table":
        payload = {"stats": stats, "omnibus": omnibus, "comparisons": pairs}
        if fmt == "json":
            sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        else:
            # One table per CSV: the pairwise rows (they carry both conditions' means).
            _emit(pairs, list(dict.fromkeys(k for r in pairs for k in r)), "csv", None, "")
        return
    # On screen, columns that are the same in every row go into the title instead.
    tasks = {str(r.get("task")) for r in stats + pairs + omnibus}
    drop = {"metric", "measure"} | ({"task"} if len(tasks) == 1 else set())
    label = f"{metric} ({tasks.pop()})" if len(tasks) == 1 else metric

    def cols(rows: list[dict[str, Any]]) -> list[str]:
        return [k for k in dict.fromkeys(k for r in rows for k in r) if k not in drop]

    if stats:
        _emit(stats, cols(stats), "table", None, f"{label} per condition")
    if omnibus:
        _emit(omnibus, cols(omnibus), "table", None, f"{label}: omnibus test")
    _emit(pairs, cols(pairs), "table", None, f"{label}: pairwise comparisons (p_holm: Holm-corrected)")


@app.command()
def report(
    ctx: typer.Context,
    experiment_id: int = typer.Argument(..., metavar="ID"),
    output: Path = typer.Option(Path("report.html"), "-o", "--output", help="Where to write the HTML report."),
    open_: bool = typer.Option(False, "--open", help="Open it in the browser afterwards."),
) -> None:
    """Save the experiment's HTML report (curves, topology, stats)."""
    from cortexrnn.client.api import Experiment

    path = Experiment(_client(ctx), experiment_id).report(output)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    if open_:
        webbrowser.open(path.resolve().as_uri())


@app.command()
def download(
    ctx: typer.Context,
    experiment_id: int = typer.Argument(..., metavar="ID"),
    output: Path = typer.Option(..., "-o", "--output", help="Folder to write into (created)."),
) -> None:
    """Everything the experiment produced: runs.csv, curves.csv, summary.json, report.html, weights/."""
    from cortexrnn.client.api import Experiment

    err = _err_console()
    manifest = Experiment(_client(ctx), experiment_id).download(output, on_step=lambda m: err.print(f"  {m}"))
    typer.echo(f"wrote {len(manifest['files'])} files to {output}")
    for missing in manifest["missing"]:
        typer.echo(f"  not available: {missing['file']} ({missing['reason']})")


@app.command()
def queue(ctx: typer.Context) -> None:
    """Who is waiting and running, and which workers are alive."""
    q = _client(ctx).queue()
    console = _console()
    users = Table("user", "priority", "pending", "queued", "running", title="runs by user")
    for u in q.users:
        users.add_row(u.user, str(u.priority), str(u.pending), str(u.queued), str(u.running))
    console.print(users if q.users else "no runs waiting or running")
    workers = Table("worker", "host", "device", "queues", "slots", "last heartbeat", "alive", title="workers")
    for w in q.workers:
        workers.add_row(w.name, w.hostname, w.device, ",".join(w.queues), str(w.concurrency), _when(w.heartbeat_at),
                        "yes" if w.alive else "[red]no[/]")
    console.print(workers if q.workers else "no workers have registered")


# -- datasets -----------------------------------------------------------------------------
@datasets_app.command("list")
def datasets_list(ctx: typer.Context) -> None:
    """Datasets the server knows."""
    table = Table("name", "source", "neurons", "connections", "synapses", "fields", "sha256")
    for d in _client(ctx).datasets():
        table.add_row(d.name, d.source, str(d.n_neurons), str(d.n_connections), str(d.n_synapses),
                      ",".join(map(str, d.fields)) or "-", d.content_sha256[:12])
    _console().print(table)


@datasets_app.command("show")
def datasets_show(ctx: typer.Context, name: str = typer.Argument(..., metavar="NAME")) -> None:
    """One dataset's size, fields, licence and citation."""
    d = _client(ctx).dataset(name)
    for key, value in (("name", d.name), ("source", d.source), ("neurons", d.n_neurons),
                       ("connections", d.n_connections), ("synapses", d.n_synapses),
                       ("fields", ", ".join(map(str, d.fields)) or "-"), ("sha256", d.content_sha256),
                       ("license", d.license or "-"), ("citation", d.citation or "-"), ("created", _when(d.created_at))):
        typer.echo(f"{key + ':':13}{value}")


@datasets_app.command("upload")
def datasets_upload(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="A field folder, a folder of field folders, a folder of CAVE tables, "
                                "or a .zip of converted folders."),
    name: str = typer.Option(..., "--name", help="The dataset's name on the server (used as `dataset:` in specs)."),
    fmt: str = typer.Option("auto", "--format", help="auto | folder | cave."),
) -> None:
    """Convert your files to safe numeric formats here (pickled .npy are read only on your
    machine), zip them and upload."""
    err = _err_console()
    d = _client(ctx).upload_dataset(path, name, format=fmt, on_step=lambda m: err.print(f"  {m}"))
    typer.echo(f"uploaded dataset {d.name}: {d.n_neurons} neurons, {d.n_connections} connections "
               f"(sha256 {d.content_sha256[:12]}); use it with `dataset: {d.name}`")


# -- specs --------------------------------------------------------------------------------
@spec_app.command("template")
def spec_template(
    preset: str = typer.Option("basic", "--preset", help="basic | paper-2026."),
    output: Path = typer.Option(None, "-o", "--output", help="Write to this file instead of the screen."),
) -> None:
    """Print a commented example spec that validates."""
    from cortexrnn.client.templates import TEMPLATES

    if preset not in TEMPLATES:
        raise UsageError(f"--preset: {preset!r} is not one of {', '.join(TEMPLATES)}")
    if output is not None:
        output.write_text(TEMPLATES[preset])
        typer.echo(f"wrote {output}")
    else:
        sys.stdout.write(TEMPLATES[preset])


@spec_app.command("validate")
def spec_validate(spec: Path = typer.Argument(..., help="The spec file.")) -> None:
    """Validate a spec locally (no server needed) and print its run count."""
    from cortexrnn.client.api import validate_spec

    model = validate_spec(spec)
    typer.echo(f"{spec}: valid; {len(model.conditions)} conditions x {len(model.seed_list)} seeds x "
               f"{len(model.tasks)} tasks = {model.n_runs} runs")


# -- replication --------------------------------------------------------------------------
@app.command()
def replication(
    ctx: typer.Context,
    experiment: list[str] = typer.Option(None, "--experiment", "-e", help="LABEL=ID, e.g. paper=12 corrected=13 "
                                         "positive=14 field-4_7_2=15 (repeat). Without it, only re-render."),
    data: Path = typer.Option(Path("docs/replication-data"), "--data", help="Folder of the fetched tables."),
    output: Path = typer.Option(Path("docs/replication.md"), "-o", "--output", help="The document to write."),
) -> None:
    """Fetch experiments' results into --data and write the replication document from them."""
    from cortexrnn.client.replication import fetch_tidy, render_from, save

    if experiment:
        client = _client(ctx)
        for item in experiment:
            label, _, ident = item.partition("=")
            if not label or not ident.isdigit():
                raise UsageError(f"--experiment: expected LABEL=ID, got {item!r}")
            df, meta = fetch_tidy(client, int(ident))
            save(data, label, df, meta)
            typer.echo(f"{label}: experiment {ident}, {df['seed'].nunique() if len(df) else 0} seeds, {len(df)} values")
    try:
        text = render_from(data, output.parent / "replication-figures")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    typer.echo(f"wrote {output}")


if __name__ == "__main__":
    app()
