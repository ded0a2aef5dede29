"""`cortexrnn slurm ...`: pilot jobs, so that GPU nodes behind Slurm serve the queue.

A pilot is an ordinary Slurm job (one per GPU or MIG slice) that runs `cortexrnn worker` for
a bounded time and takes packs from the broker like any worker: short packs do not each pay
Slurm's queue wait, and cancelling an experiment never needs `scancel` (the worker stops its
runs at the next step and takes the next pack). Before the time limit Slurm sends SIGTERM
(`--signal=B:TERM@<drain>`); the pilot drains: the pack stops at its next step, its checkpoint
goes to the API and the pack back to the queue, where any worker resumes it.

Site settings (CORTEXRNN_SLURM_*, docs/operations.md) say how jobs are shaped per queue."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import typer
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select

from cortexrnn.shared.db import session_scope
from cortexrnn.shared.models import Pack, RunState
from cortexrnn.shared.settings import get_settings

app = typer.Typer(help="Pilot jobs that run workers on Slurm nodes.", no_args_is_help=True)


class QueueResources(BaseModel):
    """What one pilot of a queue asks Slurm for: one GPU (or MIG slice) and its share."""

    gres: str | None = None  # e.g. gpu:1, gpu:a100:1, gpu:1g.10gb:1 (a MIG slice)
    cpus: int = Field(4, ge=1)
    mem: str = "16G"
    partition: str | None = None
    constraint: str | None = None
    device: str = "cpu"  # the worker's --device: cuda where gres names a GPU


DEFAULT_QUEUES = {
    "gpu": QueueResources(gres="gpu:1", cpus=8, mem="32G", device="cuda"),
    "cpu": QueueResources(cpus=4, mem="16G"),
}


class SlurmSettings(BaseSettings):
    """The site's settings, from CORTEXRNN_SLURM_* (QUEUES is JSON: {"gpu": {"gres": ...}})."""

    model_config = SettingsConfigDict(env_prefix="CORTEXRNN_SLURM_", extra="ignore")

    queues: dict[str, QueueResources] = Field(default_factory=lambda: dict(DEFAULT_QUEUES))
    time: str = "04:00:00"  # each pilot's time limit (sbatch --time)
    drain_s: int = Field(180, ge=10)  # SIGTERM this long before the limit (--signal=B:TERM@)
    idle_exit_s: int = Field(900, ge=0)  # a pilot without work for this long ends (0: never)
    account: str | None = None
    qos: str | None = None
    partition: str | None = None  # for queues that name none
    env_file: Path | None = None  # sourced by the job: CORTEXRNN_DATABASE_URL, tokens, ...
    setup: str = ""  # shell lines before the worker (module load, activating a venv)
    cortexrnn: str | None = None  # the command on the nodes (default: this one's path)
    log_dir: Path | None = None  # job output (default $CORTEXRNN_HOME/slurm)
    sbatch: str = "sbatch"
    extra: list[str] = Field(default_factory=list)  # more #SBATCH options, e.g. "--exclusive"


def _cortexrnn(site: SlurmSettings) -> str:
    return (
        site.cortexrnn
        or shutil.which("cortexrnn")
        or str(Path(sys.executable).with_name("cortexrnn"))
    )


def render_script(
    site: SlurmSettings, queue: str, count: int, time_limit: str | None = None
) -> str:
    """The sbatch script of `count` pilots for `queue` (a job array when count > 1)."""
    if queue not in site.queues:
        raise typer.BadParameter(
            f"queue {queue!r} has no resources; CORTEXRNN_SLURM_QUEUES knows {sorted(site.queues)}"
        )
    res = site.queues[queue]
    log_dir = site.log_dir or get_settings().home / "slurm"
    options = [
        f"--job-name=cortexrnn-{queue}",
        f"--time={time_limit or site.time}",
        f"--signal=B:TERM@{site.drain_s}",
        "--nodes=1",
        "--ntasks=1",
        f"--cpus-per-task={res.cpus}",
        f"--mem={res.mem}",
        f"--output={log_dir}/" + ("%x-%A_%a.out" if count > 1 else "%x-%j.out"),
        "--no-requeue",  # the service requeues the pack; a new pilot is a new submission
    ]
    if count > 1:
        options.append(f"--array=1-{count}")
    for flag, value in (
        ("gres", res.gres),
        ("partition", res.partition or site.partition),
        ("constraint", res.constraint),
        ("account", site.account),
        ("qos", site.qos),
    ):
        if value:
            options.append(f"--{flag}={value}")
    options.extend(site.extra)
    pilot = [
        _cortexrnn(site),
        "slurm",
        "pilot",
        "--queue",
        queue,
        "--device",
        res.device,
        "--idle-exit",
        str(site.idle_exit_s),
    ]
    lines = ["#!/bin/bash", *(f"#SBATCH {o}" for o in options), ""]
    lines += [
        "# Written by `cortexrnn slurm`. The pilot runs one worker; SIGTERM (sent by Slurm",
        f"# {site.drain_s} s before the time limit) makes it drain its pack and end.",
        "set -euo pipefail",
    ]
    if site.setup:
        lines.append(site.setup)
    if site.env_file:
        lines.append(f"set -a; source {shlex.quote(str(site.env_file))}; set +a")
    # exec: the pilot replaces the batch shell, so that the batch signal reaches it.
    lines.append("exec " + shlex.join(pilot))
    return "\n".join(lines) + "\n"


