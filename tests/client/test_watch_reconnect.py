"""`watch` (and `Client.events`) outlive an API restart: the stream reconnects with capped
exponential backoff for a configurable time, says "reconnecting…", sends Last-Event-ID where
the server gave ids, and gives up with a clear message only when the time is up."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from rich.console import Console

from cortexrnn.client import api as client_api
from cortexrnn.client.api import STREAM_BACKOFF_CAP_S, Client
from cortexrnn.client.errors import Unreachable
from cortexrnn.client.watch import watch

URL = "http://cortex.test"
EVENTS = "/v1/experiments/1/events"


def sse(*events: tuple[str, dict[str, Any], str | None]) -> bytes:
    out = []
    for name, data, ident in events:
        out.append(
            (f"id: {ident}\n" if ident else "") + f"event: {name}\ndata: {json.dumps(data)}\n\n"
        )
    return "".join(out).encode()


RUN_EVENT = ("run", {"id": 1, "condition": "base", "state": "running", "progress": 0.5}, "7")
DONE = (
    ("run", {"id": 1, "condition": "base", "state": "succeeded", "progress": 1.0}, "8"),
    ("done", {"status": "succeeded"}, "9"),
)


class Restarting:
    """An API that streams a little, then goes away for `down` requests (connection refused,
    then a 503 while it starts), then streams to the end."""

    def __init__(self, down: int) -> None:
        self.down = down
        self.stream_calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != EVENTS:
            return self.other(request)
        self.stream_calls.append(request)
        n = len(self.stream_calls)
        if n == 1:
            return httpx.Response(200, content=sse(RUN_EVENT), headers=STREAM)
        if n <= 1 + self.down:
            if n == 1 + self.down:
                return httpx.Response(503, json={"error": {"status": 503, "message": "starting"}})
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.Response(200, content=sse(*DONE), headers=STREAM)

    def other(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": {"status": 404, "message": "no"}})


STREAM = {"content-type": "text/event-stream"}


@pytest.fixture()
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(client_api.time, "sleep", slept.append)
    return slept


def _client(handler: Callable[[httpx.Request], httpx.Response], **kw: Any) -> Client:
    return Client(URL, "t", transport=httpx.MockTransport(handler), **kw)


def test_the_stream_survives_an_outage_longer_than_three_retries(no_sleep: list[float]) -> None:
    server = Restarting(down=8)
    seen: list[tuple[int, float, str]] = []
    client = _client(server, backoff=0.5)
    events = list(client.events(1, on_reconnect=lambda *a: seen.append(a)))
    assert [e.event for e in events] == ["run", "run", "done"]
    # 1 close + 8 failed tries, each announced, with capped exponential backoff.
    assert [a for a, _, _ in seen] == list(range(1, 10))
    assert no_sleep == [min(0.5 * 2**i, STREAM_BACKOFF_CAP_S) for i in range(9)]
    assert any("503" in why for _, _, why in seen) and any("Connect" in why for _, _, why in seen)
    # Every reconnect resumes from the last event id the server gave.
    assert "last-event-id" not in server.stream_calls[0].headers
    assert {r.headers["last-event-id"] for r in server.stream_calls[1:]} == {"7"}


def test_the_stream_gives_up_when_the_reconnect_time_is_spent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(client_api.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(client_api.time, "sleep", lambda s: clock.__setitem__(0, clock[0] + s))
    server = Restarting(down=10**6)
    client = _client(server, backoff=1.0, reconnect_for=60)
    stream = client.events(1)
    assert next(stream).event == "run"
    with pytest.raises(Unreachable):
        next(stream)
    assert clock[0] == pytest.approx(1060.0)  # waited exactly the configured minute, no longer


def _experiment(status: str) -> dict[str, Any]:
    return {
        "id": 1,
        "name": "x",
        "owner": "alice",
        "status": status,
        "priority": 0,
        "tags": [],
        "spec_hash": "h",
        "created_at": "2026-01-01T00:00:00Z",
        "finished_at": None,
        "n_runs": 1,
        "counts": {},
        "progress": 0.0,
        "eta_seconds": None,
        "spec": {},
    }


RUN = {
    "id": 1,
    "experiment_id": 1,
    "condition": "base",
    "seed": 0,
    "task": "go_no_go",
    "state": "running",
    "attempt": 0,
    "progress": 0.5,
    "step": 1,
    "total_steps": 2,
    "worker": "w1",
    "heartbeat_at": None,
    "cached_from_id": None,
    "error": None,
    "created_at": "2026-01-01T00:00:00Z",
    "started_at": None,
    "finished_at": None,
}


class RestartingApi(Restarting):
    def __init__(self, down: int) -> None:
        super().__init__(down)
        self.details = 0

    def other(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/experiments/1/runs":
            return httpx.Response(200, json=[RUN])
        if request.url.path == "/v1/experiments/1":
            self.details += 1
            return httpx.Response(200, json=_experiment("active" if self.details == 1 else "x"))
        return super().other(request)


def test_watch_says_reconnecting_and_follows_to_the_end(no_sleep: list[float]) -> None:
    server = RestartingApi(down=6)
    console = Console(record=True, width=200, force_terminal=False)
    final = watch(_client(server, backoff=0.01), 1, console)
    assert final.status == "x"  # the detail fetched after `done`
    text = console.export_text()
    assert text.count("reconnecting…") == 7, text
    assert "reconnected" in text


def test_watch_reconnect_time_is_an_option(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from cortexrnn.client import cli as client_cli

    seen: list[float] = []
    monkeypatch.setattr(
        "cortexrnn.client.commands.experiments.watch_and_exit",
        lambda client, eid: seen.append(client.reconnect_for),
    )
    result = CliRunner().invoke(
        client_cli.app, ["--url", URL, "--token", "t", "watch", "1", "--reconnect-for", "42"]
    )
    assert result.exit_code == 0, result.output
    assert seen == [42.0]
