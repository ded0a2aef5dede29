"""A client whose reader closes the pipe (`cortexrnn-client list | head -1`) stops quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.client.conftest import write_spec
from tests.client.test_client_api import closed_port

CLIENT = Path(sys.executable).with_name("cortexrnn-client")


def test_a_closed_output_pipe_is_exit_141_without_a_report(tmp_path) -> None:
    spec = write_spec(tmp_path / "s.yaml")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the client writes its first line
    try:
        done = subprocess.run(
            [
                str(CLIENT),
                "--url",
                f"http://127.0.0.1:{closed_port()}",
                "submit",
                str(spec),
                "--dry-run",
            ],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env={**os.environ, "CORTEXRNN_HOME": str(tmp_path / "home")},
        )
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert "unexpected" not in done.stderr and "Traceback" not in done.stderr
    assert "report it" not in done.stderr
