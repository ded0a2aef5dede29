"""Atomic, safe checkpoint files for the population trainer.

Written to a temporary file in the same folder, flushed to disk, then renamed over the target
(os.replace is atomic on POSIX): a crash mid-write leaves the previous checkpoint intact.
Loaded with `weights_only=True`, so a checkpoint can hold only tensors and plain containers
and never runs code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.priors.network_prior import NetworkPrior
from cortexrnn.services.tasks.base import Task
from cortexrnn.services.training.config import TrainingConfig

CHECKPOINT_FORMAT = 1


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save({"format": CHECKPOINT_FORMAT, **state}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(
            f"checkpoint {path} cannot be read safely ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"checkpoint {path} is not a CortexRNN trainer checkpoint (format {CHECKPOINT_FORMAT})"
        )
    return state


def _array_digest(h: hashlib._Hash, a: np.ndarray | None) -> None:
    if a is None:
        h.update(b"none")
        return
    a = np.ascontiguousarray(a)
    h.update(str((a.dtype.str, a.shape)).encode())
    h.update(a.tobytes())


def pack_fingerprint(
    priors: Sequence[NetworkPrior],
    seeds: Sequence[int],
    task: Task,
    model_cfg: ModelConfig,
    train_cfg: TrainingConfig,
) -> str:
    """Identifies what a checkpoint belongs to; settings that do not change results are left out."""
    h = hashlib.sha256()
    cfg = train_cfg.model_dump()
    del cfg["checkpoint_every_steps"]
    h.update(
        json.dumps(
            {
                "model": model_cfg.model_dump(),
                "train": cfg,
                "task": task.describe(),
                "seeds": list(seeds),
            },
            sort_keys=True,
        ).encode()
    )
    for pr in priors:
        _array_digest(h, pr.w_init)
        _array_digest(h, pr.distance)
        _array_digest(h, pr.emd_target)
        _array_digest(h, pr.excitatory)
        h.update(
            json.dumps(
                [
                    pr.communicability,
                    pr.communicability_grad,
                    pr.lam,
                    pr.lam_emd,
                    pr.sign,
                    pr.strength_eps,
                    pr.emd_weighting,
                    pr.fixed_batch_order,
                ]
            ).encode()
        )
    return h.hexdigest()
