"""The Python API (`cortexrnn.client.Client`) against the real app in-process."""

from __future__ import annotations

import csv
import json
import stat
import threading
from types import SimpleNamespace

import httpx
import numpy as np
import pytest

from cortexrnn.cli.local_server import free_port
from cortexrnn.client import api as client_api
from cortexrnn.client.api import Client
from cortexrnn.client.errors import (
    AuthFailed,
    NotFound,
    Refused,
    RunsFailed,
    SpecInvalid,
    Unreachable,
    UsageError,
)
from tests.client.conftest import ACCURACY, URL, finish_runs, small_spec, write_spec


def closed_port() -> int:
    """A port nothing listens on (free now, so closed)."""
    return free_port()


def test_submit_status_runs(server, tmp_path) -> None:
    client = server.client()
    exp = client.submit(write_spec(tmp_path / "spec.yaml"))
    assert exp.submission.n_runs == 6 and exp.submission.created and exp.submission.n_cached == 0
    status = exp.status()
    assert status.owner == "alice" and status.counts == {"pending": 6} and status.status == "active"
    runs = exp.runs()
    assert sorted((r.condition, r.seed) for r in runs) == sorted(ACCURACY)
    # Everyone in the lab may read it.
    assert server.client("bob").experiment(exp.id).status().name == "client-test"


def test_submit_overrides_name_priority_and_force(server) -> None:
    exp = server.client().submit(small_spec(), name="renamed", priority="high", force=True)
    detail = exp.status()
    assert detail.name == "renamed" and detail.priority == 10 and detail.spec["force"] is True


def test_bad_spec_is_refused_locally_with_field_paths(server, tmp_path) -> None:
    sent = []
    client = Client(
        URL, "t", transport=httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(500))
    )
    bad = small_spec(
        seeds=0, conditions={"full": {"init": "functional", "lam": -1}}, tasks=["chess"]
    )
    with pytest.raises(SpecInvalid) as info:
        client.submit(bad)
    paths = {f["path"] for f in info.value.fields}
    assert {"seeds", "conditions.full.lam", "tasks[0].name"} <= paths
    assert sent == []  # nothing reached the server
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SpecInvalid, match=r"nope\.yaml"):
        client.submit(missing)


def test_server_side_validation_error_becomes_usage_error(server) -> None:
    # Valid locally, but the server knows no dataset of that name.
    with pytest.raises(UsageError, match="dataset") as info:
        server.client().submit(small_spec(dataset="no-such-dataset"))
    assert info.value.exit_code == 2


def test_idempotency_key_is_reused_by_retries(server) -> None:
    """A submission whose answer got lost is retried with the same key: one experiment."""
    keys, calls = [], {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers.get("idempotency-key"))
        calls["n"] += 1
        response = server.http.request(
            request.method, str(request.url), headers=request.headers, content=request.content
        )
        if calls["n"] == 1:  # the server stored it, but the answer "got lost"
            return httpx.Response(
                503, json={"error": {"status": 503, "message": "proxy hiccup", "fields": []}}
            )
        return httpx.Response(
            response.status_code, headers=response.headers, content=response.content
        )

    client = Client(URL, server.tokens["alice"], transport=httpx.MockTransport(flaky), backoff=0.01)
    exp = client.submit(small_spec())
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0]
    assert exp.submission.created is False  # the second answer is the idempotent replay
    assert server.client().list_experiments().total == 1


