"""What a worker does with one pack id: claim it (worker/claim.py), train it with the shared
pack code (worker/train.py, progress and heartbeats in worker/progress.py), and write the
results back (worker/persist.py). Every run and pack state change is in shared/lifecycle.py.

Database writes that fail because the database is briefly away are retried
(`shared.db.transact`); a run that cannot be computed (bad selection, diverged network) fails
with a reason a user can read, and the worker goes on serving."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.runner.pack import RunOutcome
from cortexrnn.shared import lifecycle
from cortexrnn.shared.db import transact
from cortexrnn.shared.settings import Settings, get_settings
from cortexrnn.worker import persist, train
from cortexrnn.worker.claim import claim, load_inputs, plan_pack
from cortexrnn.worker.progress import PackProgress

log = logging.getLogger("cortexrnn.worker")

PROGRESS_EVERY_S = 1.0
HEARTBEAT_EVERY_S = 3.0


def execute_pack(
    pack_id: int, worker_name: str, device: str = "cpu", settings: Settings | None = None
) -> str:
    """Train one pack end to end; returns a one-word outcome for the log."""
    settings = settings or get_settings()
    claimed = transact(claim, pack_id, worker_name)
    if claimed is None:
        log.info("pack %s: already claimed or gone", pack_id)
        return "skipped"
    if not claimed.runs:
        return "empty"
    run_ids = claimed.run_ids
    log.info(
        "pack %s: %d runs on %s, of %d experiment(s)",
        pack_id,
        len(run_ids),
        device,
        claimed.n_experiments,
    )
    try:
        plan = plan_pack(claimed)
        inputs = load_inputs(claimed, plan)
    except (DatasetError, ValueError, KeyError) as exc:
        transact(lifecycle.fail_pack, pack_id, run_ids, f"cannot prepare the pack: {exc}")
        return "failed"

    checkpoint = train.checkpoint_path(settings, pack_id, run_ids)
    progress = PackProgress(pack_id, worker_name, run_ids, plan.spec.training, PROGRESS_EVERY_S)
    try:
        result, outcomes = train.train(
            plan,
            inputs,
            progress,
            checkpoint=checkpoint,
            device=device,
            settings=settings,
            heartbeat_every_s=HEARTBEAT_EVERY_S,
        )
    except Exception as exc:  # a science failure fails the runs, not the worker
        log.exception("pack %s failed", pack_id)
        transact(
            lifecycle.fail_pack, pack_id, run_ids, f"training failed: {type(exc).__name__}: {exc}"
        )
        return "failed"

    if progress.live.moved:
        # We were taken for dead (e.g. paused past the heartbeat timeout) and the pack went to
        # another worker; it owns the results now, so nothing of ours is written.
        log.warning(
            "pack %s was requeued to another worker while this one trained; stopping", pack_id
        )
        return "superseded"
    if result is not None and result.cancelled:
        transact(
            lifecycle.cancel_pack,
            pack_id,
            run_ids,
            result.step,
            result.total_steps,
            str(checkpoint),
        )
        return "cancelled"

    ours = transact(lifecycle.members, pack_id, run_ids)
    weights = persist.save_all_weights(settings, run_ids, outcomes, ours)
    step, total = (result.step, result.total_steps) if result is not None else (0, 0)
    if not transact(
        _write_back,
        pack_id,
        worker_name,
        run_ids,
        outcomes,
        weights,
        ours,
        plan.spec.training.steps_per_epoch,
        step,
        total,
        str(checkpoint),
    ):
        log.warning(
            "pack %s was requeued to another worker before its results were written; dropped ours",
            pack_id,
        )
        return "superseded"
    log.info("pack %s done in %.1f s", pack_id, result.wall_s if result else 0.0)
    return "done"


def _write_back(
    session: Session,
    pack_id: int,
    worker: str,
    run_ids: list[int],
    outcomes: list[RunOutcome],
    weights: list[persist.SavedWeights | None],
    ours: set[int],
    steps_per_epoch: int,
    step: int,
    total: int,
    checkpoint: str,
) -> bool:
    """Results and final states in one transaction; False if the pack was requeued to another
    worker after our last heartbeat (it owns the results then)."""
    if not lifecycle.hold_pack(session, pack_id, worker):
        return False
    persist.write_results(session, pack_id, run_ids, outcomes, weights, ours, steps_per_epoch)
    lifecycle.finish_pack(session, pack_id, run_ids, outcomes, step, total, checkpoint)
    return True
