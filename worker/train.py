"""Training one claimed pack with the science code shared with `cortexrnn run`, while its
progress and heartbeats go to the database (worker/progress.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from cortexrnn.services.runner.pack import ExperimentInputs, RunOutcome, train_pack
from cortexrnn.services.training.results import TrainingCallbacks
from cortexrnn.shared.datasets_registry import get_store
from cortexrnn.shared.settings import Settings
from cortexrnn.worker.claim import PackPlan
from cortexrnn.worker.persist import artifacts_root
from cortexrnn.worker.progress import PackProgress
from cortexrnn.worker.runtime import Heartbeat


def checkpoint_path(settings: Settings, pack_id: int, run_ids: list[int]) -> Path:
    """Keyed by the runs it holds: a pack retried whole resumes, one retried in part starts
    afresh."""
    pack_dir = artifacts_root(settings) / "packs" / str(pack_id)
    pack_dir.mkdir(parents=True, exist_ok=True)
    return (
        pack_dir
        / f"checkpoint-{hashlib.sha256(repr(sorted(run_ids)).encode()).hexdigest()[:16]}.pt"
    )


def train(
    plan: PackPlan,
    inputs: ExperimentInputs,
    progress: PackProgress,
    *,
    checkpoint: Path,
    device: str,
    settings: Settings,
    heartbeat_every_s: float,
) -> tuple[Any, list[RunOutcome]]:
    """The trainer's PackResult (None if no prior could be built) and one outcome per run."""
    callbacks = TrainingCallbacks(progress=progress.on_step, should_cancel=progress.should_cancel)
    with Heartbeat(progress.beat, heartbeat_every_s):
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
        )
