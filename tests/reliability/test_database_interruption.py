"""Postgres cut off for a few seconds (every connection reset, new ones refused) while a
pack trains and clients poll and submit: the API answers 503 with Retry-After, never 500,
and recovers by itself when the database is back; the worker retries its writes and the
run finishes."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.reliability.harness import TcpProxy, start_lab, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

OUTAGE_S = 4.0


def db_spec() -> dict:
    return {
        "name": "db-outage",
        "sampling": {"strategy": "random", "n_neurons": 32, "seed": 5},
        "tasks": ["go_no_go"],
        "training": {
            "epochs": 1,
            "train_trials": 32 * 3000,
            "test_trials": 64,
            "batch_size": 32,
            "checkpoint_every_steps": 200,
        },
        "seeds": 2,
        "conditions": {"W": {"init": "orthogonal", "lam": 0.0}},
    }


def test_database_outage_gives_503_and_heals(tmp_path, postgres_url, private_redis) -> None:
    u = make_url(postgres_url)
    proxy = TcpProxy(u.host or "127.0.0.1", u.port or 5432)
    proxy.start()
    proxied = u.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    # A heartbeat timeout well above the outage: the reconciler must not take the pack away
    # from a worker that is only waiting for the database.
    lab = start_lab(
        tmp_path,
        proxied,
        private_redis.url,
        workers=1,
        admin_database_url=postgres_url,
        heartbeat_timeout_s="30",
    )
    statuses: list[tuple[float, int, str | None]] = []
    try:
        with lab.client as c:
            eid = c.post("/v1/experiments", json=db_spec()).json()["id"]
            wait_until(
                lambda: c.get(f"/v1/experiments/{eid}").json()["counts"].get("running", 0) == 2,
                60,
                "the pack to start",
            )
            time.sleep(1.0)
            proxy.cut()
            cut_at = time.monotonic()
            ready = c.get("/readyz")
            health = c.get("/healthz")
            while time.monotonic() - cut_at < OUTAGE_S:
                for r in (
                    c.get(f"/v1/experiments/{eid}"),
                    c.get("/v1/experiments"),
                    c.post("/v1/experiments", json={**db_spec(), "name": "during outage"}),
                ):
                    statuses.append(
                        (time.monotonic() - cut_at, r.status_code, r.headers.get("retry-after"))
                    )
                    assert r.status_code == 503, r.text
                    assert r.json()["error"]["message"].startswith("the database")
                time.sleep(0.2)
            proxy.restore()
            back_at = time.monotonic()
            recovered = wait_until(lambda: _ok(c, eid), 30, "the API to answer again")
            healed_s = time.monotonic() - back_at
            assert recovered
            done = lab.wait(eid, timeout=180)
            assert done["status"] == "succeeded", done
            runs = c.get(f"/v1/experiments/{eid}/runs").json()
            assert {r["state"] for r in runs} == {"succeeded"} and {r["attempt"] for r in runs} == {
                0
            }
    finally:
        lab.stop()
        proxy.close()

    assert ready.status_code == 503 and ready.headers.get("retry-after")
    assert ready.json()["checks"]["database"].startswith("unreachable")
    assert health.status_code == 200
    assert statuses and all(code == 503 and after for _, code, after in statuses)
    worker_log = (lab.home / "worker-0.log").read_text()
    assert "database unavailable (attempt" in worker_log or "heartbeat failed" in worker_log
    print(
        f"\n{len(statuses)} requests during a {OUTAGE_S:.0f} s outage: all 503 with Retry-After; "
        f"the API answered again {healed_s:.2f} s after the database came back; the run finished "
        "on its first attempt"
    )


def _ok(c: httpx.Client, eid: int) -> bool:
    try:
        return c.get(f"/v1/experiments/{eid}").status_code == 200
    except httpx.HTTPError:
        return False
