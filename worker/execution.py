"""What a worker does with one pack id: claim it (worker/claim.py), train it with the shared
pack code (worker/train.py, progress and heartbeats in worker/progress.py), and write the
results back (worker/persist.py). Every run and pack state change is in shared/lifecycle.py.

Database writes that fail because the database is briefly away are retried
(`shared.db.transact`); a run that cannot be computed (bad selection, diverged network) fails
with a reason a user can read, and the worker goes on serving.

A worker on another host (worker/remote.py) needs no shared folder: it resumes from the
pack's latest uploaded checkpoint, uploads it while training and when it stops early, takes
datasets from its cache, and uploads the weights before the results name them. Asked to
drain (SIGTERM), it stops the pack at the next step and gives it back to the queue.

With `pack_isolation` (CORTEXRNN_PACK_ISOLATION=1) a worker runs each pack in a process of its
own (worker/pack_process.py), which limits its memory once the pack is known
(`limit_memory`); a pack that runs out of memory fails with a reason that says what to reduce."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.runner.pack import RunOutcome
from cortexrnn.shared import lifecycle
from cortexrnn.shared.db import transact
from cortexrnn.shared.models import Pack, Run, RunState, utcnow
from cortexrnn.shared.remote_settings import RemoteSettings, get_remote_settings
from cortexrnn.shared.settings import Settings, get_settings
from cortexrnn.worker import drain, pack_memory, persist, remote, train
from cortexrnn.worker.artifact_client import ApiTransport, TransportError
from cortexrnn.worker.checkpoint_sync import CheckpointSync, fetch_checkpoint
from cortexrnn.worker.claim import ClaimedPack, PackPlan, claim, plan_pack
from cortexrnn.worker.dispatch import send_pack
from cortexrnn.worker.progress import PackProgress
from cortexrnn.worker.runtime import Heartbeat

log = logging.getLogger("cortexrnn.worker")

PROGRESS_EVERY_S = 1.0
HEARTBEAT_EVERY_S = 3.0


def execute_pack(
    pack_id: int,
    worker_name: str,
    device: str = "cpu",
    settings: Settings | None = None,
    remote_settings: RemoteSettings | None = None,
    *,
    limit_memory: bool = False,
) -> str:
    """Train one pack end to end; returns a one-word outcome for the log. `limit_memory`: only
    in a pack's own process (worker/pack_process.py), never in a worker's or a test's."""
    settings = settings or get_settings()
    remote_settings = remote_settings or get_remote_settings()
    if drain.requested():
        # Taken just as the worker drains: back to the broker for another worker (the pack is
        # still queued in the database, so a duplicate message is harmless).
        queue = transact(_queue_of, pack_id)
        if queue is not None:
            send_pack(pack_id, queue)
        return "draining"
    transport = remote.transport(settings, remote_settings, worker_name)
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
        if limit_memory:
            _limit_memory(claimed, plan, device, settings)
        inputs = remote.load_inputs(claimed, plan, transport, settings, remote_settings)
    except (DatasetError, ValueError, KeyError) as exc:
        transact(lifecycle.fail_pack, pack_id, run_ids, f"cannot prepare the pack: {exc}")
        return "failed"
    except (MemoryError, RuntimeError) as exc:
        if not pack_memory.is_out_of_memory(exc):
            raise
        return _out_of_memory(pack_id, run_ids, exc)

    checkpoint = train.checkpoint_path(settings, pack_id, run_ids)
    progress = PackProgress(pack_id, worker_name, run_ids, plan.spec.training, PROGRESS_EVERY_S)
    # One heartbeat from the claim to the results: fetching the checkpoint, measuring and the
    # uploads take time too, and a gap there would look like a dead worker.
    with Heartbeat(progress.beat, HEARTBEAT_EVERY_S):
        sync = _checkpoint_sync(transport, pack_id, checkpoint, remote_settings)
        try:
            result, outcomes = train.train(
                plan,
                inputs,
                progress,
                checkpoint=checkpoint,
                device=device,
                settings=settings,
                sync=sync,
            )
        except train.Drained:
            return _give_back(pack_id, worker_name, _flush(sync))
        except Exception as exc:  # a science failure fails the runs, not the worker
            if pack_memory.is_out_of_memory(exc):
                return _out_of_memory(pack_id, run_ids, exc)
            log.exception("pack %s failed", pack_id)
            transact(
                lifecycle.fail_pack,
                pack_id,
                run_ids,
                f"training failed: {type(exc).__name__}: {exc}",
            )
            return "failed"

        if progress.live.moved:
            # We were taken for dead (e.g. paused past the heartbeat timeout) and the pack went
            # to another worker; it owns the results now, so nothing of ours is written.
            log.warning(
                "pack %s was requeued to another worker while this one trained; stopping", pack_id
            )
            return "superseded"
        if result is not None and result.cancelled:
            _flush(sync)  # a retry, or another host, resumes from it
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
        weights = persist.save_all_weights(settings, run_ids, outcomes, ours, transport, pack_id)
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
                "pack %s was requeued to another worker before its results were written; "
                "dropped ours",
                pack_id,
            )
            return "superseded"
    log.info("pack %s done in %.1f s", pack_id, result.wall_s if result else 0.0)
    return "done"


