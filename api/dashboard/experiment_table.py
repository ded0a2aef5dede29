"""The experiments table: search, sort, page, and each row's progress from one grouped query.

Filters on columns run in the database; tag and spec-field filters (JSON, whose operators
differ between SQLite and PostgreSQL) run here on the rows the column filters left.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from cortexrnn.shared.models import Experiment, Run, User
from cortexrnn.shared.progress import run_done_sql

PAGE_SIZE = 50
SORTS = ("id", "name", "owner", "status", "dataset", "created", "runs", "progress")
STATUSES = ("active", "succeeded", "failed", "cancelled")
# Sorting by these needs every matching experiment's run counts, not only one page's.
RUN_SORTS = ("runs", "progress")
SQLITE_MAX_PARAMS = 900


@dataclass
class TableQuery:
    name: str = ""
    tag: str = ""
    owner: str = ""
    status: str = ""
    dataset: str = ""
    spec: str = ""  # "path=value" terms (training.epochs=3) or bare words found anywhere
    sort: str = "id"
    desc: bool = True
    page: int = 1


@dataclass
class Row:
    id: int
    name: str | None
    owner: str
    owner_id: int
    status: str
    priority: int
    tags: list[str]
    dataset: str
    created_at: datetime
    finished_at: datetime | None
    counts: dict[str, int] = field(default_factory=dict)
    total: int = 0
    done: float = 0.0  # succeeded runs plus active runs' progress (shared/progress.py)

    @property
    def percent(self) -> float:
        return 100.0 * self.done / self.total if self.total else 0.0


@dataclass
class TablePage:
    rows: list[Row]
    total: int
    page: int
    pages: int


def spec_value(spec: Any, path: str) -> Any:
    node = spec
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _same(value: Any, wanted: str) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return str(value).lower() == wanted.lower()
    if isinstance(value, int | float):
        try:
            return math.isclose(float(value), float(wanted))
        except ValueError:
            return False
    if isinstance(value, list | dict):
        return wanted in json.dumps(value)
    return str(value).lower() == wanted.lower()


def spec_matches(spec: Any, query: str) -> bool:
    text = None
    for term in query.split():
        if "=" in term:
            path, wanted = term.split("=", 1)
            if not _same(spec_value(spec, path.strip()), wanted.strip()):
                return False
        else:
            text = text if text is not None else json.dumps(spec).lower()
            if term.lower() not in text:
                return False
    return True


def _base(q: TableQuery) -> Select[Any]:
    stmt = select(
        Experiment.id, Experiment.name, User.name.label("owner"), Experiment.owner_id,
        Experiment.status, Experiment.priority, Experiment.tags, Experiment.created_at,
        Experiment.finished_at, Experiment.spec["dataset"].as_string().label("dataset"),
    ).join(User, User.id == Experiment.owner_id)  # fmt: skip
    if q.name:
        stmt = stmt.where(Experiment.name.icontains(q.name, autoescape=True))
    if q.owner:
        stmt = stmt.where(User.name == q.owner)
    if q.status in STATUSES:
        stmt = stmt.where(Experiment.status == q.status)
    if q.dataset:
        stmt = stmt.where(Experiment.spec["dataset"].as_string() == q.dataset)
    return stmt


_COLUMNS = {
    "id": Experiment.id,
    "name": Experiment.name,
    "owner": User.name,
    "status": Experiment.status,
    "created": Experiment.created_at,
}


def run_tallies(session: Session, ids: list[int]) -> dict[int, tuple[dict[str, int], float]]:
    """Per experiment: run counts by state and the runs done, by shared/progress.py's rule
    (the experiment page's and the client's): succeeded runs, plus active runs' progress;
    failed, lost and cancelled runs are not done."""
    out: dict[int, tuple[dict[str, int], float]] = {}
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    done: dict[int, float] = defaultdict(float)
    for start in range(0, len(ids), SQLITE_MAX_PARAMS):
        chunk = ids[start : start + SQLITE_MAX_PARAMS]
        for experiment_id, state, n, state_done in session.execute(
            select(Run.experiment_id, Run.state, func.count(), func.sum(run_done_sql()))
            .where(Run.experiment_id.in_(chunk))
            .group_by(Run.experiment_id, Run.state)
        ):
            counts[experiment_id][state] = n
            done[experiment_id] += float(state_done or 0.0)
    for i in ids:
        out[i] = (counts.get(i, {}), done.get(i, 0.0))
    return out


def find_experiments(session: Session, q: TableQuery) -> TablePage:
    stmt = _base(q)
    column = _COLUMNS.get(q.sort)
    if column is not None:
        stmt = stmt.order_by(column.desc() if q.desc else column.asc(), Experiment.id.desc())
    else:
        stmt = stmt.order_by(Experiment.id.desc())
    rows = [Row(*r) for r in session.execute(stmt)]
    if q.tag:
        rows = [r for r in rows if q.tag in (r.tags or [])]
    if q.spec.strip():
        only_specs = _base(q).with_only_columns(
            Experiment.id, Experiment.spec, maintain_column_froms=True
        )
        specs: dict[int, Any] = {i: spec for i, spec in session.execute(only_specs)}
        rows = [r for r in rows if spec_matches(specs.get(r.id), q.spec)]
    if q.sort == "dataset":
        rows.sort(key=lambda r: (r.dataset or "", r.id), reverse=q.desc)
    needs_all = q.sort in RUN_SORTS
    if needs_all:
        _fill(rows, run_tallies(session, [r.id for r in rows]))
        key = (lambda r: r.total) if q.sort == "runs" else (lambda r: r.percent)
        rows.sort(key=lambda r: (key(r), r.id), reverse=q.desc)
    pages = max(1, math.ceil(len(rows) / PAGE_SIZE))
    page = min(max(q.page, 1), pages)
    shown = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    if not needs_all:
        _fill(shown, run_tallies(session, [r.id for r in shown]))
    return TablePage(shown, len(rows), page, pages)


def _fill(rows: list[Row], tallies: dict[int, tuple[dict[str, int], float]]) -> None:
    for r in rows:
        r.counts, r.done = tallies[r.id]
        r.total = sum(r.counts.values())
