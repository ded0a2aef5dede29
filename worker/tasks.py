"""Celery tasks. Messages carry only ids; the database says what to do."""

from __future__ import annotations

import os

from cortexrnn.worker.celery_app import celery_app
from cortexrnn.worker.dispatch import TRAIN_PACK_TASK, run_scheduler_tick


@celery_app.task(name=TRAIN_PACK_TASK, acks_late=True, ignore_result=True)
def train_pack_task(pack_id: int) -> str:
    # The API and the scheduler import this module (through the Celery app) to send tasks;
    # only a worker that runs one needs torch and the training code.
    import torch  # noqa: PLC0415

    from cortexrnn.worker.execution import execute_pack  # noqa: PLC0415

    threads = int(os.environ.get("CORTEXRNN_TORCH_THREADS", "1"))
    torch.set_num_threads(max(1, threads))
    return execute_pack(
        int(pack_id),
        os.environ.get("CORTEXRNN_WORKER_NAME", "worker"),
        os.environ.get("CORTEXRNN_WORKER_DEVICE", "cpu"),
    )


@celery_app.task(name="cortexrnn.schedule", ignore_result=True)
def schedule() -> None:
    run_scheduler_tick()
