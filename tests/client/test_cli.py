"""`cortexrnn-client` commands against the real app in-process: happy paths, and the error
paths a user meets (bad spec, unknown id, server down, bad token, not the owner), each with
its documented exit code and no traceback."""

from __future__ import annotations

import csv
import io
import json
import stat
import threading
import time

import pytest
import yaml

from cortexrnn.services.spec import load_spec
from tests.client.conftest import ACCURACY, finish_runs, write_spec
from tests.client.test_client_api import closed_port


def no_traceback(result) -> None:
    assert "Traceback" not in result.output and "Traceback" not in (result.stderr or "")
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )


def submitted_id(cli, tmp_path, **overrides) -> int:
    result = cli("submit", str(write_spec(tmp_path / "spec.yaml", **overrides)), "-q")
    assert result.exit_code == 0, result.output
    return int(result.stdout.strip())


def test_submit_prints_id_and_run_count(cli, tmp_path) -> None:
    result = cli(
        "submit",
        str(write_spec(tmp_path / "spec.yaml")),
        "--name",
        "ablation-1",
        "--priority",
        "high",
    )
    assert result.exit_code == 0, result.output
    assert "submitted experiment 1 (ablation-1): 6 runs" in result.stdout
    status = cli("status", "1")
    assert (
        status.exit_code == 0 and "ablation-1" in status.stdout and "priority 10" in status.stdout
    )
    assert "queued: 0 of 6 runs succeeded (0 %)" in status.stdout


def test_submit_bad_spec_lists_field_paths(cli, tmp_path) -> None:
    spec = write_spec(
        tmp_path / "bad.yaml", seeds=0, conditions={"full": {"init": "functional", "lam": -1}}
    )
    result = cli("submit", str(spec))
    assert result.exit_code == 2
    assert f"error: {spec}: invalid experiment spec" in result.stderr
    assert "  seeds:" in result.stderr and "  conditions.full.lam:" in result.stderr
    no_traceback(result)
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    result = cli("submit", str(broken))
    assert result.exit_code == 2 and "not valid YAML: line" in result.stderr
    assert cli("list").stdout.count("client-test") == 0  # nothing was submitted


def test_submit_dry_run_needs_no_server(cli, tmp_path) -> None:
    result = cli(
        "--url",
        f"http://127.0.0.1:{closed_port()}",
        "submit",
        str(write_spec(tmp_path / "s.yaml")),
        "--dry-run",
    )
    assert result.exit_code == 0 and "2 conditions x 3 seeds x 1 tasks = 6 runs" in result.stdout


def test_submit_seeds_overrides_the_spec(cli, tmp_path) -> None:
    spec = str(write_spec(tmp_path / "s.yaml"))
    dry = cli("submit", spec, "--seeds", "5", "--dry-run")
    assert dry.exit_code == 0 and "2 conditions x 5 seeds x 1 tasks = 10 runs" in dry.stdout
    result = cli("submit", spec, "--seeds", "2")
    assert result.exit_code == 0 and ": 4 runs" in result.stdout, result.output
    runs = json.loads(cli("results", "1", "--format", "json").stdout)
    assert sorted({r["seed"] for r in runs}) == [0, 1]
    assert cli("submit", spec, "--seeds", "0").exit_code == 2
    other = cli("submit", spec, "--dataset", "no-such-field")
    assert other.exit_code != 0 and "no-such-field" in other.stderr
    no_traceback(other)


