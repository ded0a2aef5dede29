"""Notices of ended experiments: an experiment whose spec names a `webhook` has it POSTed a
JSON notice when it ends (succeeded, failed or cancelled), and one that names an `email` is
sent the same notice by e-mail (shared/mail.py) where the operator configured SMTP.

Whoever ends an experiment (a worker finishing a pack, the reconciler, a cancel) does so in
`lifecycle.refresh_experiment_status`, inside a transaction that may still roll back; so the
notices are only noted on the session there, and sent after the commit, from daemon threads:
never for a change that did not happen, never holding a transaction open, never blocking the
worker, never failing the experiment. Delivery is best effort: a few tries with backoff and a
timeout each, then a logged warning; a notice still being sent when its process exits is lost.
A webhook goes only to a host the operator's allow-list lets through (shared/webhook_hosts.py),
checked again here before sending.
"""

from __future__ import annotations

import logging
import smtplib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.orm import Session

from cortexrnn.shared import mail
from cortexrnn.shared.models import Experiment
from cortexrnn.shared.settings import Settings, get_settings
from cortexrnn.shared.webhook_hosts import webhook_refusal

log = logging.getLogger("cortexrnn.notify")

PENDING_KEY = "cortexrnn_notices"  # in Session.info: (channel, address, payload) to send
TIMEOUT_S = 5.0
ATTEMPTS = 4
FIRST_WAIT_S = 1.0


class Undelivered(Exception):
    """One try that did not deliver; `permanent` when trying again would not help."""

    def __init__(self, why: str, *, permanent: bool = False) -> None:
        super().__init__(why)
        self.permanent = permanent


def note_finished(session: Session, experiment: Experiment, counts: dict[str, int]) -> None:
    """Called as the experiment becomes terminal: remember its notices for after the commit."""
    spec = experiment.spec or {}
    channels = [(c, str(spec[c])) for c in ("webhook", "email") if spec.get(c)]
    if not channels:
        return
    payload = {
        "id": experiment.id,
        "name": experiment.name,
        "status": experiment.status,
        "counts": {state: n for state, n in counts.items() if n},
        "n_runs": sum(counts.values()),
        "finished_at": experiment.finished_at.isoformat() if experiment.finished_at else None,
    }
    pending = session.info.setdefault(PENDING_KEY, [])
    pending.extend((channel, address, payload) for channel, address in channels)


def with_retries(
    attempt: Callable[[], None],
    what: str,
    *,
    attempts: int = ATTEMPTS,
    first_wait: float = FIRST_WAIT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Call `attempt` until it returns or `attempts` tries, waiting `first_wait`, then twice
    as long each time; a permanent Undelivered ends at once. True when delivered."""
    wait, why = first_wait, ""
    for i in range(1, attempts + 1):
        try:
            attempt()
            return True
        except Undelivered as exc:
            if exc.permanent:
                log.warning("%s refused: %s", what, exc)
                return False
            why = str(exc)
        if i < attempts:
            sleep(wait)
            wait *= 2
    log.warning("%s not delivered after %d tries (%s)", what, attempts, why)
    return False


def deliver(
    url: str,
    payload: dict[str, Any],
    *,
    attempts: int = ATTEMPTS,
    first_wait: float = FIRST_WAIT_S,
    timeout: float = TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
    allowed: Sequence[str] | None = None,
) -> bool:
    """POST `payload` to `url` until a 2xx answer or `attempts` tries; True when delivered.
    A host off the allow-list (`allowed`, default the settings') is not sent anything; a 4xx
    other than 408/429 is the receiver refusing this notice: not tried again."""
    what = f"webhook {url} for experiment {payload.get('id')}"
    refusal = webhook_refusal(
        url, get_settings().webhook_host_patterns if allowed is None else allowed
    )
    if refusal:
        log.warning("%s not sent: %s", what, refusal)
        return False

    def post() -> None:
        try:
            response = httpx.post(url, json=payload, timeout=timeout)
        except httpx.HTTPError as exc:
            raise Undelivered(f"{type(exc).__name__}: {exc}") from None
        if not response.is_success:
            code = response.status_code
            raise Undelivered(
                f"HTTP {code}", permanent=400 <= code < 500 and code not in (408, 429)
            )

    return with_retries(post, what, attempts=attempts, first_wait=first_wait, sleep=sleep)


def deliver_email(
    to: str,
    payload: dict[str, Any],
    *,
    settings: Settings | None = None,
    attempts: int = ATTEMPTS,
    first_wait: float = FIRST_WAIT_S,
    timeout: float = TIMEOUT_S,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Send the notice to `to` over the configured SMTP server, tried like a webhook (a 5xx
    refusal is not tried again); True when the server accepted it."""
    settings = settings or get_settings()
    what = f"e-mail to {to} for experiment {payload.get('id')}"
    if not settings.smtp_configured:
        log.warning("%s not sent: no SMTP server is configured (CORTEXRNN_SMTP_*)", what)
        return False
    message = mail.compose(to, payload, settings)

    def send() -> None:
        try:
            mail.send_once(message, settings, timeout)
        except (smtplib.SMTPException, OSError) as exc:
            raise Undelivered(
                f"{type(exc).__name__}: {exc}", permanent=mail.permanent(exc)
            ) from None

    return with_retries(send, what, attempts=attempts, first_wait=first_wait, sleep=sleep)


def _send(channel: str, address: str, payload: dict[str, Any], settings: Settings) -> None:
    if channel == "email":
        deliver_email(address, payload, settings=settings)
    else:
        deliver(address, payload, allowed=settings.webhook_host_patterns)


def _send_after_commit(session: Session) -> None:
    pending = session.info.pop(PENDING_KEY, None)
    if not pending:
        return
    try:
        settings = get_settings()
    except ValueError as exc:  # unreadable or unsafe settings: the commit itself stands
        log.warning("%d notices not sent: the settings are invalid (%s)", len(pending), exc)
        return
    for channel, address, payload in pending:
        threading.Thread(
            target=_send,
            args=(channel, address, payload, settings),
            name=f"cortexrnn-{channel}",
            daemon=True,
        ).start()


def _drop_after_rollback(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)


event.listen(Session, "after_commit", _send_after_commit)
event.listen(Session, "after_rollback", _drop_after_rollback)
