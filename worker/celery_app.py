"""The Celery application. JSON only (never pickle), late acks, one message per worker
process at a time; results go to our own tables, never to a Celery result backend."""

from __future__ import annotations

from celery import Celery

from cortexrnn.shared.settings import Settings, get_settings


def broker_options(settings: Settings) -> dict:
    if settings.broker_url.startswith("filesystem://"):
        folder = settings.broker_dir / "queue"
        processed = settings.broker_dir / "processed"
        control = (
            settings.broker_dir / "control"
        )  # kombu's default is ./control in the working directory
        for d in (folder, processed, control):
            d.mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "control_folder": str(control),
            "processed_folder": str(processed),
            "store_processed": False,
        }
    if settings.broker_url.startswith("redis://"):
        # A pack can train for hours; Redis would re-deliver unacked messages after this.
        return {"visibility_timeout": 24 * 3600}
    return {}


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    app = Celery("cortexrnn", broker=settings.broker_url, include=["cortexrnn.worker.tasks"])
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_transport_options=broker_options(settings),
        broker_connection_retry_on_startup=True,
        task_default_queue=settings.default_queue,
        worker_send_task_events=False,
        # The scheduler runs inside `cortexrnn serve` or as `cortexrnn scheduler`; beat is optional.
        beat_schedule={"schedule": {"task": "cortexrnn.schedule", "schedule": 5.0}},
    )
    return app


celery_app = make_celery()