def test_submit_wait_watches_until_done(cli, tmp_path, cortexrnn_home) -> None:
    spec = write_spec(tmp_path / "spec.yaml")

    # The first experiment gets id 1; a worker stand-in finishes it while the client watches,
    # once the submission has stored it (a slow machine may take longer than any fixed delay).
    def worker_stand_in() -> None:
        from sqlalchemy import func, select

        from cortexrnn.shared.db import session_scope
        from cortexrnn.shared.models import Run

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with session_scope() as s:
                if s.scalar(select(func.count()).select_from(Run).where(Run.experiment_id == 1)):
                    break
            time.sleep(0.1)
        time.sleep(0.5)  # while the client watches
        finish_runs(1, artifacts_dir=cortexrnn_home / "a")

    timer = threading.Thread(target=worker_stand_in)
    timer.start()
    result = cli("submit", str(spec), "--wait")
    timer.join()
    assert result.exit_code == 0, result.output
    assert "experiment 1 succeeded: 6 runs" in result.stdout
    for condition in ("baseline", "bio", "all runs"):
        assert condition in result.stdout


def test_watch_exits_1_and_names_failed_runs(cli, tmp_path, cortexrnn_home) -> None:
    exp_id = submitted_id(cli, tmp_path)
    finish_runs(exp_id, fail={("bio", 1)}, artifacts_dir=cortexrnn_home / "a")
    result = cli("watch", str(exp_id))
    assert result.exit_code == 1
    assert "(bio, seed 1, go_no_go) failed: loss became NaN" in result.stdout
    assert (
        f"experiment {exp_id} ended failed" in result.stderr and f"retry {exp_id}" in result.stderr
    )
    no_traceback(result)


def test_status_shows_counts_per_condition_and_errors(cli, tmp_path, cortexrnn_home) -> None:
    exp_id = submitted_id(cli, tmp_path)
    finish_runs(exp_id, fail={("baseline", 2)}, artifacts_dir=cortexrnn_home / "a")
    result = cli("status", str(exp_id))
    assert result.exit_code == 0
    lines = {
        line.split("│")[1].strip(): line
        for line in result.stdout.splitlines()
        if line.count("│") > 3
    }
    baseline = [c.strip() for c in lines["baseline"].split("│")[1:-1]]
    # condition, pending, queued, running, succeeded, failed, cancelled, lost, cached
    assert baseline == ["baseline", ".", ".", ".", "2", "1", ".", ".", "."]
    assert "loss became NaN" in result.stdout and "status failed" in result.stdout


def test_list_filters(cli, tmp_path) -> None:
    submitted_id(cli, tmp_path, name="alpha")
    bob = cli("submit", str(write_spec(tmp_path / "b.yaml", name="beta")), user="bob")
    assert bob.exit_code == 0
    everyone = cli("list")
    assert everyone.exit_code == 0 and "alpha" in everyone.stdout and "beta" in everyone.stdout
    assert "1-2 of 2 experiments" in everyone.stdout
    only_bob = cli("list", "--owner", "bob")
    assert "beta" in only_bob.stdout and "alpha" not in only_bob.stdout
    cli("cancel", "1")
    cancelled = cli("list", "--status", "cancelled")
    assert "alpha" in cancelled.stdout and "beta" not in cancelled.stdout
    bad = cli("list", "--status", "done")
    assert bad.exit_code == 2 and "--status" in bad.stderr


def test_list_mine_asks_the_server_who_the_token_is(cli, server, tmp_path) -> None:
    submitted_id(cli, tmp_path, name="alpha")
    cli("submit", str(write_spec(tmp_path / "b.yaml", name="beta")), user="bob")
    mine = cli("list", "--mine")  # alice's token; GET /v1/me says whose it is
    assert mine.exit_code == 0, mine.output
    assert "alpha" in mine.stdout and "beta" not in mine.stdout
    login = cli(
        "login",
        "--url",
        "http://testserver",
        "--token",
        server.tokens["bob"],
        "--user",
        "bob",
        user=None,
    )
    assert login.exit_code == 0, login.output
    mine = cli("list", "--mine", user=None)  # url and token now come from the login file
    assert mine.exit_code == 0, mine.output
    assert "beta" in mine.stdout and "alpha" not in mine.stdout


