"""A scientist's install: the wheel with the `client` extra, from PyPI, in a clean virtual
environment, against a real server.

The wheel is built from the checkout and installed as `pip install '<wheel>[client]'` (its
dependencies from the package index; pip's cache is used). The venv must not hold torch,
numpy, fastapi, sqlalchemy or celery; its size is printed (run with -s to see it). Its
`cortexrnn-client` then drives `cortexrnn serve` (started from the test environment, with a
temporary CORTEXRNN_HOME whose local token the client finds by itself): server-side spec
validation, a submission watched until it succeeds, list, status and results.
"""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

import pytest

from tests.client.test_live_serve import SPEC, live_server  # noqa: F401 - the fixture
from tests.conftest import build_wheel, clean_venv

REPO = Path(__file__).resolve().parents[2]
ABSENT = (
    "torch",
    "numpy",
    "scipy",
    "pandas",
    "fastapi",
    "sqlalchemy",
    "celery",
    "pydantic_settings",
    "uvicorn",
)
PRESENT = ("httpx", "pydantic", "typer", "rich", "yaml")
# Only the standard tools of a fresh venv, not part of what the client brought.
VENV_TOOLS = ("pip", "setuptools", "pkg_resources", "_distutils_hack", "distutils-precedence.pth")


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _index_reachable() -> str | None:
    """None when the package index answers, else why not."""
    import httpx

    try:
        httpx.get("https://pypi.org/simple/httpx/", timeout=15).raise_for_status()
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("client-install")
    wheel = build_wheel(tmp / "dist")
    venv = tmp / "venv"
    py = clean_venv(venv)
    installed = subprocess.run(
        [py, "-m", "pip", "install", "-q", f"{wheel}[client]"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp,
    )
    if installed.returncode != 0:
        why = _index_reachable()
        if why is not None:
            pytest.skip(
                f"the package index (PyPI) is unreachable, so the client's dependencies cannot be "
                f"installed: {why}"
            )
        pytest.fail(
            f"pip install '{wheel.name}[client]' failed:\n"
            f"{installed.stdout[-3000:]}{installed.stderr[-3000:]}"
        )
    return venv


def _clean_env(env: dict[str, str]) -> dict[str, str]:
    """The server's environment for the client (home, port), minus anything that would let
    the clean venv see the checkout or the test environment."""
    out = {k: v for k, v in env.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    out["PATH"] = "/usr/bin:/bin"
    return out


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_client_only_install_drives_a_real_server(client_venv, live_server, tmp_path) -> None:  # noqa: F811
    venv = client_venv
    py = venv / "bin" / "python"
    env = _clean_env(live_server)

    # What is (not) there.
    probe = (
        "import importlib.util as u; "
        f"print(','.join(m for m in {ABSENT + PRESENT!r} if u.find_spec(m) is not None))"
    )
    found = subprocess.run(
        [py, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    ).stdout.strip()
    found_set = set(found.split(",")) - {""}
    assert found_set & set(ABSENT) == set(), (
        f"a client-only install must not bring {sorted(found_set & set(ABSENT))}"
    )
    assert set(PRESENT) <= found_set
    site = Path(
        subprocess.check_output(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    total = _size(venv)
    packages = sum(_size(p) for p in site.iterdir() if not p.name.startswith(VENV_TOOLS))
    print(
        f"\nclient-only install ('cortexrnn[client]'): venv {total / 1e6:.1f} MB in all, "
        f"{packages / 1e6:.1f} MB of installed packages "
        "(cortexrnn and its dependencies, without pip)"
    )

    def client(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [venv / "bin" / "cortexrnn-client", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=tmp_path,
        )

    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC)
    port = env["CORTEXRNN_API_PORT"]

    config = client("config")
    assert config.returncode == 0 and "specs: validated by the server" in config.stdout, (
        config.stderr
    )
    assert "local_token" in config.stdout  # found the embedded server's token by itself

    checked = client("spec", "validate", str(spec))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert (
        f"{spec}: valid; 2 conditions x 2 seeds x 1 tasks = 4 runs "
        f"(checked by the server at http://127.0.0.1:{port})"
    ) in checked.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC.replace("seeds: 2", "seeds: 0").replace("lam: 0.0", "lam: -1"))
    refused = client("spec", "validate", str(bad))
    assert refused.returncode == 2 and f"error: {bad}: invalid experiment spec" in refused.stderr, (
        refused.stderr
    )
    assert "  seeds:" in refused.stderr and "  conditions.W*.lam:" in refused.stderr
    dry = client("submit", str(spec), "--seeds", "3", "--dry-run")
    assert dry.returncode == 0 and "2 conditions x 3 seeds x 1 tasks = 6 runs" in dry.stdout, (
        dry.stderr
    )

    done = client("submit", str(spec), "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        "submitted experiment 1 (live): 4 runs" in done.stdout
        and "experiment 1 succeeded: 4 runs" in done.stdout
    )
    assert "Traceback" not in done.stderr

    listed = client("list")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if "live" in line)
    assert "succeeded" in row and "local" in row and "100%" in row
    status = client("status", "1")
    assert status.returncode == 0 and "succeeded: 4 of 4 runs succeeded (100 %)" in status.stdout, (
        status.stderr
    )

    results = client("results", "1", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(results.stdout)))
    assert len(rows) == 4 and {r["state"] for r in rows} == {"succeeded"}
    assert all(0.0 <= float(r["test_acc"]) <= 1.0 for r in rows)

    # The Python API: the same answers; a DataFrame says which extra it needs.
    code = (
        "from cortexrnn.client import Client\n"
        "from cortexrnn.client.errors import UsageError\n"
        "exp = Client().experiment(1)\n"
        "print(exp.status().status, len(exp.runs()))\n"
        "try:\n    exp.summary()\nexcept UsageError as e:\n    print(e.message)\n"
    )
    api = subprocess.run(
        [py, "-c", code], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert api.returncode == 0, api.stderr
    assert api.stdout.startswith("succeeded 4") and "pip install 'cortexrnn[science]'" in api.stdout

    # The server's command is not for this install, and says so.
    server_cli = subprocess.run(
        [venv / "bin" / "cortexrnn", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert server_cli.returncode == 2 and "Traceback" not in server_cli.stderr, server_cli.stderr
    assert "pip install 'cortexrnn[server]'" in server_cli.stderr
    where = subprocess.run(
        [py, "-c", "import cortexrnn.client; print(cortexrnn.client.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    ).stdout
    assert str(venv) in where and str(REPO) not in where  # the installed copy, not the checkout
