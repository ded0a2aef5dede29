"""The client without the server and without the science (`pip install 'cortexrnn[client]'`).

Fast checks; tests/client/test_client_install.py does it for real in a clean virtual
environment. Here: wire/ imports only the standard library and pydantic (the client's own
import rule is tests/foundation/test_layering.py's), the client in a subprocess where every
science and server package is made unimportable, the server-side validation path in-process,
and the POST /v1/experiments/validate endpoint."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cortexrnn.client import science
from cortexrnn.wire.installs import SCIENCE_PACKAGES, SERVER_PACKAGES
from tests.client.conftest import URL, small_spec, write_spec
from tests.client.test_client_api import closed_port

REPO = Path(__file__).resolve().parents[2]
# What the client-only install lacks (import names): the science, then the server's packages.
UNINSTALLED = sorted(SCIENCE_PACKAGES | SERVER_PACKAGES)


# -- the import rules -----------------------------------------------------------------------
def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import statement, and of every string handed to
    `import_module(...)` / `__import__(...)`."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(
            node.func, "attr", getattr(node.func, "id", "")
        ) in ("import_module", "__import__"):
            out += [
                (node.lineno, a.value)
                for a in node.args[:1]
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
    return out


def test_wire_is_pure_pydantic() -> None:
    bad = []
    for path in sorted((REPO / "wire").rglob("*.py")):
        for line, module in _imports(path):
            top = module.partition(".")[0]
            if (
                module.startswith("cortexrnn.wire")
                or top in sys.stdlib_module_names
                or top == "pydantic"
            ):
                continue
            bad.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    assert bad == [], "\n".join(bad)


# -- the client where the science and the server are not installed ------------------------------
PRELUDE = textwrap.dedent(f"""
    import sys
    for name in {UNINSTALLED!r}:
        sys.modules[name] = None  # `import name` now fails as if it were not installed