def test_login_stores_0600_and_refuses_a_bad_token(cli, server, monkeypatch) -> None:
    from cortexrnn.client.config import config_path

    bad = cli("login", "--url", "http://testserver", "--token", "crnn_wrong", user=None)
    assert bad.exit_code == 4 and "invalid or revoked" in bad.stderr
    assert not config_path().exists()
    good = cli(
        "login", "--url", "http://testserver", user=None, input=server.tokens["alice"] + "\n"
    )
    assert good.exit_code == 0, good.output
    assert server.tokens["alice"] not in good.stdout  # asked for, hidden, never echoed
    path = config_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["token"] == server.tokens["alice"]
    shown = cli("config", user=None)
    assert "from " + str(path) in shown.stdout and server.tokens["alice"] not in shown.stdout
    assert cli("logout").exit_code == 0 and not path.exists()


def test_cancel_and_retry(cli, tmp_path) -> None:
    exp_id = submitted_id(cli, tmp_path)
    nothing = cli("retry", str(exp_id))
    assert nothing.exit_code == 6 and "no failed, lost or cancelled runs" in nothing.stderr
    not_owner = cli("cancel", str(exp_id), user="bob")
    assert not_owner.exit_code == 6 and "only the owner" in not_owner.stderr
    result = cli("cancel", str(exp_id))
    assert result.exit_code == 0 and "status cancelled" in result.stdout
    result = cli("retry", str(exp_id))
    assert result.exit_code == 0 and "6 runs queued again" in result.stdout


def test_delete(cli, tmp_path) -> None:
    exp_id = submitted_id(cli, tmp_path)
    assert cli("delete", str(exp_id), input="n\n").exit_code == 1  # declined: nothing deleted
    assert cli("status", str(exp_id)).exit_code == 0
    assert cli("delete", str(exp_id), "--yes").exit_code == 0
    assert cli("status", str(exp_id)).exit_code == 5


@pytest.mark.parametrize(
    "command",
    [
        ["status", "42"],
        ["watch", "42"],
        ["cancel", "42"],
        ["retry", "42"],
        ["results", "42"],
        ["download", "42", "-o", "out"],
        ["report", "42"],
    ],
)
def test_unknown_id_is_exit_5(cli, command, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli(*command)
    assert result.exit_code == 5, result.output
    assert result.stderr.startswith("error: ")
    no_traceback(result)


@pytest.mark.parametrize("command", [["list"], ["status", "1"], ["queue"], ["datasets", "list"]])
def test_bad_token_is_exit_4(cli, server, command) -> None:
    server.tokens["mallory"] = "crnn_not_a_token"
    result = cli(*command, user="mallory")
    assert result.exit_code == 4 and "cortexrnn-client login" in result.stderr
    no_traceback(result)


def test_server_down_is_exit_3(cli, monkeypatch, tmp_path) -> None:
    from cortexrnn.client import cli as client_cli

    monkeypatch.delitem(client_cli.CLIENT_OPTIONS, "http_client")
    url = f"http://127.0.0.1:{closed_port()}"
    for command in (["list"], ["submit", str(write_spec(tmp_path / "s.yaml"))], ["watch", "1"]):
        result = cli("--url", url, *command)
        assert result.exit_code == 3, result.output
        assert f"cannot reach the CortexRNN server at {url}" in result.stderr
        no_traceback(result)


def test_results_formats(cli, tmp_path, cortexrnn_home) -> None:
    exp_id = submitted_id(cli, tmp_path)
    finish_runs(exp_id, artifacts_dir=cortexrnn_home / "a")
    as_csv = cli("results", str(exp_id), "--format", "csv")
    assert as_csv.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert {(r["condition"], int(r["seed"])): float(r["test_acc"]) for r in rows} == pytest.approx(
        ACCURACY
    )
    assert all(r["modularity_cnm"] == "" for r in rows)
    as_json = json.loads(cli("results", str(exp_id), "-f", "json").stdout)
    assert len(as_json) == 6 and all(r["state"] == "succeeded" for r in as_json)
    table = cli("results", str(exp_id))
    assert table.exit_code == 0 and "test_acc" in table.stdout and "0.83" in table.stdout
    out = tmp_path / "r.csv"
    assert cli("results", str(exp_id), "-f", "csv", "-o", str(out)).exit_code == 0
    assert out.read_text() == as_csv.stdout
    bad = cli("results", str(exp_id), "--format", "xml")
    assert bad.exit_code == 2 and "--format" in bad.stderr


def test_download(cli, tmp_path, cortexrnn_home) -> None:
    exp_id = submitted_id(cli, tmp_path)
    finish_runs(exp_id, artifacts_dir=cortexrnn_home / "a")
    result = cli("download", str(exp_id), "-o", str(tmp_path / "dl"))
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "dl" / "weights").glob("run-*-weights.npz"))) == 6
    assert (tmp_path / "dl" / "runs.csv").is_file() and (tmp_path / "dl" / "curves.csv").is_file()


