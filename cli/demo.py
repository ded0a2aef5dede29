"""`cortexrnn demo`: the README's main job. Starts the embedded server, submits the
quickstart experiment with the client, watches it, writes report.html, stops the server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import typer

from cortexrnn.cli.local_server import ServerNotReady, free_port, wait_ready

BIN = Path(sys.executable).parent


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    spec: Path = typer.Option(Path("examples/quickstart.yaml"), help="The experiment to run."),
    report: Path = typer.Option(
        Path("report.html"), "-o", "--report", help="Where to write the HTML report."
    ),
    workers: int = typer.Option(1, min=1, help="Worker processes."),
) -> None:
    """Run an experiment through the whole embedded service and write its report."""
    if not spec.is_file():
        typer.echo(f"error: {spec} not found; run this from the checkout or pass --spec", err=True)
        raise typer.Exit(2)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CORTEXRNN_URL": url}
    env.pop("CORTEXRNN_TOKEN", None)  # the client finds the embedded server's local token
    server = subprocess.Popen(
        [BIN / "cortexrnn", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        typer.echo(f"starting the embedded server on {url} ...")
        try:
            wait_ready(url, server, timeout=120, interval=0.5)
        except ServerNotReady as exc:
            typer.echo(f"error: {exc}; run `cortexrnn serve` to see why", err=True)
            raise typer.Exit(3) from None
        client = str(BIN / "cortexrnn-client")
        submitted = subprocess.run(
            [client, "submit", str(spec), "-q"], env=env, capture_output=True, text=True
        )
        if submitted.returncode != 0:
            typer.echo(submitted.stderr or submitted.stdout, err=True)
            raise typer.Exit(submitted.returncode)
        experiment_id = submitted.stdout.strip().splitlines()[-1]
        typer.echo(f"submitted experiment {experiment_id} ({spec}); watching it:")
        watched = subprocess.run([client, "watch", experiment_id], env=env)
        written = subprocess.run([client, "report", experiment_id, "-o", str(report)], env=env)
        if written.returncode == 0:
            typer.echo(f"report: {report.resolve()}")
        subprocess.run([client, "compare", experiment_id, "--metric", "test_acc"], env=env)
        if watched.returncode or written.returncode:
            raise typer.Exit(watched.returncode or written.returncode)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
