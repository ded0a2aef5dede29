"""`Experiment`: one submitted experiment, seen through a Client (every method asks the server)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cortexrnn.client import science
from cortexrnn.client.download import download_experiment
from cortexrnn.client.errors import RunsFailed
from cortexrnn.client.sse import Event
from cortexrnn.client.tables import comparison_frame, curves_frame, results_frame, stats_frame
from cortexrnn.wire.schemas import ExperimentDetail, ExperimentOut, RunOut, SubmitResponse

if TYPE_CHECKING:
    from pandas import DataFrame

    from cortexrnn.client.api import Client


class Experiment:
    """A submitted experiment; every method asks the server (nothing is cached locally)."""

    def __init__(
        self,
        client: Client,
        experiment_id: int,
        *,
        submission: SubmitResponse | None = None,
        idempotency_key: str | None = None,
    ) -> None:
        self.client = client
        self.id = int(experiment_id)
        self.submission = submission
        self.idempotency_key = idempotency_key

    def __repr__(self) -> str:
        return f"Experiment(id={self.id}, url={self.client.url!r})"

    def status(self) -> ExperimentDetail:
        return self.client.get_experiment(self.id)

    def runs(self, state: str | None = None) -> list[RunOut]:
        return self.client.runs(self.id, state)

    def events(self) -> Iterator[Event]:
        return self.client.events(self.id)

    def wait(
        self, *, raise_on_failure: bool = True, on_event: Callable[[Event], None] | None = None
    ) -> ExperimentDetail:
        """Follow the event stream until every run has finished. Raises RunsFailed when the
        experiment ended failed or cancelled (unless `raise_on_failure=False`)."""
        for event in self.events():
            if on_event is not None:
                on_event(event)
        final = self.status()
        if raise_on_failure and final.status != "succeeded":
            raise RunsFailed(failure_line(final, self.runs()))
        return final

    def cancel(self) -> ExperimentOut:
        return self.client.cancel(self.id)

    def retry(self) -> ExperimentOut:
        return self.client.retry(self.id)

    def delete(self) -> None:
        self.client.delete(self.id)

    def summary_json(self, metric: str | None = None, task: str | None = None) -> dict[str, Any]:
        return self.client.summary_json(self.id, metric=metric, task=task)

    # The DataFrames need pandas (`cortexrnn[science]`): checked before asking the server.
    def summary(self) -> DataFrame:
        """The stats table (task x condition x measure: n, mean, sd, 95 % CI) as a DataFrame."""
        science.pandas("Experiment.summary()")
        return stats_frame(self.summary_json())

    def compare(self, metric: str, task: str | None = None) -> DataFrame:
        """Pairwise comparisons of conditions on one measure, with corrected p-values."""
        science.pandas("Experiment.compare()")
        return comparison_frame(self.summary_json(metric, task), metric, task)

    def results(self) -> DataFrame:
        """One row per run: condition, seed, task, state and its final measures."""
        science.pandas("Experiment.results()")
        return results_frame(self.client, self.id)

    def curves(self, metrics: list[str] | None = None) -> DataFrame:
        """Learning curves, one row per point: run_id, condition, seed, task, metric, step,
        epoch, value (runs still training included). `metrics` narrows to those names."""
        science.pandas("Experiment.curves()")
        return curves_frame(self.client, self.id, metrics)

    def report(self, path: str | Path = "report.html") -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.client.report_html(self.id))
        return path

    def download(
        self, directory: str | Path, *, on_step: Callable[[str], None] | None = None
    ) -> dict[str, Any]:
        return download_experiment(self.client, self.id, Path(directory), on_step=on_step)


# Failures that training the same spec again repeats: the trainer is deterministic per seed,
# so a run that diverged diverges again at the same step. Their error text starts so
# (shared/lifecycle.py finish_pack).
REPEATS_ON_RETRY = ("diverged",)


def failure_line(detail: ExperimentOut, runs: Sequence[RunOut] = ()) -> str:
    """Why the experiment ended badly and what to do next. `retry` is suggested only for runs
    that retrying can change (lost, cancelled, or failed for a reason other than divergence);
    runs that diverged need a changed spec, and the line says which field."""
    counts = ", ".join(f"{n} {state}" for state, n in sorted(detail.counts.items()))
    bad = [r for r in runs if r.state in ("failed", "lost", "cancelled")]
    repeats = [r for r in bad if (r.error or "").startswith(REPEATS_ON_RETRY)]
    hints = []
    if len(repeats) < len(bad) or not repeats:
        scope = f" ({len(bad) - len(repeats)} runs can be trained again)" if repeats else ""
        hints.append(
            f"see `cortexrnn-client status {detail.id}`, "
            f"then `cortexrnn-client retry {detail.id}`{scope}"
        )
    if repeats:
        hints.append(
            f"{len(repeats)} runs diverged ({repeats[0].error}); `retry` would train them the "
            "same way: change the spec (a lower training.lr or regulariser) and submit it again"
        )
    return f"experiment {detail.id} ended {detail.status} ({counts}); " + "; ".join(hints)