def test_queue(cli, tmp_path) -> None:
    from cortexrnn.worker.runtime import register_worker

    empty = cli("queue")
    assert (
        empty.exit_code == 0 and "no runs waiting" in empty.stdout and "no workers" in empty.stdout
    )
    submitted_id(cli, tmp_path)
    register_worker("w1@host", "cuda:0", ["gpu"], 2)
    result = cli("queue")
    row = next(line for line in result.stdout.splitlines() if "alice" in line)
    assert [c.strip() for c in row.split("│")[1:-1]] == ["alice", "0", "6", "0", "0"]
    assert "w1@host" in result.stdout and "cuda:0" in result.stdout
    # the worker serves "gpu", the experiment waits in "cpu": the reason says so
    assert "live queues" in result.stdout and "gpu" in result.stdout
    waiting = result.stdout[result.stdout.index("waiting experiments") :]
    assert "no live worker serves" in waiting and "unknown" in waiting


def test_datasets_commands(cli) -> None:
    listing = cli("datasets", "list")
    assert listing.exit_code == 0 and "tiny" in listing.stdout
    show = cli("datasets", "show", "tiny")
    assert show.exit_code == 0 and "neurons:     80" in show.stdout
    missing = cli("datasets", "show", "nope")
    assert missing.exit_code == 5 and "nope" in missing.stderr


@pytest.mark.microns
def test_datasets_upload_then_submit_on_it(cli, microns_dir, tmp_path) -> None:
    result = cli("datasets", "upload", str(microns_dir / "6_6_2"), "--name", "microns-6_6_2")
    assert result.exit_code == 0, result.output
    assert "uploaded dataset microns-6_6_2: 312 neurons" in result.stdout
    assert "converting" in result.stderr
    again = cli("datasets", "upload", str(microns_dir / "6_6_2"), "--name", "microns-6_6_2")
    assert again.exit_code == 6 and "exists already" in again.stderr
    spec = write_spec(tmp_path / "s.yaml", dataset="microns-6_6_2", sampling={"strategy": "all"})
    assert cli("submit", str(spec)).exit_code == 0


@pytest.mark.parametrize("preset", ["basic", "paper-2026"])
def test_spec_template_validates(cli, preset, tmp_path) -> None:
    result = cli("spec", "template", "--preset", preset)
    assert result.exit_code == 0
    assert result.stdout.lstrip().startswith("#")  # commented
    path = tmp_path / "t.yaml"
    path.write_text(result.stdout)
    spec = load_spec(path)
    if preset == "paper-2026":
        assert len(spec.conditions) == 11 and len(spec.seed_list) == 20 and len(spec.tasks) == 3
        assert "W!D*C*" in spec.conditions
    assert cli("spec", "validate", str(path)).exit_code == 0
    unknown = cli("spec", "template", "--preset", "nope")
    assert unknown.exit_code == 2 and "basic" in unknown.stderr


