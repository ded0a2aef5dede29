"""/v1/queue: who is waiting and running, and which workers are alive."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from sqlalchemy import func, select

from cortexrnn.api.deps import SessionDep, UserDep
from cortexrnn.shared.models import Run, RunState, User, WorkerInfo, as_utc, utcnow
from cortexrnn.wire.schemas import QueueOut, QueueUser, QueueWorker

router = APIRouter(prefix="/v1", tags=["queue"])


@router.get("/me")
def me(user: UserDep) -> dict[str, object]:
    """Who the token belongs to."""
    return {"name": user.name, "is_admin": user.is_admin}


@router.get("/queue", response_model=QueueOut)
def queue(request: Request, session: SessionDep, _: UserDep) -> QueueOut:
    active = [RunState.PENDING.value, RunState.QUEUED.value, RunState.RUNNING.value]
    rows = session.execute(
        select(User.name, Run.priority, Run.state, func.count())
        .join(User, User.id == Run.owner_id)
        .where(Run.state.in_(active))
        .group_by(User.name, Run.priority, Run.state)
    )
    users: dict[tuple[str, int], QueueUser] = {}
    for name, priority, state, n in rows:
        entry = users.setdefault(
            (name, priority),
            QueueUser(user=name, priority=priority, pending=0, queued=0, running=0),
        )
        setattr(entry, state, n)
    timeout = timedelta(seconds=request.app.state.settings.heartbeat_timeout_s)
    now = utcnow()
    workers = []
    for w in session.scalars(select(WorkerInfo).order_by(WorkerInfo.name)):
        beat = as_utc(w.heartbeat_at)
        workers.append(
            QueueWorker(
                name=w.name,
                hostname=w.hostname,
                device=w.device,
                queues=list(w.queues or []),
                concurrency=w.concurrency,
                heartbeat_at=w.heartbeat_at,
                alive=now - beat < timeout,
            )
        )
    return QueueOut(
        users=sorted(users.values(), key=lambda u: (u.user, -u.priority)), workers=workers
    )
