"""Scheduler tick: how long one tick takes to fill the free slots as the backlog grows.

    python benchmarks/scheduler.py [--sizes 2000,20000,100000] [--users 20] [--slots 8]
                                        [--ticks 5] [--url postgresql+psycopg://...]

For each backlog size it creates a throwaway Postgres database (from --url, default
127.0.0.1:5432, user postgres, trust auth), migrates it, bulk-inserts the pending runs of
`--users` users (each with several experiments, some of higher priority, pack keys shared
across users so that packs fill across experiments) and times `--ticks` ticks that each fill
`--slots` free slots; the packs of a tick finish before the next one, so every tick fills all
slots. The sizes are measured in turn, tick by tick, and it prints the median tick time per
size and its ratio to the first size: absolute times move with the machine and its load, the
ratio says whether a tick's cost grows with the backlog.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import create_engine, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from cortexrnn.shared.db import make_engine
from cortexrnn.shared.migrate import upgrade
from cortexrnn.shared.models import Experiment, Pack, Run, RunState, User, WorkerInfo, utcnow
from cortexrnn.worker.scheduler import schedule_once

EXPERIMENTS_PER_USER = 5
PACK_KEYS = 10
SETTINGS: dict[str, Any] = dict(
    queue="cpu", max_pack_size=8, heartbeat_timeout_s=60, dispatch_timeout_s=300, max_attempts=3
)


def fill(session: Session, n_runs: int, n_users: int) -> None:
    """`n_runs` pending runs over `n_users` users, inserted in bulk."""
    t0 = utcnow() - timedelta(days=1)
    users = [{"name": f"user{u}"} for u in range(n_users)]
    user_ids = list(session.scalars(insert(User).returning(User.id), users))
    experiments = [
        {
            "owner_id": uid,
            "spec": {},
            "spec_hash": f"h{u}-{e}",
            "priority": 1 if (u + e) % 7 == 0 else 0,
            "created_at": t0 + timedelta(seconds=u * EXPERIMENTS_PER_USER + e),
        }
        for u, uid in enumerate(user_ids)
        for e in range(EXPERIMENTS_PER_USER)
    ]
    exp_ids = list(session.scalars(insert(Experiment).returning(Experiment.id), experiments))
    per_exp = n_runs // len(exp_ids)
    batch: list[dict[str, Any]] = []
    for i, (exp, eid) in enumerate(zip(experiments, exp_ids, strict=True)):
        for seed in range(per_exp):
            batch.append(
                {
                    "experiment_id": eid,
                    "owner_id": exp["owner_id"],
                    "condition": f"c{seed % 11}",
                    "seed": seed,
                    "task": "go_no_go",
                    "run_hash": f"{eid}-{seed}",
                    "pack_key": f"key{i % PACK_KEYS}",
                    "priority": exp["priority"],
                    "created_at": exp["created_at"],
                    # what a submission records for routing (shared/routing.py)
                    "queue": "cpu",
                    "memory_mb": 900.0,
                    "network_mb": 60.0,
                }
            )
            if len(batch) == 10_000:
                session.execute(insert(Run), batch)
                batch.clear()
    if batch:
        session.execute(insert(Run), batch)
    session.commit()


def finish(session: Session, pack_ids: list[int]) -> None:
    """The tick's packs trained and succeeded: their slots are free for the next tick."""
    session.execute(
        update(Run).where(Run.pack_id.in_(pack_ids)).values(state=RunState.SUCCEEDED.value)
    )
    session.execute(
        update(Pack).where(Pack.id.in_(pack_ids)).values(state=RunState.SUCCEEDED.value)
    )
    session.commit()


class Backlog:
    """A throwaway database holding `n_runs` pending runs."""

    def __init__(self, admin_url: str, n_runs: int, n_users: int) -> None:
        self.name = f"cortexrnn_bench_{uuid.uuid4().hex[:8]}"
        self.admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        url = make_url(admin_url).set(database=self.name).render_as_string(hide_password=False)
        self.engine = make_engine(url)
        upgrade(url=url)
        with Session(self.engine) as s:
            fill(s, n_runs, n_users)
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE runs"))  # what autovacuum does after a bulk load
        self.session = Session(self.engine, expire_on_commit=False)

    def tick(self, slots: int) -> float:
        """Seconds for one tick filling `slots` slots of live workers (the routing path: the
        queues and their memory from the workers' rows); its packs then finish."""
        self.session.merge(
            WorkerInfo(
                id=1, name="bench", hostname="h", device="cpu", queues=["cpu"],
                concurrency=slots, memory_mb=16_384.0, heartbeat_at=utcnow(),
            )
        )  # fmt: skip
        self.session.commit()
        t = time.perf_counter()
        report = schedule_once(self.session, lambda pid, q: None, **SETTINGS)
        seconds = time.perf_counter() - t
        assert len(report.dispatched) == slots, report
        finish(self.session, report.dispatched)
        return seconds

    def drop(self) -> None:
        self.session.close()
        self.engine.dispose()
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="2000,20000,100000")
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--slots", type=int, default=8)
    ap.add_argument("--ticks", type=int, default=5)
    ap.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(
        f"# scheduler tick: {args.users} users, {args.slots} free slots per tick, median of "
        f"{args.ticks} ticks per size, sizes interleaved tick by tick, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    backlogs = []
    try:
        for n in sizes:
            backlogs.append(Backlog(args.url, n, args.users))
        times: list[list[float]] = [[] for _ in sizes]
        # Round by round, so that the load of other processes hits every size alike.
        for _ in range(args.ticks):
            for backlog, measured in zip(backlogs, times, strict=True):
                measured.append(backlog.tick(args.slots))
        for backlog in backlogs:
            pending = backlog.session.scalar(
                select(Run.id).where(Run.state == RunState.PENDING.value).limit(1)
            )
            assert pending is not None, "the backlog ran dry: fewer ticks or more runs"
    finally:
        for backlog in backlogs:
            backlog.drop()
    print(f"{'pending runs':>12} {'tick (ms)':>10} {'min-max (ms)':>14} {'ratio':>7}")
    base = statistics.median(times[0])
    for n, measured in zip(sizes, times, strict=True):
        med = statistics.median(measured)
        print(
            f"{n:>12,} {med * 1e3:>10.1f} {min(measured) * 1e3:>6.1f}-{max(measured) * 1e3:<7.1f} "
            f"{med / base:>6.2f}x"
        )


if __name__ == "__main__":
    main()
