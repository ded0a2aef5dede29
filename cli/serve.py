"""`cortexrnn serve`, `cortexrnn worker`, `cortexrnn scheduler`: the service's processes."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import sys
import threading

import typer

from cortexrnn.cli.local_workers import LocalWorkers
from cortexrnn.services.spec.resources import QUEUE_NAME
from cortexrnn.shared.local_auth import ensure_local_admin
from cortexrnn.shared.migrate import upgrade
from cortexrnn.shared.settings import get_settings
from cortexrnn.wire.embedded import forget_server, record_server
from cortexrnn.worker.dispatch import run_scheduler_tick
from cortexrnn.worker.pack_process import LOG_FORMAT
from cortexrnn.worker.runtime import (
    Heartbeat,
    register_worker,
    unregister_worker,
    worker_heartbeat,
)

log = logging.getLogger("cortexrnn")


def _logging() -> None:
    # The format the pack processes log in too (worker/pack_process.py).
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("worker")(worker)
    app.command("scheduler")(scheduler)


def serve(
    host: str = typer.Option(None, help="Address to bind (default CORTEXRNN_API_HOST, 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default CORTEXRNN_API_PORT, 8765)."),
    workers: int = typer.Option(
        1, min=0, help="Worker processes to start here (0: rely on external workers)."
    ),
    scheduler_interval: float = typer.Option(2.0, help="Seconds between scheduling ticks."),
) -> None:
    """Run the API, the scheduler and local worker processes: the whole embedded deployment
    in one command (also usable as the API node of the lab deployment)."""
    import uvicorn  # noqa: PLC0415 - fast startup: the API stack loads for `serve` only

    from cortexrnn.api.app import create_app  # noqa: PLC0415 - fast startup, as uvicorn

    _logging()
    settings = get_settings()
    upgrade()
    token_file = ensure_local_admin() if settings.is_embedded else None
    host = host or settings.api_host
    port = port or settings.api_port
    threads = threads_per_worker(workers, os.cpu_count() or 1)
    local = LocalWorkers(workers, settings.default_queue, threads)
    local.start_watching()  # a worker that dies is replaced (cli/local_workers.py)
    stop = threading.Event()
    sched = threading.Thread(target=_scheduler_loop, args=(stop, scheduler_interval), daemon=True)
    sched.start()
    if token_file:
        record_server(host, port)  # beside the token, so `cortexrnn-client` finds this port
        typer.echo(
            f"embedded server on http://{host}:{port}; local admin token in {token_file}", err=True
        )
    # uvicorn re-raises SIGTERM after its graceful shutdown; turning it into SystemExit lets
    # the cleanup below stop the worker processes instead of orphaning them.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
    finally:
        if token_file:
            forget_server()
        stop.set()
        local.stop()


def threads_per_worker(workers: int, cores: int) -> int:
    """The cores split over the local workers: two 2-thread processes on 2 cores run several
    times slower than two 1-thread ones (PERFORMANCE.md)."""
    return max(1, cores // max(1, workers))


def _scheduler_loop(stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        try:
            run_scheduler_tick()
        except Exception:  # the loop must survive a database hiccup
            log.warning("scheduler tick failed; retrying", exc_info=True)


def scheduler(interval: float = typer.Option(5.0, help="Seconds between ticks.")) -> None:
    """Run the scheduler/reconciler loop alone (lab deployment; safe to run twice)."""
    _logging()
    upgrade()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        _scheduler_loop(stop, interval)


def worker(
    device: str = typer.Option("cpu", help="Training device: cpu, cuda or cuda:N."),
    queues: str = typer.Option(
        None, help="Comma-separated queues (default: gpu for CUDA devices, else cpu)."
    ),
    concurrency: int = typer.Option(
        1, min=1, help="Packs trained at once (one process each; use 1 per GPU)."
    ),
    name: str = typer.Option(None, help="Worker name (default: worker-<pid>@<host>)."),
    threads: int = typer.Option(
        None, help="torch threads per process (default: cores / concurrency)."
    ),
    memory_gb: float = typer.Option(
        None,
        min=0.001,
        help="Memory of each slot, for routing and pack sizing (default: the device's "
        "memory, the GPU's or the host's, shared by the slots).",
    ),
) -> None:
    """Run a Celery worker that trains packs."""
    _logging()
    upgrade()
    queue_list = [
        q for q in (queues or ("gpu" if device.startswith("cuda") else "cpu")).split(",") if q
    ]
    bad = [q for q in queue_list if not re.fullmatch(QUEUE_NAME, q)]
    if bad or not queue_list:
        typer.echo(
            f"error: --queues {queues!r}: each queue name must match {QUEUE_NAME} "
            "(lower-case letters, digits, '_', '.', '-'; at most 32 characters)",
            err=True,
        )
        raise typer.Exit(2)
    name = name or f"worker-{os.getpid()}@{socket.gethostname()}"
    os.environ["CORTEXRNN_WORKER_DEVICE"] = device
    os.environ["CORTEXRNN_WORKER_NAME"] = name
    os.environ["CORTEXRNN_TORCH_THREADS"] = str(
        threads or max(1, (os.cpu_count() or 1) // concurrency)
    )
    from cortexrnn.worker.celery_app import celery_app  # noqa: PLC0415 - reads the env set above
    from cortexrnn.worker.pack_process import start_fork_server  # noqa: PLC0415 - as celery_app

    if concurrency == 1 and get_settings().pack_isolation:
        start_fork_server()
    register_worker(
        name, device, queue_list, concurrency, None if memory_gb is None else memory_gb * 1024
    )
    argv = [
        "worker",
        "--loglevel=INFO",
        f"--hostname={name}",
        f"--queues={','.join(queue_list)}",
        f"--concurrency={concurrency}",
        "--pool=" + ("solo" if concurrency == 1 else "prefork"),
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    try:
        with Heartbeat(lambda: worker_heartbeat(name), interval=5.0):
            celery_app.worker_main(argv)
    finally:
        unregister_worker(name)
