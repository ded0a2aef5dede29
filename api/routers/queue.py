"""/v1/queue: who is waiting and running, and which workers are alive."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import func, select

from cortexrnn.api.deps import SessionDep, UserDep
from cortexrnn.shared.models import Run, RunState, User
from cortexrnn.shared.queue_status import build_queue
from cortexrnn.wire.schemas import QueueInfo, QueueOut, QueueUser, QueueWaiting, QueueWorker

router = APIRouter(prefix="/v1", tags=["queue"])


@router.get("/me")
def me(user: UserDep) -> dict[str, object]:
    """Who the token belongs to."""
    return {"name": user.name, "is_admin": user.is_admin}


@router.get("/queue", response_model=QueueOut)
def queue(request: Request, session: SessionDep, _: UserDep) -> QueueOut:
    """Runs by user, workers, and each waiting experiment with its reason and expected start
    (squeue-style)."""
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
    view = build_queue(session, request.app.state.settings)
    return QueueOut(
        users=sorted(users.values(), key=lambda u: (u.user, -u.priority)),
        workers=[QueueWorker.model_validate(w) for w in view.workers],
        waiting=[QueueWaiting.model_validate(w) for w in view.waiting],
        queues=[
            QueueInfo(
                name=c.name,
                slots=c.slots,
                busy=c.busy,
                devices=sorted(c.kinds),
                memory_mb=c.slot_memory_mb,
            )
            for c in view.queues
        ],
        queue=view.queue,
        slots=view.slots,
        busy=view.busy,
    )
