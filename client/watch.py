"""`watch ID`: live progress bars per condition from the experiment's event stream.

The bars are built from the run list (so every condition shows from the start) and moved by
`run` events; the overall row takes its percentage and ETA from the server's `progress`
events. Failed runs are printed above the bars as they happen, so a log file (no terminal)
still records them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskProgressColumn, TextColumn
from rich.text import Text

from cortexrnn.client.api import STREAM_BACKOFF_CAP_S, Client
from cortexrnn.client.errors import Unreachable
from cortexrnn.wire.schemas import ExperimentDetail, ExperimentOut, QueueWaiting

T = TypeVar("T")

TERMINAL = {"succeeded", "failed", "cancelled", "lost"}
BAD = {"failed", "cancelled", "lost"}


class EtaColumn(ProgressColumn):
    """The server's ETA (it knows when the experiment started; the client may not)."""

    def render(self, task: Task) -> Text:
        eta = task.fields.get("eta")
        if eta is None:
            return Text("")
        return Text(f"ETA {format_seconds(eta)}", style="progress.remaining")


def progress_line(detail: ExperimentOut, waiting: QueueWaiting | None = None) -> str:
    """The experiment's phase, its runs by outcome and the ETA, e.g. "running: 4 of 8 runs
    succeeded (52 %), 1 failed, ETA 3:10". Cancelled and failed runs are named, never
    counted as done; a waiting experiment says why (from the queue) when that is known."""
    phase = detail.phase or detail.status
    ok = detail.counts.get("succeeded", 0)
    parts = [f"{phase}: {ok} of {detail.n_runs} runs succeeded ({detail.progress:.0f} %)"]
    parts += [f"{n} {s}" for s in sorted(BAD) if (n := detail.counts.get(s, 0))]
    if phase == "waiting" and waiting is not None:
        parts.append(f"waiting: {waiting.reason}")
        if waiting.expected_start_s is not None:
            parts.append(f"expected to start in {format_seconds(waiting.expected_start_s)}")
    if detail.eta_seconds is not None:
        parts.append(f"ETA {format_seconds(detail.eta_seconds)}")
    return ", ".join(parts)


