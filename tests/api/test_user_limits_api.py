"""An admin sets a user's queue limits over the API or the server CLI; anyone reads a user's
standing; everyone else is refused, and a bad limit is a 422 naming the field."""

from __future__ import annotations

from typer.testing import CliRunner

from cortexrnn.cli.main import app
from tests.api.conftest import Api, assert_error, small_spec


def test_an_admin_sets_limits_and_the_user_sees_them_block(api: Api, tiny_dataset) -> None:
    assert_error(
        api.client.put(
            "/v1/users/bob/limits", json={"max_runs_in_flight": 2}, headers=api.headers("alice")
        ),
        403,
        "only an admin",
    )
    assert_error(
        api.client.put(
            "/v1/users/bob/limits", json={"max_runs_in_flight": 0}, headers=api.headers("root")
        ),
        422,
        "max_runs_in_flight",
    )
    assert_error(
        api.client.put("/v1/users/nobody/limits", json={}, headers=api.headers("root")),
        404,
        "nobody",
    )
    set_ = api.client.put(
        "/v1/users/bob/limits",
        json={"max_runs_in_flight": 2, "max_worker_hours_per_day": 5},
        headers=api.headers("root"),
    )
    assert set_.status_code == 200, set_.text
    assert set_.json()["max_runs_in_flight"] == 2 and set_.json()["blocked"] is None
    api.post("/v1/experiments", user="bob", json=small_spec())
    share = api.get("/v1/users/bob/share").json()  # alice may look at bob's standing
    assert (share["in_flight"], share["today_hours"], share["max_worker_hours_per_day"]) == (
        0,
        0.0,
        5.0,
    )
    lifted = api.client.put("/v1/users/bob/limits", json={}, headers=api.headers("root"))
    assert lifted.json()["max_runs_in_flight"] is None


def test_the_users_command_sets_limits(api: Api) -> None:
    result = CliRunner().invoke(
        app, ["users", "limits", "bob", "--runs-in-flight", "3", "--worker-hours-per-day", "2.5"]
    )
    assert result.exit_code == 0, result.output
    assert "runs in flight 3" in result.output and "worker-hours per day 2.5" in result.output
    share = api.get("/v1/users/bob/share").json()
    assert (share["max_runs_in_flight"], share["max_worker_hours_per_day"]) == (3, 2.5)
    bad = CliRunner().invoke(app, ["users", "limits", "bob", "--runs-in-flight", "0"])
    assert bad.exit_code == 2
