"""The distribution installs as users will get it: a built wheel in a clean virtual
environment imports all packages from any folder, and both console scripts answer."""

from __future__ import annotations

import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import build_wheel, clean_venv

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ["wire", "api", "worker", "services", "shared", "client", "cli", "migrations"]


def test_console_scripts_answer_help() -> None:
    bindir = Path(sys.executable).parent
    for script in ("cortexrnn", "cortexrnn-client"):
        out = subprocess.run(
            [bindir / script, "--help"], capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr
        assert "Usage" in out.stdout


@pytest.mark.slow
def test_wheel_in_a_clean_venv_imports_everything(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
    venv = tmp_path / "venv"
    py = clean_venv(venv)
    subprocess.run(
        [py, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True, timeout=300
    )
    # Dependencies come from this environment's site-packages as a plain path entry, so the
    # editable install of the checkout (a .pth hook there) is not seen by the clean venv.
    site = Path(
        subprocess.check_output(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    code = "import cortexrnn.{}; ".format("; import cortexrnn.".join(PACKAGES)) + (
        "import cortexrnn.shared, pathlib; print(pathlib.Path(cortexrnn.shared.__file__).resolve())"
    )
    out = subprocess.run([py, "-c", code], cwd=outside, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert str(venv) in out.stdout and str(REPO) not in out.stdout
    for script in ("cortexrnn", "cortexrnn-client"):
        res = subprocess.run(
            [venv / "bin" / script, "--help"],
            cwd=outside,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert res.returncode == 0, res.stderr
    # The migrations ship inside the wheel: an installed server can create its schema.
    env = {"CORTEXRNN_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"}
    res = subprocess.run(
        [venv / "bin" / "cortexrnn", "db", "upgrade"],
        cwd=outside,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    revisions = re.findall(
        r'^revision: str = "([^"]+)"',
        "".join(p.read_text() for p in (REPO / "migrations" / "versions").glob("0*.py")),
        flags=re.M,
    )
    assert f"revision {max(revisions)}" in res.stdout, res.stdout  # the newest one, from the wheel
