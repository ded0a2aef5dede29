"""One run's recurrent weights before and after training, as heatmaps."""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from cortexrnn.api.dashboard.images import block_mean, encode
from cortexrnn.shared.artifacts import FinishedFiles, open_seekable
from cortexrnn.shared.experiments import result_run_id
from cortexrnn.shared.models import Artifact, Run

# The worker's .npz names (GET /v1/runs/{id}/weights): initial and final recurrent matrices.
PANELS = (("w_init", "Initial W"), ("W", "Final W"))


def weight_images(session: Session, run: Run, files: FinishedFiles) -> dict[str, Any] | None:
    artifact = session.scalar(
        select(Artifact)
        .where(Artifact.run_id == result_run_id(run), Artifact.kind == "weights")
        .order_by(Artifact.id.desc())
    )
    if artifact is None or not files.exists(artifact.path):
        return None
    images = []
    with open_seekable(files, artifact.path) as fh, np.load(fh, allow_pickle=False) as z:
        for key, title in PANELS:
            if key in z.files and z[key].ndim == 2:
                w = np.asarray(z[key], dtype=float)
                images.append(encode(block_mean(w), title=title, n=w.shape[0], diverging=True))
    return {
        "run": run.id,
        "condition": run.condition,
        "seed": run.seed,
        "task": run.task,
        "images": images,
    }
