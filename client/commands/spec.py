"""`spec template | validate`: write a spec, and check it before submitting.

Validation happens here when the science is installed (`cortexrnn[science]`: offline, every
field); otherwise, or with `--server`, the server checks the spec as a submission would
(POST /v1/experiments/validate: every field, and the dataset and its size) and stores nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from cortexrnn.client import science, specs
from cortexrnn.client.commands.common import client_from
from cortexrnn.client.errors import AuthFailed, Unreachable, UsageError
from cortexrnn.client.templates import TEMPLATES
from cortexrnn.wire.schemas import SpecCheck

app = typer.Typer(help="Experiment specs: a commented template, validation.", no_args_is_help=True)


def check_and_print(
    ctx: typer.Context,
    spec: Path,
    changes: dict[str, Any],
    *,
    server: bool = False,
    dataset: bool = False,
) -> None:
    """Validate SPEC (with `changes` applied) and print what it expands to. `dataset`: after
    a local check, ask the server too when it can be reached (`submit --dry-run`: only the
    server knows whether the dataset exists and has enough neurons)."""
    if not server and science.available():
        check = science.check(specs.validate_locally(spec, changes))
        if not dataset:
            typer.echo(f"{spec}: valid; {check.line()}")
            return
        try:
            remote = client_from(ctx).validate(spec, **changes)
        except (Unreachable, AuthFailed) as exc:
            typer.echo(
                f"{spec}: valid here; {check.line()}; the dataset was not checked "
                f"({exc.message.split(';')[0]})"
            )
            return
        typer.echo(f"{spec}: valid; {check.line()} (dataset checked by the server)")
        print_cost(remote)
        return
    client = client_from(ctx)
    try:
        check = client.validate(spec, **changes)
    except Unreachable as exc:
        if server:
            raise
        raise Unreachable(
            f"{exc.message}. Without the science installed, the server validates specs; "
            f"to validate them here, offline: {science.INSTALL_SCIENCE}"
        ) from None
    typer.echo(f"{spec}: valid; {check.line()} (checked by the server at {client.url})")
    print_cost(check)


def print_cost(check: SpecCheck) -> None:
    """The server's cost estimate and the queue's expected start (absent from older servers)."""
    if check.estimate is not None:
        typer.echo(f"  estimate: {check.estimate.line()}")
    if check.queue is not None:
        typer.echo(f"  queue: {check.queue.line()}")


@app.command("template")
def spec_template(
    preset: str = typer.Option("basic", "--preset", help="basic | paper-2026."),
    output: Path = typer.Option(
        None, "-o", "--output", help="Write to this file instead of the screen."
    ),
) -> None:
    """Print a commented example spec that validates."""
    if preset not in TEMPLATES:
        raise UsageError(f"--preset: {preset!r} is not one of {', '.join(TEMPLATES)}")
    if output is not None:
        output.write_text(TEMPLATES[preset])
        typer.echo(f"wrote {output}")
    else:
        sys.stdout.write(TEMPLATES[preset])


@app.command("validate")
def spec_validate(
    ctx: typer.Context,
    spec: Path = typer.Argument(..., help="The spec file."),
    server: bool = typer.Option(
        False,
        "--server",
        help="Ask the server even with the science installed "
        "(it also checks that the dataset exists and has enough neurons).",
    ),
) -> None:
    """Validate a spec and print its run count: here, with no server, when the science is
    installed; otherwise by the server."""
    check_and_print(ctx, spec, {}, server=server)
