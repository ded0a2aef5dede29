"""What a worker does with one pack id: claim it, train it with the shared pack code, and
write everything back to the database and the artifact store.

Database writes that fail because the database is briefly away are retried; a run that
cannot be computed (bad selection, diverged network) fails with a reason a user can read,
and the worker goes on serving."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import delete, select, update
from sqlalchemy.exc import OperationalError

from cortexrnn.shared.db import session_scope
from cortexrnn.shared.experiments import refresh_experiment_status
from cortexrnn.shared.models import (
    Artifact,
    Experiment,
    MetricPoint,
    Pack,
    Run,
    RunState,
    RunSummary,
    utcnow,
)
from cortexrnn.shared.settings import Settings, get_settings
from cortexrnn.worker.datasets import load_connectome
from cortexrnn.worker.runtime import Heartbeat
from cortexrnn.worker.scheduler import claim_pack

log = logging.getLogger("cortexrnn.worker")
T = TypeVar("T")

PROGRESS_EVERY_S = 1.0
HEARTBEAT_EVERY_S = 3.0
SUMMARY_FIELDS = ("diverged_step", "steps_to_criterion", "steps_trained", "train_loss", "train_acc", "test_loss",
                  "test_acc", "accuracy", "lam_effective", "wall_s")


def with_db_retry(fn: Callable[[], T], *, attempts: int = 8, first_wait: float = 0.5) -> T:
    """Run a database transaction, retrying while the database is unreachable."""
    wait = first_wait
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except OperationalError:
            if attempt == attempts:
                raise
            log.warning("database unavailable (attempt %d/%d); retrying in %.1f s", attempt, attempts, wait)
            time.sleep(wait)
            wait = min(wait * 2, 10.0)
    raise AssertionError("unreachable")


def _fail_runs(run_ids: list[int], pack_id: int, message: str) -> None:
    def tx() -> None:
        with session_scope() as s:
            for run in s.scalars(select(Run).where(Run.id.in_(run_ids), Run.pack_id == pack_id)):
                if run.state == RunState.RUNNING.value:
                    run.transition(RunState.FAILED)
                    run.error = message
            s.get(Pack, pack_id).state = RunState.FAILED.value
            _refresh(s, run_ids)

    with_db_retry(tx)


def _refresh(session, run_ids: list[int]) -> None:  # noqa: ANN001
    for eid in set(session.scalars(select(Run.experiment_id).where(Run.id.in_(run_ids)))):
        refresh_experiment_status(session, session.get(Experiment, eid))


class _LiveState:
    """Progress and cancel flags shared between the training loop and the heartbeat thread."""

    def __init__(self, run_ids: list[int], total: int) -> None:
        self.run_ids = run_ids
        self.total = total
        self.step = 0
        self.rows: list[dict[str, object]] = []
        self.cancel = False
        self.moved = False  # the pack was requeued to another worker (we looked dead): stop
        self.lock = threading.Lock()


def execute_pack(pack_id: int, worker_name: str, device: str = "cpu", settings: Settings | None = None) -> str:
    """Train one pack end to end; returns a one-word outcome for the log."""
    from cortexrnn.services.connectome.errors import DatasetError
    from cortexrnn.services.runner.pack import prepare_inputs, train_pack
    from cortexrnn.services.training.results import TrainingCallbacks
    from cortexrnn.shared.datasets_registry import get_dataset_by_name, get_store
    from cortexrnn.services.spec import ExperimentSpec

    settings = settings or get_settings()

    def claim() -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]], str | None] | None:
        with session_scope() as s:
            runs = claim_pack(s, pack_id, worker_name)
            if runs is None:
                return None
            if not runs:
                pack = s.get(Pack, pack_id)
                pack.state = RunState.CANCELLED.value
                return [], {}, None
            # A pack may hold runs of several experiments; they share the pack key (dataset,
            # sampling, task, model, training), so any one of them names the dataset.
            specs = {eid: s.get(Experiment, eid).spec for eid in sorted({r.experiment_id for r in runs})}
            dataset = get_dataset_by_name(s, specs[runs[0].experiment_id].get("dataset", ""))
            rows = [dict(id=r.id, experiment_id=r.experiment_id, condition=r.condition, seed=r.seed, task=r.task,
                         run_hash=r.run_hash) for r in runs]
            return rows, specs, dataset.content_sha256 if dataset else None

    claimed = with_db_retry(claim)
    if claimed is None:
        log.info("pack %s: already claimed or gone", pack_id)
        return "skipped"
    rows, spec_jsons, dataset_sha = claimed
    if not rows:
        return "empty"
    run_ids = [r["id"] for r in rows]
    # A run cancelled out of a pack it shared with other experiments is released (pack_id
    # cleared, maybe training in another pack now): nothing of this pack is written for it.
    in_pack = (Run.id.in_(run_ids), Run.pack_id == pack_id)
    log.info("pack %s: %d runs on %s, of %d experiment(s)", pack_id, len(rows), device, len(spec_jsons))

    try:
        specs = {eid: ExperimentSpec.model_validate(js) for eid, js in spec_jsons.items()}
        spec = specs[rows[0]["experiment_id"]]  # the settings every run of the pack shares
        by_key = {(eid, r.condition_name, r.seed, r.task_name): r for eid, sp in specs.items() for r in sp.expand_runs()}
        run_specs = [by_key[(r["experiment_id"], r["condition"], r["seed"], r["task"])] for r in rows]
        fidelities = [specs[r["experiment_id"]].fidelity for r in rows]
        if dataset_sha is None:
            raise DatasetError(f"dataset {spec.dataset!r} is no longer registered")
        inputs = prepare_inputs(spec, load_connectome(dataset_sha))
    except (DatasetError, ValueError, KeyError) as exc:
        _fail_runs(run_ids, pack_id, f"cannot prepare the pack: {exc}")
        return "failed"

    pack_dir = Path(settings.artifacts_dir) / "packs" / str(pack_id)
    pack_dir.mkdir(parents=True, exist_ok=True)
    # Keyed by the runs it holds: a pack retried whole resumes, one retried in part starts afresh.
    checkpoint = pack_dir / f"checkpoint-{hashlib.sha256(repr(sorted(run_ids)).encode()).hexdigest()[:16]}.pt"
    live = _LiveState(run_ids, spec.training.total_steps)
    eval_every = spec.training.eval_every_steps or spec.training.steps_per_epoch
    last_write = [0.0]
    first_step = [True]

    def touch(s, now) -> bool:  # noqa: ANN001
        """Heartbeat the pack if it is still ours; read the cancel flags. False: it moved on."""
        ours = s.execute(update(Pack).where(Pack.id == pack_id, Pack.worker == worker_name,
                                            Pack.state == RunState.RUNNING.value).values(heartbeat_at=now)).rowcount
        if not ours:
            live.moved = live.cancel = True
            return False
        flags = list(s.scalars(select(Run.cancel_requested).where(*in_pack)))
        live.cancel = bool(flags) and all(flags)
        return True

    def write_progress() -> None:
        with live.lock:
            step, rows_now = live.step, list(live.rows)
        def tx() -> None:
            with session_scope() as s:
                now = utcnow()
                if not touch(s, now):
                    return
                # Runs whose prior could not be built are not in the trainer's rows.
                per_run = rows_now if len(rows_now) == len(run_ids) else [{}] * len(run_ids)
                for rid, row in zip(run_ids, per_run, strict=True):
                    still_ours = s.execute(update(Run).where(Run.id == rid, Run.pack_id == pack_id,
                                                             Run.state == RunState.RUNNING.value).values(
                        heartbeat_at=now, step=step, total_steps=live.total,
                        progress=min(step / max(live.total, 1), 0.999))).rowcount
                    if still_ours and step and step % eval_every == 0 and row.get("test_acc") is not None:
                        s.add(MetricPoint(run_id=rid, step=step, epoch=step / spec.training.steps_per_epoch,
                                          name="eval_test_acc", value=_num(row["test_acc"])))
        with_db_retry(tx)

    def progress(step: int, total: int, rows_now: list[dict[str, object]]) -> None:
        if first_step[0]:
            first_step[0] = False
            if step > 1:  # the trainer restored a checkpoint: operators see that work was kept
                log.info("pack %s: resumed from its checkpoint at step %d of %d", pack_id, step - 1, total)
        with live.lock:
            live.step, live.rows = step, rows_now
        now = time.monotonic()
        if now - last_write[0] >= PROGRESS_EVERY_S or step % eval_every == 0 or step == total:
            last_write[0] = now
            write_progress()

    def beat() -> None:
        with session_scope() as s:
            now = utcnow()
            if touch(s, now):
                s.execute(update(Run).where(*in_pack, Run.worker == worker_name).values(heartbeat_at=now))

    callbacks = TrainingCallbacks(progress=progress, should_cancel=lambda: live.cancel)
    try:
        with Heartbeat(beat, HEARTBEAT_EVERY_S):
            result, outcomes = train_pack(
                spec, inputs, run_specs, [r["run_hash"] for r in rows], device=device, callbacks=callbacks,
                checkpoint=checkpoint, cache=get_store().cached, n_nulls=settings.final_nulls,
                epoch_metrics=True, fidelities=fidelities,
            )
    except Exception as exc:  # noqa: BLE001 - a science failure fails the runs, not the worker
        log.exception("pack %s failed", pack_id)
        _fail_runs(run_ids, pack_id, f"training failed: {type(exc).__name__}: {exc}")
        return "failed"

    if live.moved:
        # We were taken for dead (e.g. paused past the heartbeat timeout) and the pack went to
        # another worker; it owns the results now, so nothing of ours is written.
        log.warning("pack %s was requeued to another worker while this one trained; stopping", pack_id)
        return "superseded"

    if result is not None and result.cancelled:
        def tx_cancel() -> None:
            with session_scope() as s:
                for run in s.scalars(select(Run).where(*in_pack)):
                    if run.state == RunState.RUNNING.value:
                        run.transition(RunState.CANCELLED)
                        run.error = f"cancelled at step {result.step} of {result.total_steps}; retry resumes it"
                        run.checkpoint_path = str(checkpoint)  # a retry sends the same pack again
                s.get(Pack, pack_id).state = RunState.CANCELLED.value
                _refresh(s, run_ids)
        with_db_retry(tx_cancel)
        return "cancelled"

    def members() -> set[int]:
        with session_scope() as s:
            return set(s.scalars(select(Run.id).where(*in_pack)))

    ours = with_db_retry(members)
    weights_paths = [_save_weights(settings, rid, o.weights) if o.error is None and rid in ours else None
                     for rid, o in zip(run_ids, outcomes, strict=True)]

    def tx_results() -> None:
        with session_scope() as s:
            pack = s.get(Pack, pack_id, with_for_update=True)
            if pack.worker != worker_name or pack.state != RunState.RUNNING.value:
                live.moved = True  # requeued to another worker after our last heartbeat
                return
            s.execute(delete(MetricPoint).where(MetricPoint.run_id.in_(ours)))
            s.execute(delete(RunSummary).where(RunSummary.run_id.in_(ours)))
            s.execute(delete(Artifact).where(Artifact.run_id.in_(ours), Artifact.kind == "weights"))
            for rid, outcome, saved in zip(run_ids, outcomes, weights_paths, strict=True):
                run = s.get(Run, rid)
                if run is None or run.pack_id != pack_id:  # released (its experiment may be gone)
                    continue
                if outcome.error is not None:
                    if run.state == RunState.RUNNING.value:
                        run.transition(RunState.FAILED)
                        run.error = outcome.error
                    continue
                s.add_all(_metric_points(rid, outcome, spec.training.steps_per_epoch))
                s.add_all(_summaries(rid, outcome))
                wpath, wsha, wsize = saved
                s.add(Artifact(run_id=rid, kind="weights", path=str(wpath), sha256=wsha, size_bytes=wsize))
                if run.state != RunState.RUNNING.value:
                    continue  # cancelled or requeued meanwhile; results are kept for the record
                run.progress, run.step, run.total_steps = 1.0, result.step, result.total_steps
                run.checkpoint_path = str(checkpoint)
                if outcome.status == "diverged":
                    run.transition(RunState.FAILED)
                    run.error = (f"diverged: the loss became NaN or infinite at step {outcome.row['diverged_step']}; "
                                 "lower training.lr or the regulariser strength")
                else:
                    run.transition(RunState.SUCCEEDED)
            s.get(Pack, pack_id).state = RunState.SUCCEEDED.value
            _refresh(s, run_ids)

    with_db_retry(tx_results)
    if live.moved:
        log.warning("pack %s was requeued to another worker before its results were written; dropped ours", pack_id)
        return "superseded"
    log.info("pack %s done in %.1f s", pack_id, result.wall_s if result else 0.0)
    return "done"


def _num(v: object) -> float | None:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def _metric_points(run_id: int, o: Any, steps_per_epoch: int) -> list[MetricPoint]:
    points = []
    for e in o.curves:
        for name in ("train_loss", "train_acc", "reg", "test_loss", "test_acc"):
            points.append(MetricPoint(run_id=run_id, step=int(e["step"]), epoch=float(e["epoch"]), name=name,
                                      value=_num(e.get(name))))
    for ev in o.evals:
        for name in ("test_loss", "test_acc"):
            points.append(MetricPoint(run_id=run_id, step=int(ev["step"]), epoch=ev["step"] / steps_per_epoch,
                                      name=f"eval_{name}", value=_num(ev.get(name))))
    for name, series in (("step_loss", o.steps["loss"]), ("step_acc", o.steps["acc"])):
        for i, v in enumerate(series):
            points.append(MetricPoint(run_id=run_id, step=i + 1, epoch=(i + 1) / steps_per_epoch, name=name,
                                      value=_num(v)))
    for r in o.epoch_metrics:
        points.append(MetricPoint(run_id=run_id, step=int(r["epoch"]) * steps_per_epoch, epoch=float(r["epoch"]),
                                  name=f"topo_{r['metric']}", value=_num(r["value"])))
    return points


def _summaries(run_id: int, o: Any) -> list[RunSummary]:
    out = [RunSummary(run_id=run_id, name=k, value=_num(o.row.get(k))) for k in SUMMARY_FIELDS]
    for name, value in o.metrics.items():
        v = _num(value)
        reason = o.reasons.get(name) if v is None else None
        out.append(RunSummary(run_id=run_id, name=name, value=v, reason=(reason or None) and str(reason)[:256]))
    return out


def _save_weights(settings: Settings, run_id: int, arrays: dict[str, np.ndarray]) -> tuple[Path, str, int]:
    from cortexrnn.services.runner.outputs import save_weights

    folder = Path(settings.artifacts_dir) / "runs" / str(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "weights.npz"
    save_weights(path, arrays)
    data = path.read_bytes()
    return path, hashlib.sha256(data).hexdigest(), len(data)
