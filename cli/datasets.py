"""`cortexrnn datasets ...`: ingest, synthesise, convert, list and show connectome datasets.

`ingest` and `convert` run on the user's own machine: they may unpickle the paper's object
arrays (positions, spikes), which the server never does.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.formats import detect_format
from cortexrnn.services.connectome.ingest_cave import ingest_cave_tables
from cortexrnn.services.connectome.local import convert_field_folder_local, ingest_field_folders
from cortexrnn.services.connectome.synthetic import synthesize_cortex
from cortexrnn.shared.datasets_registry import get_dataset_by_name, store_and_register
from cortexrnn.shared.db import session_scope
from cortexrnn.shared.migrate import upgrade
from cortexrnn.shared.models import Dataset

app = typer.Typer(
    help="Connectome datasets: ingest, synthesise, convert, list, show.", no_args_is_help=True
)
console = Console()


class Format(StrEnum):
    auto = "auto"
    folder = "folder"
    cave = "cave"


def _fail(exc: Exception) -> NoReturn:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def _summary(row: Dataset) -> str:
    return (
        f"{row.name}: {row.n_neurons} neurons, {row.n_connections} connections, {row.n_synapses} "
        f"synapses, fields {row.fields}, sha256 {row.content_sha256}"
    )


@app.command("ingest")
def ingest(
    paths: list[Path] = typer.Argument(
        ..., help="Field folder(s), a folder of fields, or a folder of CAVE tables."
    ),
    name: str = typer.Option(..., "--name", help="Dataset name."),
    fmt: Format = typer.Option(Format.auto, "--format", help="folder | cave (default: detect)."),
    session_id: int = typer.Option(None, "--session", help="CAVE: keep this session only."),
    scan_idx: int = typer.Option(None, "--scan-idx", help="CAVE: keep this scan only."),
    field: int = typer.Option(None, "--field", help="CAVE: keep this field only."),
    spikes: Path = typer.Option(
        None, "--spikes", help="CAVE: spikes npz (times, offsets, root_ids, duration_s)."
    ),
) -> None:
    """Ingest MICrONS data on this machine into the store and register it."""
    upgrade()
    try:
        kind = detect_format(paths) if fmt is Format.auto else fmt.value
        if kind == "folder":
            connectome = ingest_field_folders(paths, name)
        else:
            if len(paths) != 1:
                raise DatasetError("CAVE ingest takes one folder of tables")
            connectome = ingest_cave_tables(
                paths[0], name, session=session_id, scan_idx=scan_idx, field=field, spikes=spikes
            )
        row = store_and_register(connectome)
    except DatasetError as exc:
        _fail(exc)
    typer.echo(_summary(row))


@app.command("synth")
def synth(
    name: str = typer.Option("synthetic-cortex", "--name", help="Dataset name."),
    neurons: int = typer.Option(2000, "--neurons", min=2, help="Number of neurons."),
    seed: int = typer.Option(0, "--seed", help="Generator seed (same seed, same dataset)."),
) -> None:
    """Generate a synthetic cortex, store and register it."""
    upgrade()
    try:
        row = store_and_register(synthesize_cortex(neurons, seed, name=name))
    except DatasetError as exc:
        _fail(exc)
    typer.echo(_summary(row))


@app.command("convert")
def convert(
    path: Path = typer.Argument(..., help="A paper field folder, or a folder of them."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder for the safe bundle."),
) -> None:
    """Rewrite pickled .npy object arrays as safe numeric files (run on your own machine)."""
    try:
        written = convert_field_folder_local(path, out)
    except DatasetError as exc:
        _fail(exc)
    for w in written:
        typer.echo(f"wrote {w}")


@app.command("list")
def list_datasets() -> None:
    """List registered datasets."""
    upgrade()
    table = Table("name", "source", "neurons", "connections", "synapses", "fields", "sha256")
    with session_scope() as session:
        for row in session.scalars(select(Dataset).order_by(Dataset.name)):
            table.add_row(
                row.name,
                row.source,
                str(row.n_neurons),
                str(row.n_connections),
                str(row.n_synapses),
                ",".join(map(str, row.fields)),
                row.content_sha256[:12],
            )
    console.print(table)


@app.command("show")
def show(name: str = typer.Argument(..., help="Dataset name.")) -> None:
    """Show one dataset's metadata."""
    upgrade()
    with session_scope() as session:
        row = get_dataset_by_name(session, name)
        if row is None:
            typer.echo(f"error: no dataset named {name!r}; see `cortexrnn datasets list`", err=True)
            raise typer.Exit(2)
        info = {
            "name": row.name,
            "source": row.source,
            "content_sha256": row.content_sha256,
            "n_neurons": row.n_neurons,
            "n_connections": row.n_connections,
            "n_synapses": row.n_synapses,
            "fields": row.fields,
            "license": row.license,
            "citation": row.citation,
            "meta": row.meta,
        }
    typer.echo(json.dumps(info, indent=2, default=str))
