"""Files of a local run's output folder (the layout is documented in OUTPUT_LAYOUT)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cortexrnn.services.priors.presets import ascii_alias

OUTPUT_LAYOUT = """\
Output folder of `cortexrnn run` (one row per run in every table; a run is condition x seed x task)

spec.yaml            the validated spec with every default filled in
experiment.json      spec hash, code version, dataset, selected neuron indices, device, wall time
runs.csv             one row per run: run_id, condition, seed, task, run_hash, status,
                     diverged_step, steps_to_criterion, final train/test loss and accuracy,
                     `accuracy` (held-out; the last epoch's training accuracy under
                     fidelity report_train_accuracy) and the final topology metrics
curves.csv           per-epoch learning curves: run_id, epoch, step, train_loss, train_acc,
                     reg, test_loss, test_acc (epochs counted from 1)
evals.csv            every held-out evaluation: run_id, step, test_loss, test_acc
steps.parquet        per optimiser step: run_id, step, loss, acc, reg
metrics.csv          tidy final topology metrics: run_id, metric, value, reason (null reasons)
epoch_metrics.csv    tidy topology metrics of every epoch's snapshot (when enabled)
summary.csv          per task x condition x measure: n, mean, sd, 95 % t CI
weights/<run_id>.npz w_init and snapshots [epochs + 1, N, N] (before training, after each
                     epoch), final W, U, b, V, c, the prior's distance matrix (if any);
                     all recurrent matrices (post, pre)
runs/<run_id>/       the same tables for one run (curves.csv, evals.csv, steps.parquet,
                     metrics.csv, epoch_metrics.csv)
packs/               one finished-pack table each (a rerun of the same spec skips them)
checkpoints/         trainer checkpoints per pack (a rerun of the same spec resumes)
README.txt           this description
report.html          the HTML report (when the report module is available)
"""

_SAFE = re.compile(r"[^A-Za-z0-9_.+-]")


def run_ids(names: list[tuple[str, int, str]]) -> list[str]:
    """File-safe, unique ids `<condition>__s<seed>__<task>` (paper names via ASCII aliases)."""
    out: list[str] = []
    seen: set[str] = set()
    for cond, seed, task in names:
        base = f"{_SAFE.sub('_', ascii_alias(cond))}__s{seed}__{_SAFE.sub('_', task)}"
        rid, k = base, 1
        while rid in seen:
            k += 1
            rid = f"{base}-{k}"
        seen.add(rid)
        out.append(rid)
    return out


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_table(path: Path, rows: list[dict[str, Any]], columns: list[str] | None = None) -> None:
    df = pd.DataFrame(rows, columns=columns)
    if path.suffix == ".parquet":
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)


def save_weights(path: Path, arrays: Mapping[str, np.ndarray | None]) -> None:
    # Any, not ndarray: numpy's stub matches ** entries against `allow_pickle: bool` as well.
    payload: dict[str, Any] = {
        k: np.asarray(v, dtype=np.float32 if np.asarray(v).dtype.kind == "f" else None)
        for k, v in arrays.items()
        if v is not None
    }
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **payload)
    tmp.replace(path)
