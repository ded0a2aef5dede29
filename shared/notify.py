"""Webhooks: an experiment whose spec names `webhook` has it POSTed a JSON notice when it ends
(succeeded, failed or cancelled).

Whoever ends an experiment (a worker finishing a pack, the reconciler, a cancel) does so in
`lifecycle.refresh_experiment_status`, inside a transaction that may still roll back; so the
notice is only noted on the session there, and sent after the commit, from a daemon thread:
never for a change that did not happen, never holding a transaction open, never blocking the
worker. Delivery is best effort: a few tries with backoff and a timeout each, then a logged
warning; a notice still being sent when its process exits is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.orm import Session

from cortexrnn.shared.models import Experiment

log = logging.getLogger("cortexrnn.notify")

PENDING_KEY = "cortexrnn_webhooks"  # in Session.info: (url, payload) to send after commit
TIMEOUT_S = 5.0
ATTEMPTS = 4
FIRST_WAIT_S = 1.0


def note_finished(session: Session, experiment: Experiment, counts: dict[str, int]) -> None:
    """Called as the experiment becomes terminal: remember its notice for after the commit."""
    url = (experiment.spec or {}).get("webhook")
    if not url:
        return
    payload = {
        "id": experiment.id,
        "name": experiment.name,
        "status": experiment.status,
        "counts": {state: n for state, n in counts.items() if n},
        "n_runs": sum(counts.values()),
        "finished_at": experiment.finished_at.isoformat() if experiment.finished_at else None,
    }
    session.info.setdefault(PENDING_KEY, []).append((str(url), payload))


def deliver(
    url: str,
    payload: dict[str, Any],
    *,
    attempts: int = ATTEMPTS,
    first_wait: float = FIRST_WAIT_S,
    timeout: float = TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """POST `payload` to `url` until a 2xx answer or `attempts` tries; True when delivered.
    A 4xx other than 408/429 is the receiver refusing this notice: not tried again."""
    wait = first_wait
    for attempt in range(1, attempts + 1):
        try:
            response = httpx.post(url, json=payload, timeout=timeout)
            if response.is_success:
                return True
            if 400 <= response.status_code < 500 and response.status_code not in (408, 429):
                log.warning("webhook %s refused experiment %s: %s", url, payload.get("id"),
                            response.status_code)  # fmt: skip
                return False
            why = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            why = f"{type(exc).__name__}: {exc}"
        if attempt < attempts:
            sleep(wait)
            wait *= 2
    log.warning("webhook %s for experiment %s not delivered after %d tries (%s)", url,
                payload.get("id"), attempts, why)  # fmt: skip
    return False


def _send_after_commit(session: Session) -> None:
    pending = session.info.pop(PENDING_KEY, None)
    for url, payload in pending or ():
        threading.Thread(
            target=deliver, args=(url, payload), name="cortexrnn-webhook", daemon=True
        ).start()


def _drop_after_rollback(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)


event.listen(Session, "after_commit", _send_after_commit)
event.listen(Session, "after_rollback", _drop_after_rollback)
