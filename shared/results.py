"""An experiment's results as the tidy tables the statistics and the report take, read from
the database (runs answered from the cache read their original's rows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from cortexrnn.services.spec.sweep import point_columns
from cortexrnn.services.stats.outcomes import DIVERGED_METRIC, score_diverged
from cortexrnn.services.training.results import is_diverged
from cortexrnn.shared.artifacts import FinishedFiles, open_seekable
from cortexrnn.shared.experiments import result_run_id
from cortexrnn.shared.models import Artifact, MetricPoint, Run, RunState, RunSummary

CURVE_NAMES = ("train_loss", "train_acc", "test_loss", "test_acc")
KEY = ["condition", "task", "seed"]
BASE_COLUMNS = [*KEY, "run_id", "metric", "value", "reason"]


def run_key(run: Run) -> dict[str, Any]:
    """What names a run in tables and events: its condition, task and seed."""
    return {"condition": run.condition, "task": run.task, "seed": run.seed}


def sweep_columns(run: Run) -> dict[str, Any]:
    """A swept run's `family` and one column per swept field (services/spec/sweep.py)."""
    return point_columns((run.inputs or {}).get("point"))


@dataclass
class ExperimentResults:
    metrics: pd.DataFrame  # condition, task, seed, metric, value (+ run_id, reason)
    curves: pd.DataFrame  # condition, task, seed, step, epoch, name, value
    runs: list[Run]  # succeeded runs that have results

    @property
    def empty(self) -> bool:
        return self.metrics.empty


def _finished(session: Session, experiment_id: int) -> list[Run]:
    return list(
        session.scalars(
            select(Run)
            .where(Run.experiment_id == experiment_id, Run.state == RunState.SUCCEEDED.value)
            .order_by(Run.id)
        )
    )


def _diverged(session: Session, experiment_id: int) -> list[Run]:
    failed = session.scalars(
        select(Run)
        .where(Run.experiment_id == experiment_id, Run.state == RunState.FAILED.value)
        .order_by(Run.id)
    )
    return [r for r in failed if is_diverged(r.error)]


def load_results(session: Session, experiment_id: int, *, curves: bool = True) -> ExperimentResults:
    """Succeeded runs' summary values and curves, and a `diverged` row for each run whose
    training diverged (the statistics count it as not solved: `tidy_for_stats`)."""
    runs = _finished(session, experiment_id)
    source = {result_run_id(r): r for r in runs}
    ids = list(source)
    rows = [
        dict(**run_key(r), run_id=r.id, metric=DIVERGED_METRIC, value=1.0, reason=r.error,
             **sweep_columns(r))
        for r in _diverged(session, experiment_id)
    ]  # fmt: skip
    for s in session.scalars(select(RunSummary).where(RunSummary.run_id.in_(ids))):
        r = source[s.run_id]
        rows.append(
            dict(
                **run_key(r),
                run_id=r.id,
                metric=s.name,
                value=s.value,
                reason=s.reason,
                **sweep_columns(r),
            )
        )
    # A sweep adds `family` and one column per swept field after the usual ones.
    swept = list(dict.fromkeys(k for row in rows for k in row if k not in BASE_COLUMNS))
    metrics = pd.DataFrame(rows, columns=[*BASE_COLUMNS, *swept])
    curve_rows = []
    if curves and ids:
        wanted = select(MetricPoint).where(
            MetricPoint.run_id.in_(ids),
            or_(
                MetricPoint.name.in_(CURVE_NAMES),
                MetricPoint.name.startswith("topo_", autoescape=True),
            ),
        )
        for p in session.scalars(wanted):
            r = source[p.run_id]
            curve_rows.append(
                dict(
                    **run_key(r),
                    step=p.step,
                    epoch=p.epoch,
                    name=p.name,
                    value=p.value,
                )
            )
    return ExperimentResults(
        metrics, pd.DataFrame(curve_rows, columns=[*KEY, "step", "epoch", "name", "value"]), runs
    )


def weights_for_report(
    session: Session, runs: list[Run], files: FinishedFiles, limit: int = 6
) -> tuple[dict, dict]:
    """Initial and final recurrent matrices (and neuron positions) of up to `limit` runs,
    one per condition first so that the report shows each condition."""
    chosen: list[Run] = []
    seen: set[str] = set()
    for r in runs:
        if r.condition not in seen:
            chosen.append(r)
            seen.add(r.condition)
    chosen = chosen[:limit]
    weights, positions = {}, {}
    for r in chosen:
        art = session.scalar(
            select(Artifact).where(Artifact.run_id == result_run_id(r), Artifact.kind == "weights")
        )
        if art is None or not files.exists(art.path):
            continue
        with open_seekable(files, art.path) as fh, np.load(fh, allow_pickle=False) as z:
            if "w_init" not in z or "W" not in z:
                continue
            key = (r.condition, r.task, r.seed)
            weights[key] = {"initial": z["w_init"], "final": z["W"]}
            if "positions_um" in z:
                positions[key] = z["positions_um"]
    return weights, positions


def tidy_for_stats(metrics: pd.DataFrame) -> pd.DataFrame:
    """Rows with a value, in the [condition, task, seed, metric, value] shape stats expect;
    diverged runs scored as not solved (services/stats/outcomes.py), their `diverged` rows
    kept for the report's note (drop them before summarising: `outcomes.without_markers`)."""
    return score_diverged(metrics.dropna(subset=["value"])[[*KEY, "metric", "value"]])
