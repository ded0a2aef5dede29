"""An experiment that names an `email` has its end notice e-mailed through the operator's SMTP
server: here a real one (aiosmtpd) on a free local port. Without SMTP configured the field
is refused at submission; a failing server is retried, then given up on, and never fails the
experiment."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from cortexrnn.client.errors import SpecInvalid, UsageError
from cortexrnn.shared import notify
from cortexrnn.shared.settings import Settings, reset_settings_cache
from tests.client.conftest import finish_runs, small_spec

DASHBOARD = "https://cortexrnn.lab.example.org"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    """The SMTP server's side: each accepted message, each refusal it was told to give (the
    next answers to DATA), and the logins it saw."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []
        self.refuse: list[str] = []
        self.tries = 0
        self.logins: list[tuple[str, str]] = []
        self.arrived = threading.Event()
        self.hold: threading.Event | None = None  # when set: DATA is answered once it is set

    async def handle_DATA(self, server, session, envelope) -> str:
        if self.hold is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.hold.wait, 60)
        self.tries += 1
        if self.refuse:
            return self.refuse.pop(0)
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        self.arrived.set()
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        self.logins.append((auth_data.login.decode(), auth_data.password.decode()))
        return AuthResult(success=auth_data.password == b"s3cret")


@pytest.fixture()
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=inbox.authenticate,
        auth_require_tls=False,  # no certificate here; STARTTLS is turned off below
    )
    controller.start()
    yield inbox, port
    controller.stop()


def smtp_env(port: int) -> dict[str, str]:
    return {
        "CORTEXRNN_SMTP_HOST": "127.0.0.1",
        "CORTEXRNN_SMTP_PORT": str(port),
        "CORTEXRNN_SMTP_FROM": "cortexrnn@lab.example.org",
        "CORTEXRNN_SMTP_USERNAME": "cortexrnn",
        "CORTEXRNN_SMTP_PASSWORD": "s3cret",
        "CORTEXRNN_SMTP_STARTTLS": "false",
        "CORTEXRNN_PUBLIC_URL": DASHBOARD,
    }


@pytest.fixture()
def with_smtp(smtp, monkeypatch) -> Iterator[Inbox]:
    """The operator configured the SMTP server (before the app reads its settings)."""
    inbox, port = smtp
    for name, value in smtp_env(port).items():
        monkeypatch.setenv(name, value)
    reset_settings_cache()
    yield inbox
    monkeypatch.undo()
    reset_settings_cache()


def settings_for(port: int) -> Settings:
    env = smtp_env(port)
    return Settings(
        smtp_host=env["CORTEXRNN_SMTP_HOST"],
        smtp_port=port,
        smtp_from=env["CORTEXRNN_SMTP_FROM"],
        smtp_username="cortexrnn",
        smtp_password="s3cret",
        smtp_starttls=False,
        public_url=DASHBOARD,
    )


NOTICE = {"id": 7, "name": "grid", "status": "succeeded", "counts": {"succeeded": 2}, "n_runs": 2}


def test_ended_experiment_is_emailed_with_name_status_and_link(with_smtp, server, tmp_path):
    exp = server.client().submit(small_spec(name="mailed", email="alice@lab.example.org"))
    with_smtp.hold = threading.Event()
    finish_runs(exp.id, fail={("bio", 2)}, artifacts_dir=tmp_path / "art")
    assert not with_smtp.arrived.is_set()  # ending the experiment never waits for the mail
    with_smtp.hold.set()
    assert with_smtp.arrived.wait(15)
    ((to, message),) = with_smtp.messages
    assert to == ["alice@lab.example.org"]
    assert message["From"] == "cortexrnn@lab.example.org"
    assert message["Subject"] == f"CortexRNN: experiment mailed (#{exp.id}) failed"
    body = message.get_payload(decode=True).decode()
    assert f"Experiment mailed (#{exp.id}) ended: failed." in body
    assert "Runs: 6 (5 succeeded, 1 failed)" in body
    assert f"Results: {DASHBOARD}/experiments/{exp.id}" in body
    assert with_smtp.logins == [("cortexrnn", "s3cret")]


def test_email_without_smtp_is_refused_at_submission(server) -> None:
    for call in (server.client().submit, server.client().validate):
        with pytest.raises(UsageError) as info:
            call(small_spec(email="alice@lab.example.org"))
        assert info.value.status == 422
        (field,) = [f for f in info.value.fields if f["path"] == "email"]
        assert "not configured an SMTP server" in field["message"]
        assert "CORTEXRNN_SMTP_HOST" in field["message"]
    assert server.client().list_experiments().total == 0


@pytest.mark.parametrize(
    "address",
    [
        "alice",
        "alice@",
        "Alice <alice@lab.example.org>",
        "a@lab.org, b@lab.org",
        "alice@lab.example.org\nBcc: eve@evil.example",
    ],
)
def test_email_must_be_one_plain_address(with_smtp, server, address) -> None:
    with pytest.raises(SpecInvalid) as info:
        server.client().submit(small_spec(email=address))
    assert any(f["path"] == "email" for f in info.value.fields)


def test_smtp_server_refusing_for_a_while_is_retried(smtp) -> None:
    inbox, port = smtp
    inbox.refuse = ["451 4.3.0 try again later", "421 4.4.2 busy"]
    assert notify.deliver_email(
        "bob@lab.example.org", NOTICE, settings=settings_for(port), first_wait=0.01
    )
    assert inbox.tries == 3 and len(inbox.messages) == 1


def test_smtp_refusal_for_good_is_not_retried(smtp, caplog) -> None:
    inbox, port = smtp
    inbox.refuse = ["550 5.1.1 no such mailbox"]
    with caplog.at_level(logging.WARNING, "cortexrnn.notify"):
        assert not notify.deliver_email(
            "nobody@lab.example.org", NOTICE, settings=settings_for(port), first_wait=0.01
        )
    assert inbox.tries == 1 and inbox.messages == []
    assert "refused" in caplog.text and "550" in caplog.text


@pytest.fixture()
def with_dead_smtp(monkeypatch) -> Iterator[int]:
    """SMTP configured at a port where nothing listens."""
    closed = free_port()
    for name, value in smtp_env(closed).items():
        monkeypatch.setenv(name, value)
    reset_settings_cache()
    yield closed
    monkeypatch.undo()
    reset_settings_cache()


def test_unreachable_smtp_server_never_fails_the_experiment(
    with_dead_smtp, server, tmp_path, caplog
) -> None:
    with caplog.at_level(logging.WARNING, "cortexrnn.notify"):
        waits: list[float] = []
        assert not notify.deliver_email(
            "bob@lab.example.org",
            NOTICE,
            settings=settings_for(with_dead_smtp),
            attempts=2,
            first_wait=0.01,
            timeout=1,
            sleep=waits.append,
        )
        assert waits == [0.01]  # two tries, then it gives up
    assert "not delivered after 2 tries" in caplog.text

    exp = server.client().submit(small_spec(email="bob@lab.example.org", seeds=1))
    finish_runs(exp.id, artifacts_dir=tmp_path / "art")
    assert server.client().experiment(exp.id).status().status == "succeeded"