def format_seconds(seconds: float) -> str:
    seconds = round(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


@dataclass
class RunView:
    condition: str
    state: str
    progress: float


@dataclass
class WatchState:
    runs: dict[int, RunView] = field(default_factory=dict)
    percent: float = 0.0
    eta: float | None = None
    status: str = "active"
    phase: str = ""

    def conditions(self) -> list[str]:
        return list(dict.fromkeys(r.condition for r in self.runs.values()))

    def of(self, condition: str) -> list[RunView]:
        return [r for r in self.runs.values() if r.condition == condition]


# A run at its last training step still measures and saves before it succeeds.
UNFINISHED_CAP = 0.99


def _completed(run: RunView) -> float:
    """What of the run counts as done: all of it once it succeeded, none if it failed or was
    cancelled (its results will not come), else its share of steps, short of all."""
    if run.state == "succeeded":
        return 1.0
    if run.state in TERMINAL:
        return 0.0
    return max(0.0, min(UNFINISHED_CAP, run.progress))


def _patiently(client: Client, call: Callable[[], T], say: Callable[[str], None]) -> T:
    """`call` (a GET, already retried a few times by the client) tried again while the server
    is unreachable, for as long as the event stream would reconnect: a watch that ends during
    an API restart waits for it instead of failing. (One that starts against an unreachable
    server fails at once: that is more often a wrong address than a restart.)"""
    deadline = time.monotonic() + client.reconnect_for
    attempt = 0
    while True:
        try:
            return call()
        except Unreachable:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            delay = min(client.backoff * 2**attempt, STREAM_BACKOFF_CAP_S, left)
            attempt += 1
            say(f"[yellow]reconnecting…[/] the server is unreachable; next try in {delay:.0f} s")
            time.sleep(delay)


def watch(client: Client, experiment_id: int, console: Console | None = None) -> ExperimentDetail:
    """Follow the experiment until it finishes; returns its final status. Reconnects while
    the server restarts (for `client.reconnect_for` seconds), saying so."""
    console = console or Console()
    state = WatchState()
    initial = client.runs(experiment_id)
    for run in initial:
        state.runs[run.id] = RunView(run.condition, run.state, run.progress)
    detail = client.get_experiment(experiment_id)
    state.percent, state.eta, state.status = detail.progress, detail.eta_seconds, detail.status
    state.phase = detail.phase or detail.status
    name = f" {detail.name}" if detail.name else ""
    console.print(f"experiment {experiment_id}{name}: {progress_line(detail)}")

    progress = Progress(
        TextColumn("{task.description}", justify="left"),
        BarColumn(bar_width=30),
        TaskProgressColumn(),
        TextColumn("{task.fields[done]}/{task.fields[n]} succeeded"),
        TextColumn("{task.fields[phase]}"),
        TextColumn("{task.fields[bad]}"),
        EtaColumn(),
        console=console,
        refresh_per_second=4,
    )
    width = max([len("all runs"), *(len(c) for c in state.conditions())])
    bars = {}
    for condition in state.conditions():
        bars[condition] = progress.add_task(
            condition.ljust(width),
            total=len(state.of(condition)),
            done=0,
            n=len(state.of(condition)),
            bad="",
            eta=None,
            phase="",
        )
    overall = progress.add_task(
        "all runs".ljust(width),
        total=100.0,
        done=0,
        n=len(state.runs),
        bad="",
        eta=None,
        phase=state.phase,
    )

    def redraw() -> None:
        for condition, bar in bars.items():
            runs = state.of(condition)
            bad = sum(r.state in BAD for r in runs)
            progress.update(
                bar,
                completed=sum(_completed(r) for r in runs),
                done=sum(r.state == "succeeded" for r in runs),
                bad=f"[red]{bad} failed/cancelled[/]" if bad else "",
            )
        bad = sum(r.state in BAD for r in state.runs.values())
        progress.update(
            overall,
            completed=state.percent,
            done=sum(r.state == "succeeded" for r in state.runs.values()),
            bad=f"[red]{bad} failed/cancelled[/]" if bad else "",
            eta=state.eta,
            phase=state.phase,
        )

    reported: set[tuple[int, str]] = set()

    def report_bad(
        run_id: int, condition: str, seed: object, task: object, run_state: str, error: object
    ) -> None:
        if run_state in BAD and (run_id, run_state) not in reported:
            reported.add((run_id, run_state))
            why = f": {error}" if error else ""
            progress.console.print(
                f"[red]run {run_id}[/] ({condition}, seed {seed}, {task}) {run_state}{why}"
            )

    reconnecting = False

    def on_reconnect(attempt: int, delay: float, why: str) -> None:
        nonlocal reconnecting
        reconnecting = True
        progress.console.print(
            f"[yellow]reconnecting…[/] ({why}); try {attempt} in {delay:.0f} s", markup=True
        )

    redraw()
    with progress:
        for run in initial:
            report_bad(run.id, run.condition, run.seed, run.task, run.state, run.error)
        for event in client.events(experiment_id, on_reconnect=on_reconnect):
            if reconnecting:
                reconnecting = False
                progress.console.print("[green]reconnected[/]")
            data = event.json()
            if event.event == "run" and isinstance(data, dict) and "id" in data:
                run_id = int(data["id"])
                previous = state.runs.get(run_id)
                view = RunView(
                    str(data.get("condition", previous.condition if previous else "?")),
                    str(data.get("state", "?")),
                    float(data.get("progress") or 0.0),
                )
                state.runs[run_id] = view
                if view.condition not in bars:  # a run the initial list did not have
                    bars[view.condition] = progress.add_task(
                        view.condition.ljust(width),
                        total=0,
                        done=0,
                        n=0,
                        bad="",
                        eta=None,
                        phase="",
                    )
                n = len(state.of(view.condition))
                progress.update(bars[view.condition], total=n, n=n)
                report_bad(
                    run_id,
                    view.condition,
                    data.get("seed"),
                    data.get("task"),
                    view.state,
                    data.get("error"),
                )
            elif event.event == "progress" and isinstance(data, dict):
                state.percent = float(data.get("percent") or 0.0)
                state.eta = data.get("eta_seconds")
                state.status = str(data.get("status", state.status))
                state.phase = str(data.get("phase") or state.status)
            elif event.event == "done":
                state.status = (
                    str(data.get("status", state.status))
                    if isinstance(data, dict)
                    else state.status
                )
                state.phase, state.eta = state.status, None
            redraw()
    return _patiently(client, lambda: client.get_experiment(experiment_id), console.print)