def _limit_memory(claimed: ClaimedPack, plan: PackPlan, device: str, settings: Settings) -> None:
    """The host memory limit of the pack's process (CUDA packs: none, worker/pack_memory.py)."""
    swept = any(r.point is not None and r.point.sampling for r in plan.runs)
    n_units = (
        len(claimed.selection)
        if claimed.selection is not None and not swept
        else plan.spec.sampling.n_neurons
    )
    conditions = [r.condition for r in plan.runs]
    limit = pack_memory.pack_limit(plan.spec, conditions, n_units, settings)
    if limit is not None and not device.startswith("cuda"):
        pack_memory.enforce(limit)


def _out_of_memory(pack_id: int, run_ids: list[int], exc: BaseException) -> str:
    pack_memory.lift()  # room to write the failure down
    reason = pack_memory.exceeded_reason(pack_memory.current(), exc)
    log.error("pack %s: %s", pack_id, reason)
    transact(lifecycle.fail_pack, pack_id, run_ids, reason)
    return "failed"


def _checkpoint_sync(
    transport: ApiTransport | None, pack_id: int, checkpoint: Path, remote: RemoteSettings
) -> CheckpointSync | None:
    """On a worker that sends its artifacts to the API: the pack's latest uploaded checkpoint
    put in place (unless this host's own is as recent), and its uploader."""
    if transport is None:
        return None
    fetched = fetch_checkpoint(transport, pack_id, checkpoint)
    sync = CheckpointSync(transport, pack_id, checkpoint, remote.checkpoint_upload_every_s)
    if fetched is not None:
        sync.mark_current()  # the API has this one: no need to send it back
    return sync


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


def _flush(sync: CheckpointSync | None) -> int | None:
    """Upload the newest checkpoint now; its step, if one was sent. An API that stays away
    costs only the steps since the last upload: not worth failing the pack for."""
    if sync is None:
        return None
    try:
        return sync.flush()
    except TransportError as exc:
        log.warning("pack %s: the last checkpoint could not be uploaded: %s", sync.pack_id, exc)
        return None


def _give_back(pack_id: int, worker: str, uploaded_step: int | None) -> str:
    """Drained mid-pack: queue the pack again at once (its checkpoint is uploaded, or on this
    host) instead of leaving it to the reconciler's heartbeat timeout."""
    queue = transact(_requeue, pack_id, worker)
    if queue is None:
        return "superseded"
    send_pack(pack_id, queue)
    where = f"checkpoint at step {uploaded_step} uploaded" if uploaded_step else "checkpoint here"
    log.info("pack %s: given back to queue %s (draining; %s)", pack_id, queue, where)
    return "drained"


def _queue_of(session: Session, pack_id: int) -> str | None:
    pack = session.get(Pack, pack_id)
    return pack.queue if pack is not None and pack.state == RunState.QUEUED.value else None


def _requeue(session: Session, pack_id: int, worker: str) -> str | None:
    if not lifecycle.hold_pack(session, pack_id, worker):
        return None
    pack = session.get_one(Pack, pack_id)
    live = [
        r
        for r in session.scalars(select(Run).where(Run.pack_id == pack_id))
        if not RunState(r.state).is_terminal
    ]
    # The reconciler's requeue (same runs, cancellations honoured), but a drain is not a
    # failure: it uses up no attempt, so a pack drained by many pilots is never lost.
    lifecycle.requeue_or_lose(pack, live, 1, utcnow(), counts_attempt=False)
    return pack.queue
