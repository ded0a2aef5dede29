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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# Narrowest a text column may wrap to before columns are dropped instead.
TEXT_MIN_WIDTH = 10


def screen_table(
    rows: list[dict[str, Any]], columns: list[str], title: str, width: int | None
) -> tuple[Table, list[str]]:
    """A rich Table that never cuts a number: numeric columns keep their full width, text
    columns wrap; when even that does not fit in `width` (None: no limit), the rightmost
    columns are dropped (the first always stays) and returned as the second value."""
    cells = {k: [fmt(r.get(k)) for r in rows] for k in columns}
    numeric = {k for k in columns if any(_is_number(r.get(k)) for r in rows)}
    natural = {k: max([len(k), *(len(c) for c in cells[k])]) for k in columns}
    least = {k: natural[k] if k in numeric else min(natural[k], TEXT_MIN_WIDTH) for k in columns}
    shown = list(columns)
    # Each column costs its content, one space of padding either side and a border.
    while width is not None and len(shown) > 1 and sum(least[k] + 3 for k in shown) + 1 > width:
        shown.pop()
    table = Table(title=title)
    for k in shown:
        if k in numeric:
            table.add_column(k, no_wrap=True, min_width=natural[k], justify="right")
        else:
            table.add_column(k, overflow="fold")
    for i in range(len(rows)):
        table.add_row(*(cells[k][i] for k in shown))
    return table, [k for k in columns if k not in shown]


def print_rows(rows: list[dict[str, Any]], columns: list[str], title: str) -> None:
    """Rows as a table on screen: on a terminal too narrow for every column, numbers are never
    cut (text wraps, then the rightmost columns are left out, named on stderr); in a pipe the
    table is as wide as it needs."""
    screen = console()
    limit = screen.width if screen.is_terminal else None
    table, dropped = screen_table(rows, columns, title, limit)
    if limit is None:
        needed = Console(highlight=False, soft_wrap=False, width=10_000).measure(table).maximum
        screen = Console(highlight=False, soft_wrap=False, width=max(needed, screen.width))
    screen.print(table)
    if dropped:
        err_console().print(
            f"{title}: {len(dropped)} columns left out to fit the terminal "
            f"({', '.join(dropped)}); a wider terminal or --format csv|json shows them"
        )


def emit(
    rows: list[dict[str, Any]], columns: list[str], form: str, output: Path | None, title: str
) -> None:
    """Rows as a table on screen (or in `output`), or as csv or json. On a terminal too narrow
    for every column, numbers are never cut: text wraps, then columns are left out (named on
    stderr); in a file or a pipe the table is as wide as it needs."""
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
        if output is None:
            print_rows(rows, columns, title)
            return
        table, _ = screen_table(rows, columns, title, None)
        needed = Console(highlight=False, soft_wrap=False, width=10_000).measure(table).maximum
        with open(output, "w") as fh:
            Console(file=fh, width=max(needed, 80)).print(table)
        typer.echo(f"wrote {output}")
        return
    if output is not None:
        output.write_text(text)
        typer.echo(f"wrote {output}")
    else:
        sys.stdout.write(text)
