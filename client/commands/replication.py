"""`replication`: fetch experiments' results, write the replication document (needs the science)."""

from __future__ import annotations

from pathlib import Path

import typer

from cortexrnn.client.commands.common import client_from
from cortexrnn.client.errors import UsageError
from cortexrnn.client.replication import fetch_tidy, load_label, merge, render_from, save


def replication(
    ctx: typer.Context,
    experiment: list[str] = typer.Option(
        None,
        "--experiment",
        "-e",
        help="LABEL=ID, e.g. paper=12 corrected=13 "
        "positive=14 field-4_7_2=15 (repeat); LABEL=ID+ID joins experiments that differ "
        "only in their seeds. Without it, only re-render.",
    ),
    append: bool = typer.Option(
        False,
        "--append",
        help="Add the fetched seeds to the label's saved table (e.g. seeds 5-9 run on another "
        "server) instead of replacing it.",
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
        fetch_into(ctx, experiment, data, append=append)
    try:
        text = render_from(data, output.parent / "replication-figures")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    typer.echo(f"wrote {output}")


def fetch_into(ctx: typer.Context, experiment: list[str], data: Path, *, append: bool) -> None:
    """Each LABEL=ID[+ID...]'s succeeded and diverged runs as <label>.csv + .json in `data`
    (with `append`, added to the label's saved table)."""
    client = client_from(ctx)
    for item in experiment:
        label, _, idents = item.partition("=")
        ids = idents.split("+")
        if not label or not all(i.isdigit() for i in ids):
            raise UsageError(f"--experiment: expected LABEL=ID or LABEL=ID+ID, got {item!r}")
        parts = [fetch_tidy(client, int(i)) for i in ids]
        saved = load_label(data, label) if append else None
        if saved is not None:
            parts.insert(0, saved)
        try:
            df, meta = merge(label, parts) if len(parts) > 1 else parts[0]
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        save(data, label, df, meta)
        typer.echo(
            f"{label}: experiment {idents}, {df['seed'].nunique() if len(df) else 0} seeds, "
            f"{len(df)} values"
        )


def register(app: typer.Typer) -> None:
    app.command()(replication)
