"""`cortexrnn-client`: the scientist's command line."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="cortexrnn-client",
    help="Submit CortexRNN experiments, watch them and fetch their results.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.command("version")
def version() -> None:
    """Print the client version."""
    from importlib.metadata import version as dist_version

    typer.echo(dist_version("cortexrnn"))


if __name__ == "__main__":
    app()