@app.command("script")
def script(
    queue: str = typer.Option("gpu", help="The queue the pilots serve (CORTEXRNN_SLURM_QUEUES)."),
    count: int = typer.Option(1, min=1, help="Pilots: one per GPU or MIG slice."),
    time_limit: str = typer.Option(None, "--time", help="Time limit (default SLURM_TIME)."),
) -> None:
    """Print the sbatch script of the pilots (to check or submit by hand)."""
    typer.echo(render_script(SlurmSettings(), queue, count, time_limit), nl=False)


@app.command("submit")
def submit(
    queue: str = typer.Option("gpu", help="The queue the pilots serve (CORTEXRNN_SLURM_QUEUES)."),
    count: int = typer.Option(1, min=1, help="Pilots: one per GPU or MIG slice."),
    time_limit: str = typer.Option(None, "--time", help="Time limit (default SLURM_TIME)."),
) -> None:
    """Write the pilots' sbatch script under $CORTEXRNN_HOME/slurm and submit it; prints the
    job id."""
    site = SlurmSettings()
    text = render_script(site, queue, count, time_limit)
    folder = site.log_dir or get_settings().home / "slurm"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"pilot-{queue}-{datetime.now():%Y%m%d-%H%M%S-%f}.sbatch"
    path.write_text(text)
    try:
        done = subprocess.run(
            [site.sbatch, "--parsable", str(path)], capture_output=True, text=True, timeout=120
        )
    except FileNotFoundError:
        typer.echo(f"error: {site.sbatch} not found; is this a Slurm login node?", err=True)
        raise typer.Exit(2) from None
    if done.returncode != 0:
        typer.echo(f"error: sbatch refused {path}: {done.stderr.strip()}", err=True)
        raise typer.Exit(2)
    job = done.stdout.strip().split(";")[0]
    typer.echo(job)
    typer.echo(f"submitted {count} pilot(s) for queue {queue} as job {job} ({path})", err=True)


@app.command("pilot")
def pilot(
    queue: str = typer.Option(..., help="The queue to serve."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N (Slurm sets the visible GPU)."),
    idle_exit: int = typer.Option(900, min=0, help="End after this many seconds without work."),
) -> None:
    """Inside a Slurm job: run one worker until SIGTERM (drain), or until idle."""
    job = os.environ.get("SLURM_ARRAY_JOB_ID") or os.environ.get("SLURM_JOB_ID", "local")
    task = os.environ.get("SLURM_ARRAY_TASK_ID", "0")
    name = f"slurm-{job}-{task}@{socket.gethostname()}"
    threads = os.environ.get("SLURM_CPUS_PER_TASK") or str(os.cpu_count() or 1)
    cmd = [
        sys.executable, "-m", "cortexrnn.cli.main", "worker",
        "--name", name, "--queues", queue, "--device", device, "--threads", threads,
    ]  # fmt: skip
    worker = subprocess.Popen(cmd)
    stop = {"why": ""}

    def forward(signum: int, _frame: object) -> None:
        stop["why"] = signal.Signals(signum).name
        worker.send_signal(signal.SIGTERM)  # Celery's warm shutdown: the worker drains

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    typer.echo(f"pilot {name}: worker pid {worker.pid} serving queue {queue} on {device}", err=True)
    idle_since = time.monotonic()
    while worker.poll() is None:
        time.sleep(2.0)
        if stop["why"] or not idle_exit:
            continue
        if _has_work(name, queue):
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > idle_exit:
            stop["why"] = f"idle for {idle_exit} s"
            worker.send_signal(signal.SIGTERM)
    typer.echo(
        f"pilot {name}: worker ended ({worker.returncode}); {stop['why'] or 'on its own'}", err=True
    )
    raise typer.Exit(worker.returncode or 0)


def _has_work(worker: str, queue: str) -> bool:
    """Whether the pilot's worker holds a pack, or one waits in its queue (a worker still
    starting up has not taken it yet: the pilot must not end then)."""
    try:
        with session_scope() as s:
            found = s.scalar(
                select(Pack.id)
                .where(
                    ((Pack.worker == worker) & (Pack.state == RunState.RUNNING.value))
                    | ((Pack.queue == queue) & (Pack.state == RunState.QUEUED.value))
                )
                .limit(1)
            )
    except Exception:  # noqa: BLE001 - the database away: count as busy, never end early
        return True
    return found is not None
