"""What the command modules share: building the Client, consoles, formatting and output."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from cortexrnn.client.api import Client
from cortexrnn.client.errors import UsageError

# Extra keyword arguments for every Client the CLI builds (tests inject an in-process
# transport here; nothing else should need it). cortexrnn.client.cli re-exports this dict.
CLIENT_OPTIONS: dict[str, Any] = {}

FORMAT_HELP = "table | csv | json"


def client_from(ctx: typer.Context) -> Client:
    """A Client for the --url/--token given to the root command (or their defaults)."""
    obj = ctx.find_root().obj or {}
    return Client(obj.get("url"), obj.get("token"), **CLIENT_OPTIONS)


def console() -> Console:
    return Console(highlight=False, soft_wrap=False)


def err_console() -> Console:
    return Console(stderr=True, highlight=False)


def when(value: Any) -> str:
    if value is None:
        return "-"
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else str(value)


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def check_format(value: str) -> str:
    if value not in ("table", "csv", "json"):
        raise UsageError(f"--format: {value!r} is not one of table, csv, json")
    return value


def emit(
    rows: list[dict[str, Any]], columns: list[str], form: str, output: Path | None, title: str
) -> None:
    """Rows as a table on screen (or in `output`), or as csv or json."""
    if form == "json":
        text = json.dumps([{k: r.get(k) for k in columns} for r in rows], indent=2) + "\n"
    elif form == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: "" if r.get(k) is None else r.get(k) for k in columns})
        text = buf.getvalue()
    else:
        table = Table(*columns, title=title)
        for r in rows:
            table.add_row(*(fmt(r.get(k)) for k in columns))
        if output is not None:
            with open(output, "w") as fh:
                Console(file=fh, width=240).print(table)
            typer.echo(f"wrote {output}")
        else:
            console().print(table)
        return
    if output is not None:
        output.write_text(text)
        typer.echo(f"wrote {output}")
    else:
        sys.stdout.write(text)
