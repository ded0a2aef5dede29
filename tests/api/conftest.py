"""The real app in-process on a fresh embedded database, with three users."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from tests.conftest import seeded_app


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str]

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def get(self, url: str, user: str = "alice", **kw):
        return self.client.get(url, headers=self.headers(user), **kw)

    def post(self, url: str, user: str = "alice", **kw):
        return self.client.post(url, headers={**self.headers(user), **kw.pop("headers", {})}, **kw)

    def delete(self, url: str, user: str = "alice", **kw):
        return self.client.delete(url, headers=self.headers(user), **kw)


@pytest.fixture()
def api(cortexrnn_home) -> Api:
    app, tokens = seeded_app(tiny_dataset=False)
    with TestClient(app) as client:
        yield Api(client, tokens)


def assert_error(response, status: int, *needles: str) -> dict:
    """A JSON error with the status and a message naming what to fix."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["status"] == status
    message = body["error"]["message"]
    assert message and isinstance(message, str)
    for needle in needles:
        assert needle in message or any(needle in f["path"] for f in body["error"]["fields"]), body
    return body


@pytest.fixture()
def tiny_dataset(api) -> str:
    """A small synthetic cortex registered as 'tiny' (fast to build)."""
    from cortexrnn.services.connectome.synthetic import synthesize_cortex
    from cortexrnn.shared.datasets_registry import store_and_register

    store_and_register(synthesize_cortex(80, 3, name="tiny"))
    return "tiny"


def small_spec(**overrides) -> dict:
    spec = {
        "name": "api-test",
        "dataset": "tiny",
        "sampling": {"strategy": "random", "n_neurons": 16, "seed": 0},
        "tasks": ["go_no_go"],
        "training": {"epochs": 1, "train_trials": 64, "test_trials": 64, "batch_size": 32},
        "seeds": 2,
        "conditions": {"baseline": {"init": "orthogonal"}, "bio": {"init": "functional"}},
    }
    spec.update(overrides)
    return spec
