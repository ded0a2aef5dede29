"""One scheduling tick with the real broker: the glue between the database scheduler and Celery."""

from __future__ import annotations

from cortexrnn.shared.db import session_scope
from cortexrnn.shared.settings import get_settings
from cortexrnn.worker.scheduler import TickReport, schedule_once

TRAIN_PACK_TASK = "cortexrnn.train_pack"


def send_pack(pack_id: int, queue: str) -> None:
    # celery_app includes the tasks module, which imports this one: import it when sending.
    from cortexrnn.worker.celery_app import celery_app  # noqa: PLC0415

    celery_app.send_task(TRAIN_PACK_TASK, args=[pack_id], queue=queue)


def run_scheduler_tick() -> TickReport:
    s = get_settings()
    with session_scope() as session:
        return schedule_once(
            session,
            send_pack,
            queue=s.default_queue,
            max_pack_size=s.max_pack_size,
            heartbeat_timeout_s=s.heartbeat_timeout_s,
            dispatch_timeout_s=s.dispatch_timeout_s,
            max_attempts=s.max_attempts,
        )
