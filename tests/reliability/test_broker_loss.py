"""Broker loss: the Redis server dies with every message in it (no persistence) while one
pack trains and two more wait in its queue, and comes back empty. The database still says
what must happen, so every accepted run finishes: the reconciler re-sends the packs whose
messages were lost, and the worker reconnects by itself."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, text

from tests.reliability.harness import CLAIM_RE, log_events, start_lab, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

DISPATCH_TIMEOUT_S = 4.0


def broker_spec(sampling_seed: int, steps: int) -> dict:
    return {
        "name": f"broker-{sampling_seed}",
        "sampling": {"strategy": "random", "n_neurons": 32, "seed": sampling_seed},
        "tasks": ["go_no_go"],
        "training": {
            "epochs": 1,
            "train_trials": 32 * steps,
            "test_trials": 64,
            "batch_size": 32,
            "checkpoint_every_steps": 100,
        },
        "seeds": 2,
        "conditions": {"W": {"init": "orthogonal", "lam": 0.0}},
    }


class GhostWorker(threading.Thread):
    """A registered worker row with two free slots that never takes work, kept alive by
    heartbeats: it makes the scheduler put packs in the broker beyond what the real worker
    takes, so that messages are waiting in Redis when it dies (as with a busy GPU host)."""

    def __init__(self, database_url: str) -> None:
        super().__init__(daemon=True)
        self.engine = create_engine(database_url)
        self.halt = threading.Event()
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO workers (name, hostname, device, queues, concurrency, started_at, "
                    "heartbeat_at) VALUES ('ghost', 'nowhere', 'cpu', '[\"cpu\"]', 2, now(), now())"
                )
            )

    def run(self) -> None:
        while not self.halt.wait(1.0):
            with self.engine.begin() as conn:
                conn.execute(text("UPDATE workers SET heartbeat_at = now() WHERE name = 'ghost'"))

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=5)
        with self.engine.begin() as conn:
            conn.execute(text("DELETE FROM workers WHERE name = 'ghost'"))
        self.engine.dispose()


def test_redis_restarted_empty_loses_no_accepted_run(tmp_path, postgres_url, private_redis) -> None:
    import redis

    lab = start_lab(
        tmp_path,
        postgres_url,
        private_redis.url,
        workers=1,
        dispatch_timeout_s=str(DISPATCH_TIMEOUT_S),
    )
    ghost = GhostWorker(postgres_url)
    ghost.start()
    broker = redis.Redis.from_url(private_redis.url)
    try:
        with lab.client as c:
            eids = [
                c.post("/v1/experiments", json=broker_spec(i, 1500 if i == 0 else 400)).json()["id"]
                for i in range(3)
            ]
            # One pack training, two waiting as messages in Redis.
            wait_until(
                lambda: (
                    c.get(f"/v1/experiments/{eids[0]}").json()["counts"].get("running", 0) == 2
                    and sum(
                        c.get(f"/v1/experiments/{e}").json()["counts"].get("queued", 0)
                        for e in eids[1:]
                    )
                    == 4
                ),
                60,
                "one pack running and two queued",
            )
            waiting_messages = set(broker.lrange("cpu", 0, -1))
            waiting = len(waiting_messages)
            assert waiting >= 1, "the queued packs' messages should be waiting in Redis"

            private_redis.kill()
            lost_at = time.time()
            # Accepted while the broker is down: the database takes it, nothing is lost.
            late = c.post("/v1/experiments", json=broker_spec(9, 300))
            assert late.status_code == 201, late.text
            eids.append(late.json()["id"])
            ready = c.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["broker"].startswith(
                "unreachable"
            )
            time.sleep(2.0)
            private_redis.start()  # same port, no data
            back_at = time.time()
            # Came back empty: the waiting messages are gone. (The late pack's send, held by the
            # client while the broker was down, may arrive at once; that one is new.)
            assert not waiting_messages & set(broker.lrange("cpu", 0, -1))

            done = [lab.wait(eid, timeout=180) for eid in eids]
            all_done_at = time.time()
            assert [d["status"] for d in done] == ["succeeded"] * len(eids), done
            for eid in eids:
                runs = c.get(f"/v1/experiments/{eid}/runs").json()
                assert {r["state"] for r in runs} == {"succeeded"}, runs
    finally:
        ghost.stop()
        lab.stop()

    claims = log_events(lab.home, CLAIM_RE)
    first_after = min(t for t, *_ in claims if t > back_at)
    print(
        f"\nbroker down {back_at - lost_at:.1f} s with {waiting} messages lost; first pack claimed "
        f"{first_after - back_at:.1f} s after Redis came back; all {len(eids)} experiments done "
        f"{all_done_at - back_at:.1f} s after"
    )
    # The lost messages were re-sent within the dispatch timeout plus a few scheduler ticks.
    assert first_after - back_at <= DISPATCH_TIMEOUT_S + 10
