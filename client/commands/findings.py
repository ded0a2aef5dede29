"""`findings`: fetch the controls' and sweeps' results, write the findings document (needs the
science)."""

from __future__ import annotations

from pathlib import Path

import typer

from cortexrnn.client.commands.replication import fetch_into
from cortexrnn.client.findings import render_from


def findings(
    ctx: typer.Context,
    experiment: list[str] = typer.Option(
        None,
        "--experiment",
        "-e",
        help="LABEL=ID, e.g. geometry-6_6_2=21 lambda-4_7_2=24 (repeat); LABEL=ID+ID joins "
        "experiments that differ only in their seeds. Without it, only re-render.",
    ),
    append: bool = typer.Option(
        False,
        "--append",
        help="Add the fetched seeds to the label's saved table instead of replacing it.",
    ),
    data: Path = typer.Option(
        Path("docs/findings-data"), "--data", help="Folder of the fetched tables."
    ),
    output: Path = typer.Option(
        Path("docs/findings.md"), "-o", "--out", "--output", help="The document to write."
    ),
) -> None:
    """Fetch experiments' results into --data and write the findings document from them (per
    control and task: does the paper's gain survive it; per sweep: the best point)."""
    if experiment:
        fetch_into(ctx, experiment, data, append=append)
    text = render_from(data, output.parent / "findings-figures")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    typer.echo(f"wrote {output}")


def register(app: typer.Typer) -> None:
    app.command()(findings)
