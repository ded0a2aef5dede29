"""A training pack's live state in the database: progress and held-out accuracy while it
trains, the heartbeat thread's beats, and the flags the trainer reads between steps (every
run asked to cancel; the pack was requeued to another worker because we looked dead)."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from sqlalchemy.orm import Session

from cortexrnn.services.training.config import TrainingConfig
from cortexrnn.shared import lifecycle
from cortexrnn.shared.db import session_scope, transact
from cortexrnn.shared.models import MetricPoint, utcnow
from cortexrnn.worker.persist import num

log = logging.getLogger("cortexrnn.worker")


class LiveState:
    """Progress and cancel flags shared between the training loop and the heartbeat thread."""

    def __init__(self, run_ids: list[int], total: int) -> None:
        self.run_ids = run_ids
        self.total = total
        self.step = 0
        self.rows: list[dict[str, object]] = []
        self.cancel = False
        self.moved = False  # the pack was requeued to another worker (we looked dead): stop
        self.lock = threading.Lock()


class PackProgress:
    """The trainer's callbacks (`on_step`, `should_cancel`) and the heartbeat (`beat`) of one
    pack held by `worker`; progress is written at most every `every_s` seconds, and at every
    evaluation and the last step."""

    def __init__(
        self,
        pack_id: int,
        worker: str,
        run_ids: list[int],
        training: TrainingConfig,
        every_s: float,
    ) -> None:
        self.pack_id = pack_id
        self.worker = worker
        self.live = LiveState(run_ids, training.total_steps)
        self.eval_every = training.eval_every_steps or training.steps_per_epoch
        self.steps_per_epoch = training.steps_per_epoch
        self.every_s = every_s
        self._last_write = 0.0
        self._first_step = True

    def should_cancel(self) -> bool:
        return self.live.cancel

    def on_step(self, step: int, total: int, rows: list[dict[str, object]]) -> None:
        if self._first_step:
            self._first_step = False
            if step > 1:  # the trainer restored a checkpoint: operators see that work was kept
                log.info(
                    "pack %s: resumed from its checkpoint at step %d of %d",
                    self.pack_id,
                    step - 1,
                    total,
                )
        with self.live.lock:
            self.live.step, self.live.rows = step, rows
        now = time.monotonic()
        if now - self._last_write >= self.every_s or step % self.eval_every == 0 or step == total:
            self._last_write = now
            self.write()

    def write(self) -> None:
        with self.live.lock:
            step, rows = self.live.step, list(self.live.rows)
        transact(self._write, step, rows)

    def beat(self) -> None:
        """Heartbeat of the pack and its runs (the heartbeat thread retries a failed beat)."""
        with session_scope() as s:
            now = utcnow()
            if self._touch(s, now):
                lifecycle.heartbeat_runs(s, self.pack_id, self.live.run_ids, self.worker, now)

    def _touch(self, session: Session, now: datetime) -> bool:
        """Heartbeat the pack if it is still ours; read the cancel flags. False: it moved on."""
        if not lifecycle.heartbeat_pack(session, self.pack_id, self.worker, now):
            self.live.moved = self.live.cancel = True
            return False
        self.live.cancel = lifecycle.cancel_requested(session, self.pack_id, self.live.run_ids)
        return True

    def _write(self, session: Session, step: int, rows: list[dict[str, object]]) -> None:
        now = utcnow()
        if not self._touch(session, now):
            return
        run_ids = self.live.run_ids
        # Runs whose prior could not be built are not in the trainer's rows.
        per_run = rows if len(rows) == len(run_ids) else [{}] * len(run_ids)
        for rid, row in zip(run_ids, per_run, strict=True):
            still_ours = lifecycle.record_progress(
                session, self.pack_id, rid, step, self.live.total, now
            )
            if (
                still_ours
                and step
                and step % self.eval_every == 0
                and row.get("test_acc") is not None
            ):
                session.add(
                    MetricPoint(
                        run_id=rid,
                        step=step,
                        epoch=step / self.steps_per_epoch,
                        name="eval_test_acc",
                        value=num(row["test_acc"]),
                    )
                )
