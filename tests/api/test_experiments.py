"""Experiments endpoints: success, validation error, not found, unauthorised, forbidden."""

from __future__ import annotations

import json

from sqlalchemy import select

from cortexrnn.shared.db import session_scope
from cortexrnn.shared.experiments import refresh_experiment_status
from cortexrnn.shared.models import Experiment, Run, RunState
from tests.api.conftest import assert_error, small_spec


def _submit(api, user: str = "alice", **kw) -> dict:
    r = api.post("/v1/experiments", user=user, json=small_spec(**kw))
    assert r.status_code == 201, r.text
    return r.json()


def test_submit_expands_runs_and_stores_them(api, tiny_dataset) -> None:
    body = _submit(api)
    assert (
        body["n_runs"] == 4
        and body["n_cached"] == 0
        and body["created"]
        and body["status"] == "active"
    )
    detail = api.get(f"/v1/experiments/{body['id']}", user="bob").json()  # everyone may read
    assert (
        detail["owner"] == "alice"
        and detail["counts"] == {"pending": 4}
        and detail["progress"] == 0
    )
    assert detail["spec"]["dataset"] == "tiny"
    runs = api.get(f"/v1/experiments/{body['id']}/runs").json()
    assert sorted((r["condition"], r["seed"]) for r in runs) == [
        ("baseline", 0),
        ("baseline", 1),
        ("bio", 0),
        ("bio", 1),
    ]
    assert {r["state"] for r in runs} == {"pending"}


def test_validation_errors_name_the_field(api, tiny_dataset) -> None:
    spec = small_spec(conditions={"full": {"init": "functional", "lam": -1}})
    body = assert_error(api.post("/v1/experiments", json=spec), 422, "conditions.full.lam")
    assert body["error"]["fields"][0]["path"] == "conditions.full.lam"
    assert_error(api.post("/v1/experiments", json=small_spec(seeds=0)), 422, "seeds")
    assert_error(api.post("/v1/experiments", json=small_spec(tasks=["chess"])), 422, "tasks")
    assert_error(
        api.post("/v1/experiments", json=small_spec(conditions={"preset": "paper-1999"})),
        422,
        "conditions",
    )
    assert_error(api.post("/v1/experiments", json=small_spec(bogus=1)), 422, "bogus")
    assert_error(
        api.post("/v1/experiments", json=small_spec(dataset="nope")), 422, "unknown dataset"
    )
    assert_error(
        api.post(
            "/v1/experiments", json=small_spec(sampling={"strategy": "random", "n_neurons": 500})
        ),
        422,
        "sampling",
    )
    assert_error(
        api.post(
            "/v1/experiments", content=b"{not json", headers={"Content-Type": "application/json"}
        ),
        422,
    )
    with session_scope() as s:  # nothing was stored by any refused request
        assert s.scalar(select(Experiment)) is None and s.scalar(select(Run)) is None


