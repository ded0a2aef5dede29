"""A real single-node Slurm cluster for the tests: munged, slurmctld and slurmd started as
root from Debian's slurm-wlm and munge, on this host, with everything (key, socket, state,
spool, logs, ports) in a private folder so that nothing of the machine's own setup is used
or changed. CPUs only: no GRES, `proctrack/linuxproc`, `select/cons_tres`."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scancel")


class ClusterUnavailable(RuntimeError):
    """Why a Slurm cluster cannot be started here (the test skips, or fails in CI)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SlurmCluster:
    root: Path
    node: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """What a process needs to use this cluster's commands."""
        return {"SLURM_CONF": str(self.conf)}

    def start(self, timeout: float = 60.0) -> None:
        missing = [b for b in BINARIES if shutil.which(b) is None]
        if missing:
            raise ClusterUnavailable(
                f"Slurm/munge not installed ({', '.join(missing)} missing): "
                "apt-get install slurm-wlm munge"
            )
        if os.geteuid() != 0:
            raise ClusterUnavailable("starting slurmd/slurmctld/munged needs root")
        for d in ("state", "spool", "log", "munge"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        (self.root / "munge").chmod(0o700)
        sock = self.root / "munge" / "munge.socket"
        self._spawn(
            [
                "munged",
                "--foreground",
                "--force",
                f"--key-file={key}",
                f"--socket={sock}",
                f"--pid-file={self.root / 'munge' / 'munged.pid'}",
                f"--log-file={self.root / 'log' / 'munged.log'}",
                f"--seed-file={self.root / 'munge' / 'munged.seed'}",
            ],
            "munged",
        )
        self._wait(lambda: sock.exists(), 20, "munged's socket")
        cpus = os.cpu_count() or 1
        mem_mb = max(256, (os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) // 2**20 // 2)
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=cortexrnn-test",
                    f"SlurmctldHost={self.node}(127.0.0.1)",
                    f"SlurmctldPort={_free_port()}",
                    f"SlurmdPort={_free_port()}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    f"AuthInfo=socket={sock}",
                    "CredType=cred/munge",
                    f"StateSaveLocation={self.root / 'state'}",
                    f"SlurmdSpoolDir={self.root / 'spool'}",
                    f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
                    f"SlurmdPidFile={self.root / 'slurmd.pid'}",
                    f"SlurmctldLogFile={self.root / 'log' / 'slurmctld.log'}",
                    f"SlurmdLogFile={self.root / 'log' / 'slurmd.log'}",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "AccountingStorageType=accounting_storage/none",
                    "JobCompType=jobcomp/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core",
                    "SchedulerType=sched/backfill",
                    "MpiDefault=none",
                    "ReturnToService=2",
                    "KillWait=10",
                    "MinJobAge=300",
                    "SlurmctldTimeout=30",
                    "SlurmdTimeout=60",
                    "InactiveLimit=0",
                    f"NodeName={self.node} NodeAddr=127.0.0.1 CPUs={cpus} "
                    f"RealMemory={mem_mb} State=UNKNOWN",
                    f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
        env = {**os.environ, **self.env}
        self._spawn(["slurmctld", "-D", "-i", "-f", str(self.conf)], "slurmctld", env)
        self._spawn(["slurmd", "-D", "-N", self.node, "-f", str(self.conf)], "slurmd", env)
        self._wait(self._node_ready, timeout, "the Slurm node to be idle")

    def _spawn(self, cmd: list[str], name: str, env: dict[str, str] | None = None) -> None:
        with open(self.root / "log" / f"{name}.out", "ab") as out:
            self.procs.append(
                subprocess.Popen(
                    cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
                )
            )

    def _node_ready(self) -> bool:
        for p in self.procs:
            if p.poll() is not None:
                raise ClusterUnavailable(f"{p.args[0]} exited with {p.returncode}: {self.logs()}")
        r = self.run("sinfo", "-h", "-N", "-o", "%t", check=False)
        return r.returncode == 0 and r.stdout.strip() in ("idle", "mix", "alloc")

    def _wait(self, ready, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.5)
        raise ClusterUnavailable(f"timed out waiting for {what}: {self.logs()}")

    def run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(cmd),
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    def job_state(self, job_id: str) -> str:
        """The job's state (PENDING, RUNNING, COMPLETED, ...; '' once forgotten)."""
        r = self.run("squeue", "-h", "-j", job_id, "-t", "all", "-o", "%T", check=False)
        return r.stdout.strip().splitlines()[0] if r.stdout.strip() else ""

    def logs(self, tail: int = 1500) -> str:
        parts = []
        for log in sorted((self.root / "log").glob("*")):
            parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        self.procs.clear()


if __name__ == "__main__":  # a manual check: start, show the node, stop
    import tempfile

    c = SlurmCluster(Path(tempfile.mkdtemp(prefix="slurm-")))
    try:
        c.start()
        print(c.run("sinfo").stdout)
        print(c.run("sbatch", "--parsable", "--wrap", "hostname; sleep 1").stdout)
        time.sleep(5)
        print(c.run("squeue", "-t", "all").stdout)
    finally:
        c.stop()
        print(c.logs())
