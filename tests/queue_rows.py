"""Users, experiments and pending runs written straight to the database, for the scheduler and
lifecycle tests that need a queue in a given shape without going through submission."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from cortexrnn.shared.models import Experiment, Run, User, utcnow


def add_users(s: Session, *names: str) -> list[User]:
    users = [User(name=n) for n in names]
    s.add_all(users)
    s.commit()
    return users


def submit_runs(
    s: Session,
    user: User,
    n_runs: int,
    pack_key: str = "k",
    *,
    when: datetime | None = None,
    priority: int = 0,
    spec: dict[str, Any] | None = None,
    commit: bool = True,
    **needs: Any,
) -> Experiment:
    """One experiment of `n_runs` pending runs (seeds 0..n-1 of condition "c", go/no-go),
    inserted in bulk; `needs`: their routing columns (queue, device_kind, memory_mb, ...).
    Without `commit`, only flushed."""
    created = when or utcnow()
    exp = Experiment(
        owner_id=user.id, spec=spec or {}, spec_hash="h", created_at=created, priority=priority
    )
    s.add(exp)
    s.flush()
    rows = [
        dict(
            experiment_id=exp.id, owner_id=user.id, condition="c", seed=i, task="go_no_go",
            run_hash=f"{exp.id}-{i}", pack_key=pack_key, priority=priority, created_at=created,
            **needs,
        )
        for i in range(n_runs)
    ]  # fmt: skip
    if rows:  # an empty list would insert one row of defaults
        s.execute(insert(Run), rows)
    if commit:
        s.commit()
    else:
        s.flush()
    return exp


def pending_runs(s: Session, user: User, n_runs: int, pack_key: str = "k", **kw: Any) -> list[Run]:
    """`submit_runs` flushed, not committed, as its runs in seed order."""
    exp = submit_runs(s, user, n_runs, pack_key, commit=False, **kw)
    return list(s.scalars(select(Run).where(Run.experiment_id == exp.id).order_by(Run.seed)))