def test_idempotency_key_makes_retries_safe(api, tiny_dataset) -> None:
    headers = {"Idempotency-Key": "abc-123"}
    first = api.post("/v1/experiments", json=small_spec(), headers=headers)
    again = api.post("/v1/experiments", json=small_spec(), headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"] and not again.json()["created"]
    assert_error(
        api.post("/v1/experiments", json=small_spec(seeds=3), headers=headers),
        409,
        "different spec",
    )
    with session_scope() as s:
        assert len(list(s.scalars(select(Experiment)))) == 1


def test_identical_spec_is_answered_from_succeeded_runs(api, tiny_dataset) -> None:
    first = _submit(api)
    with session_scope() as s:
        for run in s.scalars(select(Run).where(Run.experiment_id == first["id"])):
            run.transition(RunState.QUEUED)
            run.transition(RunState.RUNNING)
            run.transition(RunState.SUCCEEDED)
    second = _submit(api, user="bob", name="again")
    assert second["n_cached"] == 4 and second["status"] == "succeeded"
    runs = api.get(f"/v1/experiments/{second['id']}/runs").json()
    assert all(r["cached_from_id"] is not None and r["state"] == "succeeded" for r in runs)
    forced = _submit(api, force=True)
    assert forced["n_cached"] == 0


def test_list_filters_and_paginates(api, tiny_dataset) -> None:
    _submit(api, name="alpha", tags=["x"])
    _submit(api, user="bob", name="beta")
    _submit(api, name="gamma", tags=["x", "y"])
    assert api.get("/v1/experiments").json()["total"] == 3
    mine = api.get("/v1/experiments", params={"owner": "alice"}).json()
    assert [e["name"] for e in mine["items"]] == ["gamma", "alpha"]
    assert [e["name"] for e in api.get("/v1/experiments", params={"tag": "y"}).json()["items"]] == [
        "gamma"
    ]
    assert [
        e["name"] for e in api.get("/v1/experiments", params={"name": "bet"}).json()["items"]
    ] == ["beta"]
    page = api.get("/v1/experiments", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 3 and len(page["items"]) == 1
    assert_error(api.get("/v1/experiments", params={"status": "weird"}), 422, "status")
    assert_error(api.get("/v1/experiments", params={"limit": 0}), 422, "limit")


def test_not_found(api) -> None:
    for url in (
        "/v1/experiments/999",
        "/v1/experiments/999/runs",
        "/v1/runs/999",
        "/v1/runs/999/metrics",
        "/v1/runs/999/weights",
    ):
        assert_error(api.get(url), 404, "999")
    assert_error(api.post("/v1/experiments/999/cancel"), 404)
    assert_error(api.get("/v1/experiments/abc"), 422)


def test_unauthorised(api) -> None:
    for method, url in (
        ("get", "/v1/experiments"),
        ("post", "/v1/experiments"),
        ("get", "/v1/experiments/1"),
        ("post", "/v1/experiments/1/cancel"),
        ("post", "/v1/experiments/1/retry"),
        ("delete", "/v1/experiments/1"),
        ("get", "/v1/runs/1"),
        ("get", "/v1/queue"),
        ("get", "/v1/datasets"),
    ):
        assert_error(getattr(api.client, method)(url), 401)


def test_cancel_retry_delete_are_owner_or_admin_only(api, tiny_dataset) -> None:
    exp = _submit(api)
    eid = exp["id"]
    for method, url in (
        ("post", f"/v1/experiments/{eid}/cancel"),
        ("post", f"/v1/experiments/{eid}/retry"),
        ("delete", f"/v1/experiments/{eid}"),
    ):
        assert_error(getattr(api, method)(url, user="bob"), 403, "owner")
    cancelled = api.post(f"/v1/experiments/{eid}/cancel").json()
    assert cancelled["status"] == "cancelled" and cancelled["counts"] == {"cancelled": 4}
    retried = api.post(f"/v1/experiments/{eid}/retry", user="root").json()  # an admin may
    assert retried["status"] == "active" and retried["counts"] == {"pending": 4}
    assert_error(api.post(f"/v1/experiments/{eid}/retry"), 409, "no failed")
    api.post(f"/v1/experiments/{eid}/cancel")
    assert api.delete(f"/v1/experiments/{eid}").status_code == 204
    assert_error(api.get(f"/v1/experiments/{eid}"), 404)


def test_cancel_flags_running_runs_for_the_worker(api, tiny_dataset) -> None:
    eid = _submit(api)["id"]
    with session_scope() as s:
        run = s.scalars(select(Run).where(Run.experiment_id == eid)).first()
        run.transition(RunState.QUEUED)
        run.transition(RunState.RUNNING)
        running_id = run.id
    body = api.post(f"/v1/experiments/{eid}/cancel").json()
    assert body["counts"] == {"cancelled": 3, "running": 1}
    with session_scope() as s:
        assert s.get(Run, running_id).cancel_requested
    assert_error(api.delete(f"/v1/experiments/{eid}"), 409, "cancel it first")


def test_cancel_releases_runs_from_a_pack_shared_with_another_experiment(api, tiny_dataset) -> None:
    """Two experiments' runs train in one pack: cancelling one of them must not stop the other's
    training, and must not wait for it either."""
    from cortexrnn.shared.models import Pack

    mine, theirs = _submit(api)["id"], _submit(api, user="bob", seeds=3)["id"]
    with session_scope() as s:
        pack = Pack(pack_key="k", queue="cpu", state=RunState.RUNNING.value, worker="w1")
        s.add(pack)
        s.flush()
        shared = [
            s.scalars(select(Run).where(Run.experiment_id == eid)).first() for eid in (mine, theirs)
        ]
        for run in shared:
            run.pack_id = pack.id
            run.transition(RunState.QUEUED)
            run.transition(RunState.RUNNING)
        my_run, their_run, pack_id = shared[0].id, shared[1].id, pack.id
    body = api.post(f"/v1/experiments/{mine}/cancel").json()
    assert body["status"] == "cancelled" and body["counts"] == {"cancelled": 4}
    with session_scope() as s:
        run = s.get(Run, my_run)
        assert run.pack_id is None and "trains on for other experiments" in run.error
        other = s.get(Run, their_run)
        assert other.state == "running" and other.pack_id == pack_id and not other.cancel_requested
    # A retry puts it in a new pack, not back into the one still training.
    assert api.post(f"/v1/experiments/{mine}/retry").json()["counts"] == {"pending": 4}
    with session_scope() as s:
        assert s.get(Run, my_run).pack_id is None
    # Bob's runs alone in their pack now: cancelling flags them for the worker as before.
    assert api.post(f"/v1/experiments/{theirs}/cancel", user="bob").json()["counts"] == {
        "cancelled": 5,
        "running": 1,
    }


def test_events_stream_progress_until_done(api, tiny_dataset) -> None:
    eid = _submit(api)["id"]
    api.post(f"/v1/experiments/{eid}/cancel")
    with api.client.stream("GET", f"/v1/experiments/{eid}/events", headers=api.headers("bob")) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    assert "event: run" in text and "event: progress" in text and "event: done" in text
    assert '"status": "cancelled"' in text


def test_events_report_the_status_that_ends_an_experiment(api, tiny_dataset) -> None:
    """The stream reads the experiment's status apart from its runs, so one poll can see every
    run ended while the status still reads active ("finishing" on the page). When the status
    then changes and nothing else does, the stream must still send it before `done`."""
    eid = _submit(api)["id"]
    with session_scope() as s:
        for run in s.scalars(select(Run).where(Run.experiment_id == eid)):
            for state in (RunState.QUEUED, RunState.RUNNING, RunState.SUCCEEDED):
                run.transition(state)
        # The status is left as it was, as between a worker's two writes.
    progress = []
    url, headers = f"/v1/experiments/{eid}/events", api.headers("alice")
    with api.client.stream("GET", url, headers=headers) as r:
        event = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "progress":
                progress.append(json.loads(line.removeprefix("data: ")))
                if len(progress) == 1:
                    with session_scope() as s:
                        refresh_experiment_status(s, s.get_one(Experiment, eid))
            elif line.startswith("data: ") and event == "done":
                break
    assert progress[0]["status"] == "active" and progress[0]["counts"] == {"succeeded": 4}
    assert progress[-1]["status"] == "succeeded"
