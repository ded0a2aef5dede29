"""The statistics tables of the experiment page: what GET /v1/experiments/{id}/summary
returns, as tables whose significant rows are marked, cached until a run finishes.

The tables' columns are taken as they come, so that a column the statistics add later shows
up without a change here.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cortexrnn.api.routers import results
from cortexrnn.shared.models import Experiment, Run, RunState, User

ALPHA = 0.05
CACHE_SIZE = 32
TITLES = {
    "summary": "Per condition: mean and 95 % bootstrap interval of the mean over seeds",
    "solved": "Seeds that solved the task (exact Clopper–Pearson interval)",
    "omnibus": "Across all conditions",
    "pairwise": "Pairs of conditions (Holm-corrected within each task × metric)",
    "anova": "Rank ANOVA over the prior's factors",
}
# Which p-values decide that a row is significant: corrected ones where the table has them.
P_COLUMNS = ("p_holm", "p_solved_holm")


@dataclass
class Table:
    key: str
    title: str
    columns: list[str]
    rows: list[tuple[list[Any], bool]]  # cells, significant

    @property
    def n_significant(self) -> int:
        return sum(1 for _, s in self.rows if s)


def _significant(record: dict[str, Any], columns: list[str]) -> bool:
    keys = [c for c in P_COLUMNS if c in columns] or (["p"] if "p" in columns else [])
    return any(
        isinstance(record.get(k), int | float) and math.isfinite(record[k]) and record[k] < ALPHA
        for k in keys
    )


def as_tables(summary: dict[str, Any]) -> list[Table]:
    tables = []
    for key, records in summary.items():
        if not isinstance(records, list) or not records:
            continue
        columns = [c for c in records[0] if any(r.get(c) is not None for r in records)]
        tables.append(
            Table(
                key,
                TITLES.get(key, key.replace("_", " ").capitalize()),
                columns,
                [([r.get(c) for c in columns], _significant(r, columns)) for r in records],
            )
        )
    return tables


def state_key(session: Session, experiment: Experiment) -> tuple[Any, ...]:
    """Changes exactly when the tables can: a run finishes, or the experiment's state moves."""
    done, last = session.execute(
        select(func.count(), func.max(Run.finished_at)).where(
            Run.experiment_id == experiment.id, Run.state == RunState.SUCCEEDED.value
        )
    ).one()
    return (experiment.id, done, str(last), experiment.status)


def statistics_html(
    request: Request,
    session: Session,
    user: User,
    experiment: Experiment,
    render: Callable[[list[Table]], str],
) -> str:
    """The tables rendered by `render`, cached as HTML: a 660-run experiment's pairwise table
    alone has over a thousand rows, whose rendering cost more than the cache lookup saved."""
    cache: OrderedDict[tuple[Any, ...], str] | None = getattr(
        request.app.state, "dashboard_stats", None
    )
    if cache is None:
        cache = request.app.state.dashboard_stats = OrderedDict()
    key = state_key(session, experiment)
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    summary = results.summary(experiment.id, session, user, metric=None, task=None, n_boot=2000)
    html = render(
        as_tables({k: v for k, v in summary.items() if k not in ("experiment_id", "n_runs")})
    )
    cache[key] = html
    while len(cache) > CACHE_SIZE:
        cache.popitem(last=False)
    return html
