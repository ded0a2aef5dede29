"""Training one claimed pack with the science code shared with `cortexrnn run`, while its
progress goes to the database (worker/progress.py; the caller keeps the heartbeat) and, on
workers that send their artifacts to the API, its checkpoint goes there every few minutes
(worker/checkpoint_sync.py). A drain request (SIGTERM, worker/drain.py) stops it at the next
step, as a cancellation does, with its checkpoint written."""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

from cortexrnn.services.runner.pack import ExperimentInputs, RunOutcome, train_pack
from cortexrnn.services.training.results import TrainingCallbacks
from cortexrnn.shared.datasets_registry import get_store
from cortexrnn.shared.settings import Settings
from cortexrnn.worker import drain
from cortexrnn.worker.checkpoint_sync import CheckpointSync
from cortexrnn.worker.claim import PackPlan
from cortexrnn.worker.persist import artifacts_root
from cortexrnn.worker.progress import PackProgress


def checkpoint_path(settings: Settings, pack_id: int, run_ids: list[int]) -> Path:
    """Keyed by the runs it holds: a pack retried whole resumes, one retried in part starts
    afresh."""
    pack_dir = artifacts_root(settings) / "packs" / str(pack_id)
    pack_dir.mkdir(parents=True, exist_ok=True)
    return (
        pack_dir
        / f"checkpoint-{hashlib.sha256(repr(sorted(run_ids)).encode()).hexdigest()[:16]}.pt"
    )


class Drained(Exception):
    """The pack stopped for a drain, its checkpoint written; measuring it would only spend
    the time the drain has before the node is taken back."""


def train(
    plan: PackPlan,
    inputs: ExperimentInputs,
    progress: PackProgress,
    *,
    checkpoint: Path,
    device: str,
    settings: Settings,
    sync: CheckpointSync | None = None,
) -> tuple[Any, list[RunOutcome]]:
    """The trainer's PackResult (None if no prior could be built) and one outcome per run.
    `sync` uploads the checkpoint while the pack trains. Raises Drained where a drain stopped
    the pack (a drain after the last step skips the measuring: the next worker does it)."""

    def should_stop() -> bool:
        return progress.should_cancel() or drain.requested()

    def before_measuring(_run_index: int) -> None:
        if drain.requested():
            raise Drained

    callbacks = TrainingCallbacks(progress=progress.on_step, should_cancel=should_stop)
    with sync or contextlib.nullcontext():
        return train_pack(
            plan.spec,
            inputs,
            plan.runs,
            plan.run_hashes,
            device=device,
            callbacks=callbacks,
            checkpoint=checkpoint,
            cache=get_store().cached,
            n_nulls=settings.final_nulls,
            epoch_metrics=True,
            fidelities=plan.fidelities,
            on_measured=before_measuring,
        )
