from __future__ import annotations

from tests.api.conftest import assert_error, small_spec


def test_health_and_readiness(api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_readiness_fails_when_the_broker_is_down(api) -> None:
    api.client.app.state.broker_check = lambda: "unreachable: ConnectionError"
    ready = api.client.get("/readyz")
    assert ready.status_code == 503 and ready.headers["retry-after"]
    assert ready.json()["checks"]["broker"].startswith("unreachable")


def test_prometheus_metrics(api) -> None:
    text = api.client.get("/metrics").text
    assert "# TYPE cortexrnn_runs gauge" in text


def test_missing_bad_and_revoked_tokens_are_401(api) -> None:
    assert_error(api.client.get("/v1/experiments"), 401, "missing API token")
    assert_error(
        api.client.get("/v1/experiments", headers={"Authorization": "Bearer nope"}), 401, "invalid"
    )
    from cortexrnn.shared.auth import revoke_tokens
    from cortexrnn.shared.db import session_scope

    with session_scope() as s:
        revoke_tokens(s, prefix=api.tokens["bob"][:12])
    assert_error(api.get("/v1/experiments", user="bob"), 401, "revoked")
    assert api.get("/v1/experiments", user="alice").status_code == 200


def test_unknown_endpoint_is_a_json_404(api) -> None:
    assert_error(api.get("/v1/nothing"), 404, "no such endpoint")


def test_oversized_bodies_are_refused(api) -> None:
    big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
    assert_error(
        api.post("/v1/experiments", content=big, headers={"Content-Type": "application/json"}),
        413,
        "exceeds the limit",
    )


def test_queue_lists_users_and_workers(api) -> None:
    from cortexrnn.worker.runtime import register_worker

    register_worker("w1@host", "cpu", ["cpu"], 2)
    body = api.get("/v1/queue").json()
    assert body["users"] == []
    (worker,) = body["workers"]
    assert worker["name"] == "w1@host" and worker["alive"] and worker["concurrency"] == 2


def test_queue_says_why_each_experiment_waits_and_when_it_starts(api, tiny_dataset) -> None:
    from cortexrnn.worker.runtime import register_worker

    first = api.post("/v1/experiments", json=small_spec(name="first")).json()["id"]
    (waiting,) = api.get("/v1/queue").json()["waiting"]
    assert (waiting["experiment_id"], waiting["owner"], waiting["pending"]) == (first, "alice", 4)
    assert "no live worker serves queue 'cpu'" in waiting["reason"]
    assert waiting["expected_start_s"] is None  # nothing measured, nobody to run it

    register_worker("w1@host", "cpu", ["cpu"], 2)
    # bob's runs are alice's: they wait for hers instead of training again
    twin = api.post("/v1/experiments", json=small_spec(name="twin"), user="bob").json()["id"]
    body = api.get("/v1/queue").json()
    assert (body["queue"], body["slots"], body["busy"]) == ("cpu", 2, 0)
    by_id = {w["experiment_id"]: w for w in body["waiting"]}
    assert "next tick (2 free worker slots)" in by_id[first]["reason"]
    assert (by_id[twin]["pending"], by_id[twin]["identical"]) == (0, 4)
    assert "waits for identical runs already in flight" in by_id[twin]["reason"]
    assert [w["position"] for w in body["waiting"]] == [1, 2]


def test_openapi_document_validates(api) -> None:
    from openapi_spec_validator import validate

    doc = api.client.get("/openapi.json").json()
    validate(doc)
    assert "/v1/experiments" in doc["paths"] and "/v1/runs/{run_id}/metrics" in doc["paths"]