def test_get_is_retried_but_plain_post_is_not(server) -> None:
    seen: list[str] = []

    def unavailable(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return httpx.Response(
            503, json={"error": {"status": 503, "message": "db down", "fields": []}}
        )

    client = Client(URL, "t", transport=httpx.MockTransport(unavailable), retries=2, backoff=0.01)
    with pytest.raises(Unreachable, match="unavailable"):
        client.get_experiment(1)
    assert seen == ["GET"] * 3
    seen.clear()
    with pytest.raises(Unreachable):
        client.retry(1)  # not idempotent: a resend could act twice
    assert seen == ["POST"]


def test_server_down_is_unreachable(cortexrnn_home, monkeypatch) -> None:
    """A closed port: the client tries once more after its backoff, then gives up with exit
    code 3 (counted attempts and waits, not a wall-clock limit)."""
    attempts: list[str] = []
    waits: list[float] = []

    class Counting(httpx.HTTPTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            attempts.append(request.url.path)
            return super().handle_request(request)

    monkeypatch.setattr(client_api, "time", SimpleNamespace(sleep=waits.append))
    client = Client(
        f"http://127.0.0.1:{closed_port()}", "t", transport=Counting(), retries=1, backoff=0.01
    )
    with pytest.raises(Unreachable, match="cortexrnn serve") as info:
        client.list_experiments()
    assert info.value.exit_code == 3
    assert attempts == ["/v1/experiments"] * 2 and waits == [0.01]


def test_http_errors_map_to_exceptions(server) -> None:
    alice = server.client()
    with pytest.raises(NotFound, match="experiment 999 does not exist"):
        alice.get_experiment(999)
    bad = Client(URL, "crnn_wrong", http_client=server.http)
    with pytest.raises(AuthFailed, match="login") as info:
        bad.list_experiments()
    assert info.value.exit_code == 4
    exp = alice.submit(small_spec())
    with pytest.raises(Refused, match="owner") as info:
        server.client("bob").cancel(exp.id)
    assert info.value.exit_code == 6
    with pytest.raises(Refused, match="no failed"):
        exp.retry()


def test_cancel_then_retry(server) -> None:
    exp = server.client().submit(small_spec())
    out = exp.cancel()
    assert out.status == "cancelled" and out.counts == {"cancelled": 6}
    out = exp.retry()
    assert out.status == "active" and out.counts == {"pending": 6}
    # An admin may cancel anyone's experiment.
    assert server.client("root").cancel(exp.id).status == "cancelled"


def test_wait_follows_events_until_done(server, cortexrnn_home) -> None:
    exp = server.client().submit(small_spec())
    timer = threading.Timer(
        0.3, finish_runs, args=(exp.id,), kwargs={"artifacts_dir": cortexrnn_home / "a"}
    )
    timer.start()
    events = []
    final = exp.wait(on_event=events.append)
    timer.join()
    assert final.status == "succeeded" and final.counts == {"succeeded": 6}
    assert events[-1].event == "done" and events[-1].json() == {"status": "succeeded"}
    assert {e.json()["state"] for e in events if e.event == "run"} >= {"pending", "succeeded"}


def test_wait_raises_when_runs_failed(server, cortexrnn_home) -> None:
    exp = server.client().submit(small_spec())
    finish_runs(exp.id, fail={("bio", 1)}, artifacts_dir=cortexrnn_home / "a")
    with pytest.raises(RunsFailed, match="1 failed") as info:
        exp.wait()
    assert info.value.exit_code == 1
    assert exp.wait(raise_on_failure=False).status == "failed"


def test_results_frame_holds_every_runs_measures(server, cortexrnn_home) -> None:
    exp = server.client().submit(small_spec())
    finish_runs(exp.id, fail={("bio", 2)}, artifacts_dir=cortexrnn_home / "a")
    df = exp.results()
    assert len(df) == 6
    ok = df[df.state == "succeeded"]
    expected = {k: v for k, v in ACCURACY.items() if k != ("bio", 2)}
    assert {(r.condition, r.seed): r.test_acc for r in ok.itertuples()} == pytest.approx(expected)
    assert ok.modularity_cnm.isna().all()  # undefined values stay null
    failed = df[df.state == "failed"].iloc[0]
    assert (failed.condition, failed.seed) == ("bio", 2) and "NaN" in failed.error


def test_download_writes_runs_curves_and_weights(server, cortexrnn_home, tmp_path) -> None:
    exp = server.client().submit(small_spec())
    finish_runs(exp.id, fail={("baseline", 0)}, artifacts_dir=cortexrnn_home / "a")
    manifest = exp.download(tmp_path / "out")
    out = tmp_path / "out"
    with open(out / "runs.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and sum(r["state"] == "succeeded" for r in rows) == 5
    with open(out / "curves.csv") as fh:
        curves = list(csv.DictReader(fh))
    assert len(curves) == 5 * 2  # two evaluations of test_acc per finished run
    by_run = {(r["condition"], int(r["seed"]), int(r["step"])): float(r["value"]) for r in curves}
    assert by_run[("bio", 1, 2)] == pytest.approx(ACCURACY[("bio", 1)])
    assert by_run[("bio", 1, 1)] == pytest.approx(ACCURACY[("bio", 1)] / 2)
    weights = sorted((out / "weights").glob("*.npz"))
    assert len(weights) == 5
    for path in weights:
        run_id = int(path.name.split("-")[1])
        with np.load(path, allow_pickle=False) as npz:
            assert np.all(npz["w"] == run_id)  # each file is that run's own weights
    assert json.loads((out / "spec.json").read_text())["dataset"] == "tiny"
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert set(manifest["files"]) >= {"runs.csv", "curves.csv", "spec.json"}


def test_datasets_list_show_and_unknown(server) -> None:
    client = server.client()
    assert "tiny" in [d.name for d in client.datasets()]
    tiny = client.dataset("tiny")
    assert tiny.n_neurons == 80 and tiny.source == "synthetic"
    with pytest.raises(NotFound, match="nope"):
        client.dataset("nope")


@pytest.mark.microns
def test_upload_converts_pickled_field_locally(server, microns_dir, tmp_path) -> None:
    """The paper's positions file is a pickled object array: the server refuses pickles, so
    the upload only works because the client converts it first."""
    import shutil

    field = tmp_path / "6_6_2"
    shutil.copytree(microns_dir / "6_6_2", field)
    raw = np.load(field / "positions_6_6_2.npy", allow_pickle=True)
    steps: list[str] = []
    d = server.client().upload_dataset(field, "field-662", on_step=steps.append)
    assert d.name == "field-662" and d.n_neurons == len(raw)
    assert any("converting" in s for s in steps)
    assert server.client("bob").dataset("field-662").content_sha256 == d.content_sha256
    with pytest.raises(Refused, match="exists already"):
        server.client().upload_dataset(field, "field-662")


def test_upload_refuses_what_it_cannot_send(server, tmp_path) -> None:
    client = server.client()
    with pytest.raises(UsageError, match="not found"):
        client.upload_dataset(tmp_path / "missing", "x")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(UsageError, match="folder"):
        client.upload_dataset(tmp_path / "notes.txt", "x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="cannot tell the format"):
        client.upload_dataset(tmp_path / "empty", "x")


def test_queue_shows_waiting_runs_per_user(server) -> None:
    server.client().submit(small_spec())
    # force: bob's runs are alice's first ones; without it they would wait for hers (dedupe).
    server.client("bob").submit(small_spec(seeds=1), priority="low", force=True)
    q = server.client().queue()
    got = {(u.user, u.priority): u.pending for u in q.users}
    assert got == {("alice", 0): 6, ("bob", -10): 2}


# -- configuration ------------------------------------------------------------------------
def test_config_order_env_then_login_file_then_embedded(server, monkeypatch, tmp_path) -> None:
    from cortexrnn.client.config import config_path, resolve, write_user_config

    cfg = resolve()
    assert cfg.url == "http://127.0.0.1:8765" and cfg.token is None  # no local token yet
    monkeypatch.setenv("CORTEXRNN_API_PORT", "9000")
    assert resolve().url == "http://127.0.0.1:9000"

    path = write_user_config("http://lab:8765/", "crnn_stored", user="alice")
    assert path == config_path() and stat.S_IMODE(path.stat().st_mode) == 0o600
    cfg = resolve()
    assert (cfg.url, cfg.token, cfg.user) == ("http://lab:8765", "crnn_stored", "alice")
    # The stored token belongs to its server: never sent to another one.
    other = resolve(url="http://elsewhere:1")
    assert other.url == "http://elsewhere:1" and other.token is None

    monkeypatch.setenv("CORTEXRNN_URL", "http://env:1")
    monkeypatch.setenv("CORTEXRNN_TOKEN", "crnn_env")
    assert (resolve().url, resolve().token) == ("http://env:1", "crnn_env")
    assert (
        resolve("http://flag:2", "crnn_flag").url,
        resolve("http://flag:2", "crnn_flag").token,
    ) == ("http://flag:2", "crnn_flag")


def test_embedded_local_token_is_found(server, cortexrnn_home) -> None:
    from cortexrnn.client.config import resolve
    from cortexrnn.shared.local_auth import ensure_local_admin

    path = ensure_local_admin()
    cfg = resolve()
    assert cfg.token == path.read_text().strip() and cfg.user == "local"
    # ...and it is a token the server accepts.
    client = Client(cfg.url, cfg.token, http_client=server.http)
    assert client.list_experiments().total == 0
    assert resolve(url="http://lab.example:8765").token is None  # not sent off this machine


def test_bad_url_is_a_usage_error(cortexrnn_home) -> None:
    with pytest.raises(UsageError, match="not an http"):
        Client("ftp://x", "t")
