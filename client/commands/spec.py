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
from cortexrnn.client.errors import Unreachable, UsageError
from cortexrnn.client.templates import TEMPLATES

app = typer.Typer(help="Experiment specs: a commented template, validation.", no_args_is_help=True)


def check_and_print(
    ctx: typer.Context, spec: Path, changes: dict[str, Any], *, server: bool = False
) -> None:
    """Validate SPEC (with `changes` applied) and print what it expands to."""
    if not server and science.available():
        check = science.check(specs.validate_locally(spec, changes))
        typer.echo(f"{spec}: valid; {check.line()}")
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
