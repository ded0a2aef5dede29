"""Celery tasks. Messages carry only ids; the database says what to do."""

from __future__ import annotations

import os

from cortexrnn.shared.settings import get_settings
from cortexrnn.worker.celery_app import celery_app
from cortexrnn.worker.dispatch import TRAIN_PACK_TASK, run_scheduler_tick


@celery_app.task(name=TRAIN_PACK_TASK, acks_late=True, ignore_result=True)
def train_pack_task(pack_id: int) -> str:
    # The API and the scheduler import this module (through the Celery app) to send tasks;
    # only a worker that runs one needs the training code and torch.
    name = os.environ.get("CORTEXRNN_WORKER_NAME", "worker")
    device = os.environ.get("CORTEXRNN_WORKER_DEVICE", "cpu")
    threads = max(1, int(os.environ.get("CORTEXRNN_TORCH_THREADS", "1")))
    if get_settings().pack_isolation:
        from cortexrnn.worker.pack_process import run_pack  # noqa: PLC0415

        return run_pack(int(pack_id), name, device, threads)
    import torch  # noqa: PLC0415

    from cortexrnn.worker.execution import execute_pack  # noqa: PLC0415

    torch.set_num_threads(threads)
    return execute_pack(int(pack_id), name, device)


@celery_app.task(name="cortexrnn.schedule", ignore_result=True)
def schedule() -> None:
    run_scheduler_tick()
