"""An experiment that names a webhook has it POSTed a JSON notice (id, name, status, counts)
when it ends: after the commit, from a thread (the process ending it never waits for the
receiver), retried a few times, never for a change that was rolled back."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cortexrnn.client.errors import SpecInvalid, UsageError
from cortexrnn.shared import notify
from cortexrnn.shared.db import session_scope
from cortexrnn.shared.experiments import refresh_experiment_status
from cortexrnn.shared.models import Experiment, Run, RunState
from tests.client.conftest import finish_runs, small_spec


class Receiver:
    """A real HTTP server on a free local port recording each POSTed JSON body; it answers
    each request with the next status in `answers` (then 200), once `hold` (if any) is set."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.answers: list[int] = []
        self.hold: threading.Event | None = None
        self.arrived = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if outer.hold is not None:
                    outer.hold.wait(60)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.bodies.append(json.loads(body))
                status = outer.answers.pop(0) if outer.answers else 200
                self.send_response(status)
                self.end_headers()
                if status == 200:
                    outer.arrived.set()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(autouse=True)
def allow_local_receivers(monkeypatch) -> Iterator[None]:
    """The receivers here listen on 127.0.0.1, an internal address the default allow-list
    ("external") refuses: the operator names it, as a lab would name its own hosts."""
    from cortexrnn.shared.settings import reset_settings_cache

    monkeypatch.setenv("CORTEXRNN_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1, *.lab.example.org")
    reset_settings_cache()
    yield
    monkeypatch.undo()
    reset_settings_cache()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_finished_experiment_posts_its_notice(server, receiver, tmp_path) -> None:
    receiver.hold = threading.Event()  # a receiver that answers only when told to
    exp = server.client().submit(small_spec(name="hooked", webhook=receiver.url))
    finish_runs(exp.id, fail={("bio", 2)}, artifacts_dir=tmp_path / "art")
    # Ending the experiment returned before the receiver answered: it never waits for it.
    assert not receiver.arrived.is_set()
    receiver.hold.set()
    assert receiver.arrived.wait(15)
    (body,) = receiver.bodies
    assert body["id"] == exp.id and body["name"] == "hooked" and body["status"] == "failed"
    assert body["counts"] == {"succeeded": 5, "failed": 1} and body["n_runs"] == 6


def test_receiver_errors_are_retried(receiver) -> None:
    receiver.answers = [500, 503]
    assert notify.deliver(receiver.url, {"id": 1}, first_wait=0.01)
    assert len(receiver.bodies) == 3


def test_unreachable_receiver_gives_up_quietly(receiver) -> None:
    url = receiver.url
    receiver.server.shutdown()
    receiver.server.server_close()
    waits: list[float] = []
    assert not notify.deliver(
        url, {"id": 1}, attempts=3, first_wait=0.01, timeout=1, sleep=waits.append
    )
    assert len(waits) == 2 and waits[0] == 0.01  # three tries, then it gives up


def test_rolled_back_end_sends_nothing(server, receiver) -> None:
    exp = server.client().submit(small_spec(webhook=receiver.url, seeds=1))
    with pytest.raises(RuntimeError), session_scope() as s:
        for run in s.query(Run).filter(Run.experiment_id == exp.id):
            run.transition(RunState.CANCELLED)
        refresh_experiment_status(s, s.get(Experiment, exp.id))
        raise RuntimeError("the transaction fails after the experiment ended")
    assert not receiver.arrived.wait(1.5) and receiver.bodies == []
    server.client().cancel(exp.id)  # this one commits
    assert receiver.arrived.wait(15) and receiver.bodies[0]["status"] == "cancelled"


def test_webhook_must_be_http(server) -> None:
    with pytest.raises(SpecInvalid) as info:
        server.client().submit(small_spec(webhook="file:///etc/passwd"))
    assert any(f["path"] == "webhook" for f in info.value.fields)
    assert server.client().list_experiments().total == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8000/hook",  # a name for an internal address, not named by the operator
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://[::1]:9000/hook",
        "https://hooks.elsewhere.example.com/hook",  # not on the list at all
    ],
)
def test_webhook_host_off_the_allow_list_is_refused_at_submission(server, url) -> None:
    with pytest.raises(UsageError) as info:
        server.client().submit(small_spec(webhook=url))
    assert info.value.status == 422
    (field,) = [f for f in info.value.fields if f["path"] == "webhook"]
    assert "127.0.0.1, *.lab.example.org" in field["message"]
    assert "CORTEXRNN_WEBHOOK_ALLOWED_HOSTS" in field["message"]
    assert server.client().list_experiments().total == 0


def test_default_allow_list_takes_only_external_hosts(monkeypatch) -> None:
    from cortexrnn.shared.settings import Settings
    from cortexrnn.shared.webhook_hosts import webhook_refusal

    monkeypatch.delenv("CORTEXRNN_WEBHOOK_ALLOWED_HOSTS")
    default = Settings().webhook_host_patterns
    assert default == ["external"]
    assert webhook_refusal("https://93.184.215.14/hook", default) is None  # a public address
    for internal in ("http://127.0.0.1/", "http://192.168.1.20/", "http://[fe80::1]/",
                     "http://2130706433/", "http://[::ffff:10.0.0.1]/"):  # fmt: skip
        assert "internal address" in webhook_refusal(internal, default)
    assert "sends no webhooks" in webhook_refusal("https://93.184.215.14/hook", [])
    assert webhook_refusal("http://10.0.0.5/", ["*"]) is None
    assert webhook_refusal("https://ci.lab.example.org/x", ["*.lab.example.org"]) is None
    assert webhook_refusal("https://lab.example.org.evil.com/x", ["*.lab.example.org"])


def test_webhook_is_checked_again_when_sent(receiver, monkeypatch) -> None:
    """The operator took the host off the list after the experiment was accepted."""
    assert not notify.deliver(receiver.url, {"id": 1}, allowed=["hooks.lab.example.org"])
    assert not notify.deliver(receiver.url, {"id": 1}, allowed=["external"])
    assert receiver.bodies == []
    assert notify.deliver(receiver.url, {"id": 1}, allowed=["127.0.0.1"])
    assert len(receiver.bodies) == 1