""")


def client_only(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    environ = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CORTEXRNN_URL", "CORTEXRNN_TOKEN", "CORTEXRNN_CLIENT_CONFIG")
    }
    environ.update(
        {
            "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
            "CORTEXRNN_HOME": str(tmp_path / "home"),
            "COLUMNS": "200",
            **env,
        }
    )
    return subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(code)],
        env=environ,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def cli_only(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return client_only(
        f"from cortexrnn.client.cli import app\napp({list(args)!r}, prog_name='cortexrnn-client')",
        tmp_path,
        **env,
    )


def test_cli_without_science_or_server(tmp_path) -> None:
    spec = write_spec(tmp_path / "spec.yaml")
    down = f"http://127.0.0.1:{closed_port()}"

    helped = cli_only(tmp_path, "--help")
    assert helped.returncode == 0 and "submit" in helped.stdout, helped.stderr

    template = cli_only(tmp_path, "spec", "template")  # text: no science needed
    assert template.returncode == 0 and template.stdout.startswith("#"), template.stderr
    assert "go_no_go" in template.stdout and "keep_functional_diagonal" in template.stdout

    for args in (("spec", "validate", str(spec)), ("submit", str(spec), "--dry-run")):
        asked = cli_only(tmp_path, "--url", down, *args)  # validation is the server's: it is down
        assert asked.returncode == 3, asked.stdout + asked.stderr
        assert (
            "the server validates specs" in asked.stderr
            and "pip install 'cortexrnn[science]'" in asked.stderr
        )
        assert "Traceback" not in asked.stderr

    config = cli_only(tmp_path, "config")
    assert "specs: validated by the server" in config.stdout, config.stderr

    folder = tmp_path / "field"
    folder.mkdir()
    (folder / "positions.npy").write_bytes(b"")
    upload = client_only(
        f"""
        from pathlib import Path
        from cortexrnn.client.datasets import packed_upload
        from cortexrnn.client.errors import UsageError
        try:
            with packed_upload(Path({str(folder)!r})):
                pass
        except UsageError as exc:
            print(exc.exit_code, exc.message)
    """,
        tmp_path,
    )
    assert (
        upload.stdout.startswith("2 ")
        and "this needs the science: pip install 'cortexrnn[science]'" in upload.stdout
    ), upload.stdout + upload.stderr


def test_python_api_without_science(tmp_path) -> None:
    """`submit` sends the mapping as written, overrides applied; science-only features say
    what to install; a genuine import bug is not dressed up as a missing extra."""
    spec = write_spec(tmp_path / "spec.yaml")
    result = client_only(
        f"""
        import json, httpx
        from cortexrnn.client import Client, validate_spec
        from cortexrnn.client import science
        from cortexrnn.client.errors import UsageError

        sent = []
        def handler(request):
            sent.append(json.loads(request.content))
            answer = {{"id": 7, "name": "x", "n_runs": 4, "n_cached": 0, "created": True}}
            return httpx.Response(201, json={{**answer, "status": "active"}})
        client = Client("{URL}", "t", transport=httpx.MockTransport(handler))
        exp = client.submit({str(spec)!r}, name="renamed", priority="5", seeds=2, force=True)
        print("SENT", json.dumps(sent[0], sort_keys=True))
        print("AVAILABLE", science.available())
        calls = (lambda: validate_spec({str(spec)!r}), lambda: exp.summary(), lambda: exp.results())
        for call in calls:
            try:
                call()
            except UsageError as exc:
                print("MISSING", exc.exit_code, exc.message)
        try:
            with science.needs_science("a feature"):
                import cortexrnn.client.no_such_module
        except ModuleNotFoundError as exc:
            print("BUG", exc.name)
    """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    sent = json.loads(next(line for line in lines if line.startswith("SENT "))[5:])
    assert sent == {**small_spec(), "name": "renamed", "priority": 5, "seeds": 2, "force": True}
    assert "AVAILABLE False" in lines
    missing = [line for line in lines if line.startswith("MISSING ")]
    assert len(missing) == 3 and all(
        m.startswith("MISSING 2 ") and "pip install 'cortexrnn[science]'" in m for m in missing
    ), lines
    assert "BUG cortexrnn.client.no_such_module" in lines


def test_server_cli_in_a_client_only_install_names_the_extra(tmp_path) -> None:
    result = client_only("from cortexrnn.cli.main import main\nmain()", tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert (
        "pip install 'cortexrnn[server]'" in result.stderr
        and "pip install 'cortexrnn[worker]'" in result.stderr
    )

    from cortexrnn.cli.main import missing_server

    assert (
        missing_server(ModuleNotFoundError("x", name="cortexrnn.cli.nope")) is None
    )  # a bug stays a bug


# -- the server validates when the science is missing (in-process) ----------------------------
@pytest.fixture()
def no_science(monkeypatch):
    monkeypatch.setattr(science, "available", lambda: False)


def test_spec_validate_and_dry_run_ask_the_server(cli, server, tmp_path, no_science) -> None:
    spec = str(write_spec(tmp_path / "s.yaml"))
    result = cli("spec", "validate", spec)
    assert result.exit_code == 0, result.output
    assert (
        f"{spec}: valid; 2 conditions x 3 seeds x 1 tasks = 6 runs (checked by the server at {URL})"
        in result.stdout
    )
    dry = cli(
        "submit", spec, "--seeds", "5", "--priority", "high", "--force", "--name", "n", "--dry-run"
    )
    assert (
        dry.exit_code == 0
        and "2 conditions x 5 seeds x 1 tasks = 10 runs (checked by the server" in dry.stdout
    )
    assert server.client().list_experiments().total == 0  # validating stores nothing


def test_invalid_spec_is_reported_from_the_server_with_field_paths(
    cli, server, tmp_path, no_science
) -> None:
    bad = write_spec(
        tmp_path / "bad.yaml", seeds=0, conditions={"full": {"init": "functional", "lam": -1}}
    )
    for args in (("submit", str(bad)), ("spec", "validate", str(bad))):
        result = cli(*args)
        assert result.exit_code == 2, result.output
        assert f"error: {bad}: invalid experiment spec" in result.stderr
        assert "  seeds:" in result.stderr and "  conditions.full.lam:" in result.stderr
        assert "Traceback" not in result.output
    unknown = cli("submit", str(write_spec(tmp_path / "s.yaml")), "--dataset", "no-such-field")
    assert unknown.exit_code == 2 and "  dataset: unknown dataset 'no-such-field'" in unknown.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    result = cli("submit", str(broken))  # read here, before anything is sent
    assert result.exit_code == 2 and "not valid YAML: line" in result.stderr
    assert server.client().list_experiments().total == 0


def test_submit_sends_the_overridden_mapping(cli, server, tmp_path, no_science) -> None:
    result = cli(
        "submit",
        str(write_spec(tmp_path / "s.yaml")),
        "--name",
        "raw",
        "--seeds",
        "2",
        "--priority",
        "high",
        "--force",
    )
    assert result.exit_code == 0 and "submitted experiment 1 (raw): 4 runs" in result.stdout, (
        result.output
    )
    detail = server.client().get_experiment(1)
    assert detail.priority == 10 and detail.spec["seeds"] == 2 and detail.spec["force"] is True


def test_spec_validate_server_option_with_science(cli, tmp_path) -> None:
    spec = str(
        write_spec(
            tmp_path / "s.yaml", sampling={"strategy": "random", "n_neurons": 500, "seed": 0}
        )
    )
    assert cli("spec", "validate", spec).exit_code == 0  # the fields are fine
    remote = cli(
        "spec", "validate", spec, "--server"
    )  # the server knows the dataset has 80 neurons
    assert remote.exit_code == 2 and "  sampling:" in remote.stderr, remote.output


# -- POST /v1/experiments/validate -----------------------------------------------------------
def test_validate_endpoint(server) -> None:
    http, token = server.http, server.tokens["alice"]
    auth = {"Authorization": f"Bearer {token}"}
    assert http.post("/v1/experiments/validate", json=small_spec()).status_code == 401
    ok = http.post(
        "/v1/experiments/validate",
        json=small_spec(tasks=["go_no_go", {"name": "go_no_go", "label": "gng2"}]),
        headers=auth,
    )
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert (
        body["n_runs"] == 12
        and body["conditions"] == ["baseline", "bio"]
        and body["seeds"] == [0, 1, 2]
    )
    assert (
        body["tasks"] == ["go_no_go", "gng2"]
        and body["dataset"] == "tiny"
        and len(body["spec_hash"]) == 64
    )
    bad = http.post("/v1/experiments/validate", json=small_spec(seeds=0), headers=auth)
    assert bad.status_code == 422 and {f["path"] for f in bad.json()["error"]["fields"]} == {
        "seeds"
    }
    unknown = http.post("/v1/experiments/validate", json=small_spec(dataset="nope"), headers=auth)
    assert unknown.status_code == 422 and unknown.json()["error"]["fields"][0]["path"] == "dataset"
    assert http.get("/v1/experiments", headers=auth).json()["total"] == 0
    assert "/v1/experiments/validate" in http.get("/openapi.json").json()["paths"]


# -- what the client and the server share ----------------------------------------------------
def test_templates_list_the_sciences_tasks_and_switches() -> None:
    from cortexrnn.client import templates
    from cortexrnn.services.priors.conditions import FIDELITY_SWITCHES
    from cortexrnn.services.tasks.registry import TASK_NAMES

    assert tuple(TASK_NAMES) == templates.TASK_NAMES, "update the copy in client/templates.py"
    assert dict(FIDELITY_SWITCHES) == templates.FIDELITY_SWITCHES, (
        "update the copy in client/templates.py"
    )


def test_client_finds_the_token_where_the_server_writes_it(tmp_path, monkeypatch) -> None:
    from cortexrnn.client.config import local_token_file
    from cortexrnn.shared.local_auth import LOCAL_ADMIN, local_token_path
    from cortexrnn.shared.settings import reset_settings_cache
    from cortexrnn.wire import embedded

    monkeypatch.setenv("CORTEXRNN_HOME", str(tmp_path / "h"))
    reset_settings_cache()
    try:
        assert local_token_file() == local_token_path() == tmp_path / "h" / "local_token"
        monkeypatch.delenv("CORTEXRNN_HOME")
        monkeypatch.setenv("HOME", str(tmp_path / "user"))
        reset_settings_cache()
        assert (
            local_token_file()
            == local_token_path()
            == tmp_path / "user" / ".cortexrnn" / "local_token"
        )
    finally:
        reset_settings_cache()
    assert LOCAL_ADMIN == embedded.LOCAL_ADMIN == "local"
