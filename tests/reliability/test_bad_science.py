"""Inputs that cannot be trained: a learning rate that makes the loss NaN/inf, a
communicability-regularised prior whose regulariser overflows, a selection with no neurons.
Each fails (or is refused) with a reason a user can act on, and the same worker goes on to
train the next experiment. Runs on the embedded deployment (SQLite, local broker, the worker
started by `cortexrnn serve`): the worker code is the lab's."""

from __future__ import annotations

import pytest

from tests.integration.conftest import start_embedded

pytestmark = pytest.mark.slow


def spec(name: str, condition: dict, **training: float) -> dict:
    return {
        "name": name,
        "sampling": {"strategy": "random", "n_neurons": 24, "seed": 1},
        "tasks": ["go_no_go"],
        "training": {
            "epochs": 2,
            "train_trials": 128,
            "test_trials": 64,
            "batch_size": 32,
            **training,
        },
        "seeds": [0],
        "conditions": {"arm": condition},
    }


@pytest.fixture()
def embedded(tmp_path):
    dep = start_embedded(tmp_path)
    yield dep
    dep.stop()


def test_unlearnable_inputs_fail_readably_and_the_worker_keeps_serving(embedded) -> None:
    cases = {
        # Adam at lr 10 takes W far past anything finite in one step.
        "nan-loss": spec("nan-loss", {"init": "orthogonal", "lam": 0.0}, lr=10.0),
        # sum |W| * D * C at lambda 1e6: the communicability-weighted penalty explodes, then NaN.
        "communicability-overflow": spec(
            "communicability-overflow",
            {"init": "functional", "space": "real", "communicability": "direct", "lam": 1e6},
            lr=1.0,
        ),
    }
    workers = set()
    with embedded.client as c:
        for label, body in cases.items():
            eid = c.post("/v1/experiments", json=body).json()["id"]
            done = embedded.wait(eid, timeout=120)
            assert done["status"] == "failed", (label, done)
            (run,) = c.get(f"/v1/experiments/{eid}/runs").json()
            assert run["state"] == "failed"
            assert "diverged: the loss became NaN or infinite at step" in run["error"], (
                label,
                run["error"],
            )
            assert "lower training.lr or the regulariser strength" in run["error"]
            workers.add(run["worker"])
            # What was computed up to the divergence is kept and served.
            detail = c.get(f"/v1/runs/{run['id']}").json()
            assert (
                detail["summary"]["diverged_step"] is not None
                and detail["summary"]["diverged_step"] >= 1
            )

        # A selection with no neurons is refused before anything is stored, naming the field.
        before = c.get("/v1/experiments").json()["total"]
        empty = spec("empty", {"init": "orthogonal", "lam": 0.0})
        empty["sampling"] = {"strategy": "field", "field": "no-such-field"}
        refused = c.post("/v1/experiments", json=empty)
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["fields"][0]["path"] == "sampling"
        assert "field 'no-such-field' has no neurons" in error["message"]
        assert c.get("/v1/experiments").json()["total"] == before

        # The same worker process trains the next, ordinary experiment.
        eid = c.post(
            "/v1/experiments", json=spec("after", {"init": "orthogonal", "lam": 0.0})
        ).json()["id"]
        assert embedded.wait(eid, timeout=120)["status"] == "succeeded"
        (run,) = c.get(f"/v1/experiments/{eid}/runs").json()
        assert run["state"] == "succeeded" and run["error"] is None
        workers.add(run["worker"])
    assert len(workers) == 1, f"a bad input cost a worker process: {workers}"
