"""The API process killed (SIGKILL, then a graceful SIGTERM) and started again while clients
submit experiments and follow an event stream: every experiment a client was told about
exists afterwards, no retry with the same Idempotency-Key created a second one, the stream
resumes by itself and ends with `done`, and the accepted runs all train."""

from __future__ import annotations

import signal
import threading
import time
import uuid

import pytest
from sqlalchemy import create_engine, text

from cortexrnn.client.api import Client
from tests.reliability.harness import start_lab, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]


def small_spec(i: int, steps: int = 20) -> dict:
    return {
        "name": f"restart-{i}",
        "sampling": {"strategy": "random", "n_neurons": 24, "seed": 100 + i},
        "tasks": ["go_no_go"],
        "training": {"epochs": 1, "train_trials": 32 * steps, "test_trials": 64, "batch_size": 32},
        "seeds": [0],
        "conditions": {"W": {"init": "orthogonal", "lam": 0.0}},
    }


def test_api_restarts_lose_nothing_and_duplicate_nothing(
    tmp_path, postgres_url, private_redis
) -> None:
    lab = start_lab(tmp_path, postgres_url, private_redis.url, workers=1)
    told: dict[str, int] = {}  # idempotency key -> experiment id the client was given
    failures: list[BaseException] = []
    events: list[tuple[float, str, dict]] = []
    stop = threading.Event()

    def submitter() -> None:
        with Client(lab.url, lab.token, retries=10, backoff=0.2, timeout=10) as client:
            i = 0
            while not stop.is_set():
                key = uuid.uuid4().hex
                try:
                    exp = client.submit(small_spec(i), idempotency_key=key)
                    told[key] = exp.id
                except BaseException as exc:  # noqa: BLE001 - recorded and asserted below
                    failures.append(exc)
                i += 1
                time.sleep(0.4)

    def follower(eid: int) -> None:
        with Client(lab.url, lab.token, retries=10, backoff=0.2, timeout=10) as client:
            try:
                for ev in client.events(eid, reconnects=20):
                    events.append((time.time(), ev.event, ev.json()))
            except BaseException as exc:  # noqa: BLE001
                failures.append(exc)

    restarts: list[tuple[float, float]] = []
    try:
        with lab.client as c:
            # Long enough to be training through both restarts; the small ones queue behind it.
            # (5,000 steps sometimes ended before the second restart on an idle machine.)
            streamed = c.post("/v1/experiments", json=small_spec(999, steps=15000)).json()["id"]
        threads = [
            threading.Thread(target=submitter, daemon=True),
            threading.Thread(target=follower, args=(streamed,), daemon=True),
        ]
        for t in threads:
            t.start()
        for sig in (signal.SIGKILL, signal.SIGTERM):
            n_before = len(told)
            wait_until(lambda n=n_before: len(told) >= n + 3, 60, "more submissions")
            down = time.time()
            lab.kill_api(sig)
            time.sleep(1.0)
            lab.start_api()
            restarts.append((down, time.time()))
        n_before = len(told)
        wait_until(lambda: len(told) >= n_before + 3, 60, "submissions after the restarts")
        stop.set()
        threads[0].join(timeout=60)

        # A response lost on the way back is retried with the same key: the first experiment
        # comes back.
        key, eid = next(iter(told.items()))
        first = list(told).index(key)
        with lab.client as c:
            again = c.post(
                "/v1/experiments", json=small_spec(first), headers={"Idempotency-Key": key}
            )
            assert (
                again.status_code == 200
                and again.json()["id"] == eid
                and again.json()["created"] is False
            )
            listed = {
                e["id"] for e in c.get("/v1/experiments", params={"limit": 500}).json()["items"]
            }
        assert not failures, failures
        assert set(told.values()) <= listed, "an experiment the client was given is missing"
        engine = create_engine(postgres_url)
        with engine.connect() as conn:
            dup = conn.execute(
                text(
                    "SELECT idempotency_key, count(*) FROM experiments "
                    "WHERE idempotency_key IS NOT NULL "
                    "GROUP BY idempotency_key HAVING count(*) > 1"
                )
            ).all()
            keyed = conn.execute(
                text("SELECT count(*) FROM experiments WHERE idempotency_key IS NOT NULL")
            ).scalar()
        engine.dispose()
        assert dup == [], f"an idempotency key created more than one experiment: {dup}"
        assert keyed == len(told), f"{keyed} keyed experiments stored for {len(told)} submissions"

        threads[1].join(timeout=300)
        assert events and events[-1][1] == "done" and events[-1][2]["status"] == "succeeded", (
            events[-3:]
        )
        assert any(t > restarts[-1][1] for t, *_ in events), (
            "the stream did not resume after the restart"
        )
        for eid in sorted(set(told.values())):
            assert lab.wait(eid, timeout=180)["status"] == "succeeded"
    finally:
        stop.set()
        lab.stop()
    gaps = [round(up - down, 1) for down, up in restarts]
    print(
        f"\n{len(told)} experiments submitted across {len(restarts)} API restarts "
        f"(down {gaps} s each), "
        f"0 lost, 0 duplicated; {len(events)} events streamed"
    )
