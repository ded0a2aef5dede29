"""The experiment page: state, live progress, curves, final values, statistics, downloads.

Everything the first paint needs is aggregated here and embedded as JSON; the statistics
(bootstrap and exact tests: seconds on large experiments) load afterwards from their own
fragment, and the curves of another metric load on demand.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from cortexrnn.api.dashboard.auth import PageViewer, Refused
from cortexrnn.api.dashboard.curves import aggregate_curves, curve_names, default_metric
from cortexrnn.api.dashboard.finals import aggregate_finals, default_final, final_names
from cortexrnn.api.dashboard.sources import RunRef, ordered, run_refs
from cortexrnn.api.dashboard.templating import render
from cortexrnn.api.deps import ExperimentId, SessionDep
from cortexrnn.shared.experiments import experiment_progress
from cortexrnn.shared.models import Experiment, RunState, User

router = APIRouter(include_in_schema=False)

RETRYABLE = (RunState.FAILED.value, RunState.CANCELLED.value, RunState.LOST.value)
STATE_ORDER = [s.value for s in RunState]


def get_experiment(session: SessionDep, experiment_id: int) -> Experiment:
    experiment = session.get(Experiment, experiment_id)
    if experiment is None:
        raise Refused(404, f"experiment {experiment_id} does not exist")
    return experiment


def honest_state(status: str, counts: dict[str, int]) -> str:
    """One phrase for where the experiment is, without calling cancelled work 'done'."""
    if status != "active":
        return status
    if counts.get("running"):
        return "running"
    if counts.get("queued"):
        return "queued"
    return "waiting" if counts.get("pending") else "finishing"


def run_grid(refs: list[RunRef]) -> list[dict[str, Any]]:
    """Runs by task and condition, seeds in order: one cell per run."""
    cells: dict[tuple[str, str], list[RunRef]] = {}
    for r in refs:
        cells.setdefault((r.task, r.condition), []).append(r)
    return [
        {"task": task, "condition": condition, "runs": sorted(runs, key=lambda r: r.seed)}
        for (task, condition), runs in cells.items()
    ]


@router.get("/experiments/{experiment_id}", response_class=HTMLResponse)
def experiment_page(
    experiment_id: ExperimentId,
    request: Request,
    session: SessionDep,
    viewer: PageViewer,
    done: str | None = None,
) -> HTMLResponse:
    experiment = get_experiment(session, experiment_id)
    refs = run_refs(session, experiment_id)
    progress = experiment_progress(session, experiment)
    curves_list = curve_names(session, refs)
    finals_list = final_names(session, experiment_id)
    metric, final = default_metric(curves_list), default_final(finals_list)
    errors = Counter(r.error.split(":")[0] for r in refs if r.error and r.state in RETRYABLE)
    owner = session.get(User, experiment.owner_id)
    data = {
        "experiment": experiment_id,
        "status": experiment.status,
        "curveNames": curves_list,
        "finalNames": finals_list,
        "curves": aggregate_curves(session, experiment_id, refs, metric) if metric else None,
        "finals": aggregate_finals(session, experiment_id, refs, final) if final else None,
    }
    return render(
        request,
        "experiment.html",
        viewer,
        experiment=experiment,
        owner=owner.name if owner else "?",
        progress=progress,
        counts=[(s, progress.counts[s]) for s in STATE_ORDER if progress.counts.get(s)],
        state=honest_state(experiment.status, progress.counts),
        percent=100.0 * progress.fraction,
        grid=run_grid(refs),
        tasks=ordered([r.task for r in refs]),
        can_change=viewer.may_change(experiment.owner_id),
        retryable=sum(progress.counts.get(s, 0) for s in RETRYABLE),
        diverged=errors.get("diverged", 0),
        n_succeeded=progress.counts.get(RunState.SUCCEEDED.value, 0),
        spec_json=json.dumps(experiment.spec, indent=2, sort_keys=True),
        dataset=str(experiment.spec.get("dataset", "?")),
        done=done if done in ("cancel", "retry", "tags") else None,
        data=data,
    )
