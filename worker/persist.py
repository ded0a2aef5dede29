"""Writing a trained pack's results: each run's metric time series, summaries and weights
(the weights file in the artifact store, its row in the database). Workers that send their
artifacts to the API upload each weights file there and record the API's path; others write
it to their artifacts folder, which the API reads (its own host, or shared storage)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete
from sqlalchemy.orm import Session

from cortexrnn.services.runner.outputs import save_weights as write_weights_file
from cortexrnn.services.runner.pack import RunOutcome
from cortexrnn.services.training.evaluation import EXTRA_METRICS
from cortexrnn.shared.models import Artifact, MetricPoint, Run, RunSummary
from cortexrnn.shared.settings import Settings
from cortexrnn.worker.artifact_client import ApiTransport

SUMMARY_FIELDS = (
    "diverged_step",
    "steps_to_criterion",
    "steps_trained",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "accuracy",
    "lam_effective",
    "wall_s",
)

# path (or, for an upload, the API's location: a path, or an s3:// URI), sha256, size
SavedWeights = tuple[Path | str, str, int]


def num(v: object) -> float | None:
    """A finite float, or None (the database stores undefined values as null)."""
    try:
        f = float(v)  # type: ignore[arg-type]  # any value; what float() refuses is caught
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def metric_points(run_id: int, o: Any, steps_per_epoch: int) -> list[MetricPoint]:
    points = []
    for e in o.curves:
        for name in ("train_loss", "train_acc", "reg", "test_loss", "test_acc"):
            points.append(
                MetricPoint(
                    run_id=run_id,
                    step=int(e["step"]),
                    epoch=float(e["epoch"]),
                    name=name,
                    value=num(e.get(name)),
                )
            )
    for ev in o.evals:
        for name in ("test_loss", "test_acc"):
            points.append(
                MetricPoint(
                    run_id=run_id,
                    step=int(ev["step"]),
                    epoch=ev["step"] / steps_per_epoch,
                    name=f"eval_{name}",
                    value=num(ev.get(name)),
                )
            )
    for name, series in (("step_loss", o.steps["loss"]), ("step_acc", o.steps["acc"])):
        for i, v in enumerate(series):
            points.append(
                MetricPoint(
                    run_id=run_id,
                    step=i + 1,
                    epoch=(i + 1) / steps_per_epoch,
                    name=name,
                    value=num(v),
                )
            )
    for r in o.epoch_metrics:
        points.append(
            MetricPoint(
                run_id=run_id,
                step=int(r["epoch"]) * steps_per_epoch,
                epoch=float(r["epoch"]),
                name=f"topo_{r['metric']}",
                value=num(r["value"]),
            )
        )
    return points


def summaries(run_id: int, o: Any) -> list[RunSummary]:
    names = [*SUMMARY_FIELDS, *(k for k in EXTRA_METRICS if k in o.row)]
    out = [RunSummary(run_id=run_id, name=k, value=num(o.row.get(k))) for k in names]
    for name, value in o.metrics.items():
        v = num(value)
        reason = o.reasons.get(name) if v is None else None
        out.append(
            RunSummary(
                run_id=run_id, name=name, value=v, reason=(reason or None) and str(reason)[:256]
            )
        )
    return out


def artifacts_root(settings: Settings) -> Path:
    """The artifact folder. Settings validation fills it in (`home`/artifacts) when unset."""
    if settings.artifacts_dir is None:
        raise ValueError("settings.artifacts_dir is not set (Settings validation fills it in)")
    return Path(settings.artifacts_dir)


def save_weights(settings: Settings, run_id: int, arrays: dict[str, np.ndarray]) -> SavedWeights:
    folder = artifacts_root(settings) / "runs" / str(run_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "weights.npz"
    write_weights_file(path, arrays)
    data = path.read_bytes()
    return path, hashlib.sha256(data).hexdigest(), len(data)


def save_all_weights(
    settings: Settings,
    run_ids: list[int],
    outcomes: list[RunOutcome],
    ours: set[int],
    transport: ApiTransport | None = None,
    pack_id: int | None = None,
) -> list[SavedWeights | None]:
    """The weights files of the trained runs still in the pack (written, or uploaded, before
    the database records them)."""
    saved: list[SavedWeights | None] = []
    for rid, o in zip(run_ids, outcomes, strict=True):
        if o.error is not None or rid not in ours:
            saved.append(None)
            continue
        local = save_weights(settings, rid, o.weights)
        saved.append(local if transport is None else upload_weights(transport, pack_id, rid, local))
    return saved


def upload_weights(
    transport: ApiTransport, pack_id: int | None, run_id: int, local: SavedWeights
) -> SavedWeights:
    """Send a run's weights file to the API; the local copy goes once the API has it."""
    if pack_id is None:
        raise ValueError("uploading weights needs the pack id (the API checks who holds it)")
    path, sha, size = local
    state = transport.upload(Path(path), kind="weights", pack_id=pack_id, run_id=run_id)
    if state.sha256 != sha or state.path is None:
        raise RuntimeError(f"run {run_id}: the API stored other weights than were sent")
    Path(path).unlink(missing_ok=True)
    return state.path, sha, size  # not a Path: that would make s3://b/k s3:/b/k


def write_results(
    session: Session,
    pack_id: int,
    run_ids: list[int],
    outcomes: list[RunOutcome],
    weights: list[SavedWeights | None],
    ours: set[int],
    steps_per_epoch: int,
) -> None:
    """Replace the results of the runs still in the pack (a resumed pack wrote some before).
    Results are kept even for a run cancelled meanwhile, for the record."""
    session.execute(delete(MetricPoint).where(MetricPoint.run_id.in_(ours)))
    session.execute(delete(RunSummary).where(RunSummary.run_id.in_(ours)))
    session.execute(delete(Artifact).where(Artifact.run_id.in_(ours), Artifact.kind == "weights"))
    for rid, outcome, saved in zip(run_ids, outcomes, weights, strict=True):
        run = session.get(Run, rid)
        if run is None or run.pack_id != pack_id or outcome.error is not None or saved is None:
            continue  # released (its experiment may be gone), or not trained
        session.add_all(metric_points(rid, outcome, steps_per_epoch))
        session.add_all(summaries(rid, outcome))
        wpath, wsha, wsize = saved
        session.add(
            Artifact(run_id=rid, kind="weights", path=str(wpath), sha256=wsha, size_bytes=wsize)
        )
