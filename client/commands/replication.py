"""`replication`: fetch experiments' results, write the replication document (needs the science)."""

from __future__ import annotations

from pathlib import Path

import typer

from cortexrnn.client.commands.common import client_from
from cortexrnn.client.errors import UsageError
from cortexrnn.client.replication import fetch_tidy, render_from, save


def replication(
    ctx: typer.Context,
    experiment: list[str] = typer.Option(
        None,
        "--experiment",
        "-e",
        help="LABEL=ID, e.g. paper=12 corrected=13 "
        "positive=14 field-4_7_2=15 (repeat). Without it, only re-render.",
    ),
    data: Path = typer.Option(
        Path("docs/replication-data"), "--data", help="Folder of the fetched tables."
    ),
    output: Path = typer.Option(
        Path("docs/replication.md"), "-o", "--output", help="The document to write."
    ),
) -> None:
    """Fetch experiments' results into --data and write the replication document from them."""
    if experiment:
        client = client_from(ctx)
        for item in experiment:
            label, _, ident = item.partition("=")
            if not label or not ident.isdigit():
                raise UsageError(f"--experiment: expected LABEL=ID, got {item!r}")
            df, meta = fetch_tidy(client, int(ident))
            save(data, label, df, meta)
            typer.echo(
                f"{label}: experiment {ident}, {df['seed'].nunique() if len(df) else 0} seeds, "
                f"{len(df)} values"
            )
    try:
        text = render_from(data, output.parent / "replication-figures")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    typer.echo(f"wrote {output}")


def register(app: typer.Typer) -> None:
    app.command()(replication)
