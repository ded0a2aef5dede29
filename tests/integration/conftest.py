"""Live deployments in subprocesses: the embedded one (SQLite + filesystem broker, workers
started by `cortexrnn serve`) and the lab one (Postgres + Redis + a separate worker)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from cortexrnn.cli.local_server import ServerNotReady, free_port, wait_ready

BIN = Path(sys.executable).parent


@dataclass
class Deployment:
    kind: str
    url: str
    token: str
    env: dict[str, str]
    home: Path
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60
        )

    def start_worker(self, name: str) -> subprocess.Popen:
        # The child keeps its own copy of the log's descriptor; ours closes at once.
        with open(self.home / f"{name}.log", "ab") as out:
            proc = subprocess.Popen(
                [BIN / "cortexrnn", "worker", "--name", name, "--queues", "cpu", "--threads", "1"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def wait(
        self, experiment_id: int, timeout: float = 240, until=("succeeded", "failed", "cancelled")
    ) -> dict:
        deadline = time.monotonic() + timeout
        with self.client as c:
            while time.monotonic() < deadline:
                body = c.get(f"/v1/experiments/{experiment_id}").json()
                if body["status"] in until:
                    return body
                time.sleep(0.5)
        raise AssertionError(
            f"experiment {experiment_id} still {body['status']} after {timeout} s: "
            f"{body['counts']}; logs in {self.home}"
        )

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def _wait_ready(url: str, proc: subprocess.Popen, log: Path) -> None:
    try:
        wait_ready(url, proc, timeout=60, interval=0.3)
    except ServerNotReady as exc:
        raise AssertionError(f"{exc}: {log.read_text()[-3000:]}") from None


def _base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORTEXRNN_")}
    env.update(
        CORTEXRNN_HOME=str(home),
        CORTEXRNN_FINAL_NULLS="50",
        CORTEXRNN_HEARTBEAT_TIMEOUT_S="6",
        CORTEXRNN_DISPATCH_TIMEOUT_S="20",
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS="1",
    )
    return env


def start_embedded(tmp_path: Path, workers: int = 1, **settings: str) -> Deployment:
    """`settings`: extra CORTEXRNN_* variables, e.g. CORTEXRNN_MAX_PACK_SIZE="8"."""
    home = tmp_path / "home"
    env = {**_base_env(home), **settings}
    port = free_port()
    log = tmp_path / "serve.log"
    home.mkdir(parents=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                BIN / "cortexrnn",
                "serve",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--scheduler-interval",
                "0.5",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    dep = Deployment("embedded", url, "", env, home, [proc])
    try:
        _wait_ready(url, proc, log)
        deadline = time.monotonic() + 20
        while not (home / "local_token").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        dep.token = (home / "local_token").read_text().strip()
    except BaseException:
        dep.stop()
        raise
    return dep


def start_lab(tmp_path: Path, postgres_url: str, redis_url: str, workers: int = 1) -> Deployment:
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    home = tmp_path / "home"
    home.mkdir(parents=True)
    env = _base_env(home)
    env.update(
        CORTEXRNN_DATABASE_URL=postgres_url,
        CORTEXRNN_BROKER_URL=redis_url,
        CORTEXRNN_SECRET_KEY="integration-test-secret-0123456789",
    )
    subprocess.run([BIN / "cortexrnn", "db", "upgrade"], env=env, check=True, capture_output=True)
    token = subprocess.run(
        [BIN / "cortexrnn", "users", "create", "lab-admin", "--admin"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                BIN / "cortexrnn",
                "serve",
                "--port",
                str(port),
                "--workers",
                "0",
                "--scheduler-interval",
                "0.5",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    dep = Deployment("lab", url, token, env, home, [proc])
    try:
        _wait_ready(url, proc, log)
        for i in range(workers):
            dep.start_worker(f"lab-worker-{i}")
    except BaseException:
        dep.stop()
        raise
    return dep


@pytest.fixture(
    params=["embedded", pytest.param("lab", marks=[pytest.mark.postgres, pytest.mark.redis])]
)
def deployment(request, tmp_path):
    if request.param == "embedded":
        dep = start_embedded(tmp_path)
    else:
        dep = start_lab(
            tmp_path, request.getfixturevalue("postgres_url"), request.getfixturevalue("redis_url")
        )
    yield dep
    dep.stop()


def tiny_spec(**overrides) -> dict:
    spec = {
        "name": "integration",
        "sampling": {"strategy": "random", "n_neurons": 24, "seed": 1},
        "tasks": ["go_no_go"],
        "training": {"epochs": 2, "train_trials": 128, "test_trials": 64, "batch_size": 32},
        "seeds": 2,
        "conditions": {
            "W": {"init": "orthogonal", "lam": 0.0},
            "W*D*C": {"init": "functional", "space": "real", "communicability": "direct"},
        },
    }
    spec.update(overrides)
    return spec
