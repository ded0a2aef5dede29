"""Celery app, tasks, scheduler and reconciler."""
