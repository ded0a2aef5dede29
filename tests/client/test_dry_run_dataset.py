"""`submit --dry-run` asks the server about the dataset (only it knows which exist), and the
server's refusal names the field and the nearest registered dataset name."""

from __future__ import annotations

from typer.testing import CliRunner

from cortexrnn.client import cli as client_cli
from tests.client.conftest import small_spec, write_spec
from tests.client.test_client_api import closed_port


def test_dry_run_refuses_unknown_dataset_with_nearest_name(cli, tmp_path) -> None:
    spec = str(write_spec(tmp_path / "s.yaml", dataset="tinny"))
    result = cli("submit", spec, "--dry-run")
    assert result.exit_code == 2, result.output
    assert "dataset:" in result.stderr and "did you mean 'tiny'?" in result.stderr
    assert "valid" not in result.stdout
    assert cli("list").stdout.count("client-test") == 0  # nothing was stored


def test_dry_run_of_known_dataset_says_the_server_checked_it(cli, tmp_path) -> None:
    result = cli("submit", str(write_spec(tmp_path / "s.yaml")), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "valid; 2 conditions x 3 seeds x 1 tasks = 6 runs (dataset checked" in result.stdout


def test_offline_dry_run_says_the_dataset_was_not_checked(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(client_cli.CLIENT_OPTIONS, "backoff", 0.01)  # no in-process server
    url = f"http://127.0.0.1:{closed_port()}"
    spec = str(write_spec(tmp_path / "s.yaml", dataset="tinny"))
    result = CliRunner().invoke(
        client_cli.app, ["--url", url, "submit", spec, "--dry-run"], env={"CORTEXRNN_TOKEN": "t"}
    )
    assert result.exit_code == 0, result.output
    assert "valid here" in result.stdout and "the dataset was not checked" in result.stdout
    assert "cannot reach" in result.stdout


def test_validate_endpoint_suggests_only_close_names(server) -> None:
    auth = {"Authorization": f"Bearer {server.tokens['alice']}"}
    close = server.http.post(
        "/v1/experiments/validate", json=small_spec(dataset="TINY"), headers=auth
    )
    far = server.http.post(
        "/v1/experiments/validate", json=small_spec(dataset="microns-v1343"), headers=auth
    )
    assert close.status_code == far.status_code == 422
    assert "did you mean 'tiny'?" in close.text and "'dataset'" in close.text.replace('"', "'")
    assert "did you mean" not in far.text
