"""E-mail notices of ended experiments, over the operator's SMTP server (CORTEXRNN_SMTP_*,
docs/operations.md): the message, one attempt to send it, and which failures are worth
another try. shared/notify.py decides when to send and retries."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from cortexrnn.shared.models import RunState
from cortexrnn.shared.settings import Settings


def compose(to: str, notice: dict[str, Any], settings: Settings) -> EmailMessage:
    """The notice (notify's webhook payload) as a plain-text e-mail with a link to the
    experiment's dashboard page."""
    name = notice.get("name") or "(unnamed)"
    by_state = notice.get("counts", {})
    counts = ", ".join(f"{by_state[s.value]} {s.value}" for s in RunState if by_state.get(s.value))
    link = f"{settings.dashboard_url}/experiments/{notice['id']}"
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = f"CortexRNN: experiment {name} (#{notice['id']}) {notice['status']}"
    message.set_content(
        f"Experiment {name} (#{notice['id']}) ended: {notice['status']}.\n"
        f"\n"
        f"Runs: {notice.get('n_runs', 0)} ({counts or 'none'})\n"
        f"Finished at: {notice.get('finished_at') or 'unknown'}\n"
        f"\n"
        f"Results: {link}\n"
    )
    return message


def send_once(message: EmailMessage, settings: Settings, timeout: float) -> None:
    """Hand the message to the SMTP server (STARTTLS and login as configured); raises
    smtplib.SMTPException or OSError when it was not accepted."""
    if not settings.smtp_configured:
        raise smtplib.SMTPNotSupportedError("no SMTP server is configured (CORTEXRNN_SMTP_*)")
    with smtplib.SMTP(settings.smtp_host or "", settings.smtp_port, timeout=timeout) as smtp:
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_username:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            smtp.login(settings.smtp_username, password)
        smtp.send_message(message)


def permanent(exc: Exception) -> bool:
    """A refusal that another try would meet again: a 5xx answer (a bad recipient, a wrong
    password) or a server without STARTTLS. A 4xx answer, a dropped connection or a timeout
    may pass later."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return isinstance(exc, smtplib.SMTPNotSupportedError)
