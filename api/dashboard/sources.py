"""An experiment's runs as light rows, and where each one's results are stored.

Plain column tuples rather than ORM objects: the experiment page of a 660-run experiment
reads every run several ways, and building ORM objects was most of its cost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from cortexrnn.shared.models import Run, RunState

T = TypeVar("T")


@dataclass(frozen=True)
class RunRef:
    id: int
    source_id: int  # the run whose rows hold its results (itself, or the one it was cached from)
    condition: str
    task: str
    seed: int
    state: str
    progress: float
    error: str | None


def run_refs(session: Session, experiment_id: int) -> list[RunRef]:
    rows = session.execute(
        select(
            Run.id, func.coalesce(Run.cached_from_id, Run.id), Run.condition, Run.task, Run.seed,
            Run.state, Run.progress, Run.error,
        )
        .where(Run.experiment_id == experiment_id)
        .order_by(Run.id)
    )  # fmt: skip
    return [RunRef(*r) for r in rows]


def finished_sources(experiment_id: int) -> Select[Any]:
    """The result rows' run ids of the experiment's succeeded runs, as a subquery for `in_`
    (no long parameter lists, which SQLite caps)."""
    return select(func.coalesce(Run.cached_from_id, Run.id)).where(
        Run.experiment_id == experiment_id, Run.state == RunState.SUCCEEDED.value
    )


def succeeded_by_source(refs: list[RunRef]) -> dict[int, RunRef]:
    return {r.source_id: r for r in refs if r.state == RunState.SUCCEEDED.value}


def ordered(values: Iterable[T]) -> list[T]:
    """Distinct values in order of first appearance (conditions in the spec's order)."""
    return list(dict.fromkeys(values))
