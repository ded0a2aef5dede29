"""`datasets list | show | upload`: connectome datasets on the server."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from cortexrnn.client.commands.common import client_from, console, err_console, when

app = typer.Typer(
    help="Connectome datasets on the server: list, show, upload.", no_args_is_help=True
)


@app.command("list")
def datasets_list(ctx: typer.Context) -> None:
    """Datasets the server knows."""
    table = Table("name", "source", "neurons", "connections", "synapses", "fields", "sha256")
    for d in client_from(ctx).datasets():
        table.add_row(
            d.name,
            d.source,
            str(d.n_neurons),
            str(d.n_connections),
            str(d.n_synapses),
            ",".join(map(str, d.fields)) or "-",
            d.content_sha256[:12],
        )
    console().print(table)


@app.command("show")
def datasets_show(ctx: typer.Context, name: str = typer.Argument(..., metavar="NAME")) -> None:
    """One dataset's size, fields, licence and citation."""
    d = client_from(ctx).dataset(name)
    for key, value in (
        ("name", d.name),
        ("source", d.source),
        ("neurons", d.n_neurons),
        ("connections", d.n_connections),
        ("synapses", d.n_synapses),
        ("fields", ", ".join(map(str, d.fields)) or "-"),
        ("sha256", d.content_sha256),
        ("license", d.license or "-"),
        ("citation", d.citation or "-"),
        ("created", when(d.created_at)),
    ):
        typer.echo(f"{key + ':':13}{value}")


@app.command("upload")
def datasets_upload(
    ctx: typer.Context,
    path: Path = typer.Argument(
        ...,
        help="A field folder, a folder of field folders, a folder of CAVE tables, "
        "or a .zip of converted folders.",
    ),
    name: str = typer.Option(
        ..., "--name", help="The dataset's name on the server (used as `dataset:` in specs)."
    ),
    form: str = typer.Option("auto", "--format", help="auto | folder | cave."),
) -> None:
    """Convert your files to safe numeric formats here (pickled .npy are read only on your
    machine; converting needs the science: pip install 'cortexrnn[science]'), zip them and
    upload."""
    err = err_console()
    d = client_from(ctx).upload_dataset(
        path, name, format=form, on_step=lambda m: err.print(f"  {m}")
    )
    typer.echo(
        f"uploaded dataset {d.name}: {d.n_neurons} neurons, {d.n_connections} connections "
        f"(sha256 {d.content_sha256[:12]}); use it with `dataset: {d.name}`"
    )