def test_basic_template_submits(cli, tmp_path) -> None:
    text = cli("spec", "template").stdout
    spec = yaml.safe_load(text)
    spec["dataset"] = "tiny"
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = cli("submit", str(path))
    assert result.exit_code == 0 and "9 runs" in result.stdout


# -- summary, compare and report (the server's /summary and /report) ----------------------
def test_compare_and_report(cli, server, tmp_path, cortexrnn_home) -> None:
    exp_id = submitted_id(cli, tmp_path, seeds=3)
    finish_runs(exp_id, artifacts_dir=cortexrnn_home / "a")
    result = cli("compare", str(exp_id), "--metric", "test_acc", "--format", "json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["comparisons"], body
    table = cli("compare", str(exp_id), "--metric", "test_acc")
    assert table.exit_code == 0 and "baseline" in table.stdout and "bio" in table.stdout
    unknown = cli("compare", str(exp_id), "--metric", "no_such_measure")
    assert unknown.exit_code == 2 and "available" in unknown.stderr
    out = tmp_path / "report.html"
    report = cli("report", str(exp_id), "-o", str(out))
    assert report.exit_code == 0 and out.read_text().lstrip().lower().startswith("<!doctype html")


def test_no_args_shows_help_and_exit_codes(cli) -> None:
    result = cli()
    assert "submit" in result.output and "Exit codes" in result.output


def test_compare_renders_the_servers_stats(cli, monkeypatch) -> None:
    """`compare` against a /summary answer built by the stats service from known values: the
    p-values shown are the ones scipy computes for those values."""
    import httpx
    import pandas as pd
    from scipy.stats import wilcoxon

    from cortexrnn.client import cli as client_cli
    from cortexrnn.services.stats import summarise

    tidy = pd.DataFrame(
        [
            {"condition": c, "task": "go_no_go", "seed": s, "metric": "test_acc", "value": v}
            for (c, s), v in ACCURACY.items()
        ]
    )
    tables = summarise(tidy, n_boot=200)
    body = {name: json.loads(df.to_json(orient="records")) for name, df in tables.items()}

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/experiments/7/summary"
        return httpx.Response(200, json=body)

    monkeypatch.setitem(
        client_cli.CLIENT_OPTIONS,
        "http_client",
        httpx.Client(transport=httpx.MockTransport(handler)),
    )
    result = cli("compare", "7", "--metric", "test_acc", "-f", "json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    (pair,) = got["comparisons"]
    seeds = sorted({s for (_, s) in ACCURACY})
    base = [ACCURACY[("baseline", s)] for s in seeds]
    bio = [ACCURACY[("bio", s)] for s in seeds]
    # The conditions share seeds (data, noise, init): a paired test, exact at this size.
    expected = wilcoxon(base, bio, method="exact").pvalue
    assert pair["test"] == "Wilcoxon signed-rank, paired"
    assert pair["p"] == pytest.approx(expected) and pair["p_holm"] == pytest.approx(
        expected
    )  # one pair: Holm = p
    means = {r["condition"]: r["mean"] for r in got["stats"]}
    assert means == pytest.approx({"baseline": sum(base) / 3, "bio": sum(bio) / 3})
    assert got["omnibus"] and got["omnibus"][0]["metric"] == "test_acc"
    table = cli("compare", "7", "--metric", "test_acc")
    assert (
        table.exit_code == 0 and "pairwise comparisons" in table.stdout and "p_holm" in table.stdout
    )
    as_csv = cli("compare", "7", "--metric", "test_acc", "-f", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    (row,) = [r for r in rows if r["table"] == "comparisons"]
    assert float(row["p_holm"]) == pytest.approx(expected)
    assert {r["table"] for r in rows} == {"stats", "omnibus", "comparisons"} | (
        {"solved"} if got["solved"] else set()
    )
    wrong_task = cli("compare", "7", "--metric", "test_acc", "--task", "chess")
    assert wrong_task.exit_code == 2 and "go_no_go" in wrong_task.stderr
