"""Run a whole experiment in-process: select neurons, build priors, train packs, measure,
write the output folder (layout: `outputs.OUTPUT_LAYOUT`).

No database or server code here: the caller resolves the dataset and passes a Connectome.
Runs that share a `pack_key` are trained together as one population (up to `max_pack`
networks per pack); a rerun into the same folder with the same spec skips finished packs and
resumes unfinished ones from their checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from cortexrnn.services.connectome.types import Connectome
from cortexrnn.services.priors.builder import Cache
from cortexrnn.services.runner import outputs
from cortexrnn.services.runner.pack import RunOutcome, prepare_inputs, train_pack
from cortexrnn.services.runner.summary import condition_summary
from cortexrnn.services.spec import CODE_VERSION, ExperimentSpec, RunSpec, parse_spec
from cortexrnn.services.spec.sweep import point_columns
from cortexrnn.services.training.evaluation import EXTRA_METRICS
from cortexrnn.services.training.results import TrainingCallbacks

log = logging.getLogger(__name__)

DEFAULT_MAX_PACK = 32


@dataclass
class RunnerEvent:
    """Progress of the whole experiment, in network-steps (a pack of P networks advancing one
    optimiser step is P network-steps)."""

    kind: str  # "start", "pack", "step", "metrics", "done"
    done: int
    total: int
    message: str = ""
    rows: list[dict[str, object]] = field(default_factory=list)


EventFn = Callable[[RunnerEvent], None]


class OutputFolderInUse(RuntimeError):
    """The output folder holds results of a different spec."""


@dataclass
class RunnerResult:
    out_dir: Path
    runs: pd.DataFrame
    summary: pd.DataFrame
    wall_s: float
    report: Path | None


def _pack_groups(spec: ExperimentSpec, runs: list[RunSpec], max_pack: int) -> list[list[int]]:
    by_key: dict[str, list[int]] = {}
    for i, r in enumerate(runs):
        by_key.setdefault(spec.pack_key(r), []).append(i)
    packs: list[list[int]] = []
    for members in by_key.values():
        for k in range(0, len(members), max_pack):
            packs.append(members[k : k + max_pack])
    return packs


def _pack_name(spec: ExperimentSpec, runs: list[RunSpec], members: list[int]) -> str:
    h = hashlib.sha256("|".join(spec.run_hash(runs[i]) for i in members).encode()).hexdigest()[:16]
    return f"pack-{h}"


def _check_folder(out: Path, spec_hash: str) -> None:
    marker = out / "experiment.json"
    if marker.exists():
        try:
            previous = json.loads(marker.read_text()).get("spec_hash")
        except ValueError:
            previous = None
        if previous != spec_hash:
            raise OutputFolderInUse(
                f"{out} holds results of another spec (hash {str(previous)[:12]}); choose another "
                "--out or pass --overwrite"
            )


def run_experiment(
    spec: ExperimentSpec,
    connectome: Connectome,
    out_dir: str | Path,
    *,
    device: str = "cpu",
    cache: Cache | None = None,
    on_event: EventFn | None = None,
    n_nulls: int | None = None,
    epoch_metrics: bool = False,
    max_pack: int = DEFAULT_MAX_PACK,
    dataset_sha: str | None = None,
    write_report: bool = True,
) -> RunnerResult:
    """Train every run of `spec` on `connectome` and write the results to `out_dir`."""
    t0 = time.perf_counter()
    emit = on_event or (lambda e: None)
    out = Path(out_dir)
    spec_hash = spec.canonical_hash()
    _check_folder(out, spec_hash)
    for sub in ("weights", "checkpoints", "packs"):
        (out / sub).mkdir(parents=True, exist_ok=True)

    inputs = prepare_inputs(spec, connectome)
    indices, n = inputs.indices, inputs.n_units
    runs = spec.expand_runs()
    ids = outputs.run_ids([(r.condition_name, r.seed, r.task_name) for r in runs])
    hashes = [spec.run_hash(r, dataset_sha) for r in runs]
    packs = _pack_groups(spec, runs, max(1, int(max_pack)))
    # A sweep over training, model or sampling gives packs their own settings (and neurons).
    run_steps = [spec.settings_of(r)[2].total_steps for r in runs]
    total = sum(run_steps)
    pack_inputs = {spec.sampling.model_dump_json(): inputs}
    (out / "spec.yaml").write_text(yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
    experiment_info: dict[str, Any] = {
        "spec_hash": spec_hash,
        "code_version": CODE_VERSION,
        "dataset": connectome.name,
        "dataset_sha": dataset_sha,
        "n_units": n,
        "indices": indices.tolist(),
        "n_runs": len(runs),
        "n_packs": len(packs),
        "device": device,
        "fidelity": spec.fidelity.model_dump(),
        "status": "running",
    }
    outputs.write_json(out / "experiment.json", experiment_info)
    emit(RunnerEvent("start", 0, total, f"{len(runs)} runs in {len(packs)} packs, N = {n}"))

    nulls = 1000 if n_nulls is None else int(n_nulls)

    done_steps = 0
    for k, members in enumerate(packs):
        pack_file = out / "packs" / f"{_pack_name(spec, runs, members)}.parquet"
        pack_steps = sum(run_steps[i] for i in members)
        if pack_file.exists():
            done_steps += pack_steps
            emit(RunnerEvent("pack", done_steps, total, f"pack {k + 1}/{len(packs)}: already done"))
            continue
        emit(
            RunnerEvent(
                "pack",
                done_steps,
                total,
                f"pack {k + 1}/{len(packs)}: {runs[members[0]].task_name}, {len(members)} networks",
            )
        )
        base = done_steps
        pack_spec = spec.spec_for(runs[members[0]])
        sampling_key = pack_spec.sampling.model_dump_json()
        if sampling_key not in pack_inputs:
            pack_inputs[sampling_key] = prepare_inputs(pack_spec, connectome)

        def progress(
            step: int,
            total_steps: int,
            rows: list[dict[str, object]],
            _base: int = base,
            _p: int = len(members),
        ) -> None:
            emit(RunnerEvent("step", _base + step * _p, total, "", rows))

        keys = [
            {
                "run_id": ids[i],
                "condition": runs[i].condition_name,
                "seed": runs[i].seed,
                "task": runs[i].task_name,
            }
            for i in members
        ]
        _, outcomes = train_pack(
            pack_spec,
            pack_inputs[sampling_key],
            [runs[i] for i in members],
            [hashes[i] for i in members],
            device=device,
            callbacks=TrainingCallbacks(progress=progress),
            checkpoint=out / "checkpoints" / f"{pack_file.stem}.pt",
            cache=cache,
            n_nulls=nulls,
            epoch_metrics=epoch_metrics,
            keys=keys,
            on_measured=lambda j, _m=members, _done=done_steps: emit(
                RunnerEvent("metrics", _done, total, f"metrics {ids[_m[j]]}")
            ),
        )
        done_steps += pack_steps
        outputs.write_table(pack_file, [_write_run_files(out, o) for o in outcomes])

    runs_df = pd.concat(
        [pd.read_parquet(out / "packs" / f"{_pack_name(spec, runs, m)}.parquet") for m in packs],
        ignore_index=True,
    )
    order = {rid: i for i, rid in enumerate(ids)}
    runs_df = runs_df.sort_values("run_id", key=lambda s: s.map(order)).reset_index(drop=True)
    if spec.sweep is not None:  # one column per swept field, and the condition family
        swept = pd.DataFrame(
            [{"run_id": ids[i], **point_columns(r.point)} for i, r in enumerate(runs)]
        )
        runs_df = runs_df.merge(swept, on="run_id", how="left")
    _write_tables(out, runs_df, ids)
    summary = pd.DataFrame(condition_summary(runs_df))
    summary.to_csv(out / "summary.csv", index=False)
    (out / "README.txt").write_text(outputs.OUTPUT_LAYOUT)

    wall = time.perf_counter() - t0
    experiment_info.update(status="done", wall_s=round(wall, 3))
    outputs.write_json(out / "experiment.json", experiment_info)
    report = _report(out) if write_report else None
    emit(RunnerEvent("done", total, total, f"results in {out}"))
    return RunnerResult(out, runs_df, summary, wall, report)


def _write_run_files(out: Path, o: RunOutcome) -> dict[str, Any]:
    """Write one run's files under out/runs/<run_id>/ and weights/; return its runs.csv row."""
    run_id = o.key["run_id"]
    if o.error is not None:
        return o.row
    rdir = out / "runs" / run_id
    rdir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([{**o.key, **e} for e in o.curves]).to_csv(rdir / "curves.csv", index=False)
    pd.DataFrame([{**o.key, **e} for e in o.evals]).to_csv(rdir / "evals.csv", index=False)
    pd.DataFrame(
        {"run_id": run_id, "step": np.arange(1, len(o.steps["loss"]) + 1), **o.steps}
    ).to_parquet(rdir / "steps.parquet", index=False)
    pd.DataFrame(
        [
            {**o.key, "metric": m, "value": v, "reason": o.reasons.get(m)}
            for m, v in o.metrics.items()
        ]
    ).to_csv(rdir / "metrics.csv", index=False)
    if o.epoch_metrics:
        pd.DataFrame([{**o.key, **r} for r in o.epoch_metrics]).to_csv(
            rdir / "epoch_metrics.csv", index=False
        )
    outputs.save_weights(out / "weights" / f"{run_id}.npz", o.weights)
    return o.row


def _write_tables(out: Path, runs_df: pd.DataFrame, ids: list[str]) -> None:
    runs_df.to_csv(out / "runs.csv", index=False)
    for name, reader in (
        ("curves.csv", pd.read_csv),
        ("evals.csv", pd.read_csv),
        ("metrics.csv", pd.read_csv),
        ("epoch_metrics.csv", pd.read_csv),
        ("steps.parquet", pd.read_parquet),
    ):
        parts = []
        for rid in ids:
            f = out / "runs" / rid / name
            if f.exists() and f.stat().st_size > 1:
                try:
                    parts.append(reader(f))
                except pd.errors.EmptyDataError:
                    continue
        if not parts:
            continue
        df = pd.concat(parts, ignore_index=True)
        if name.endswith(".parquet"):
            df.to_parquet(out / name, index=False)
        else:
            df.to_csv(out / name, index=False)


def _report(out: Path) -> Path | None:
    """report.html from the folder's tables (a failed report never loses the results)."""
    try:
        return write_folder_report(out)
    except Exception:
        log.exception("writing report.html failed")
        return None


def write_folder_report(out: Path, max_runs_shown: int = 6) -> Path:
    """Build report.html from an output folder of `cortexrnn run`."""
    from cortexrnn.services.report import write_report  # noqa: PLC0415 - matplotlib only here

    key = ["condition", "task", "seed"]
    runs = pd.read_csv(out / "runs.csv")
    metrics = pd.read_csv(out / "metrics.csv")
    measures = [
        c
        for c in (
            "test_acc",
            *EXTRA_METRICS,
            "train_acc",
            "test_loss",
            "train_loss",
            "accuracy",
            "steps_to_criterion",
        )
        if c in runs
    ]
    accuracy = runs.melt(id_vars=key, value_vars=measures, var_name="metric", value_name="value")
    tidy = pd.concat([metrics[[*key, "metric", "value"]], accuracy], ignore_index=True)
    tidy["value"] = pd.to_numeric(tidy["value"], errors="coerce")
    tidy = tidy.dropna(subset=["value"])
    curves = pd.read_csv(out / "curves.csv").melt(
        id_vars=[*key, "step", "epoch"],
        value_vars=["train_loss", "train_acc", "test_loss", "test_acc"],
        var_name="name",
        value_name="value",
    )
    if (out / "epoch_metrics.csv").exists():
        em = pd.read_csv(out / "epoch_metrics.csv")
        em["value"] = pd.to_numeric(em["value"], errors="coerce")
        steps_per_epoch = spec_steps_per_epoch(out)
        em = em.assign(name="topo_" + em["metric"], step=em["epoch"] * steps_per_epoch)[
            [*key, "step", "epoch", "name", "value"]
        ]
        curves = pd.concat([curves, em], ignore_index=True)
    swept = [c for c in runs.columns if c == "family" or "." in c]  # a sweep's columns
    sweep = tidy.merge(runs[[*key, *swept]], on=key) if swept else None
    weights, positions = {}, {}
    for _, row in runs.drop_duplicates("condition").head(max_runs_shown).iterrows():
        path = out / "weights" / f"{row['run_id']}.npz"
        if path.exists():
            with np.load(path, allow_pickle=False) as z:
                k = (row["condition"], row["task"], int(row["seed"]))
                weights[k] = {"initial": z["w_init"], "final": z["W"]}
                if "positions_um" in z:
                    positions[k] = z["positions_um"]
    spec = yaml.safe_load((out / "spec.yaml").read_text())
    return write_report(
        out / "report.html",
        tidy,
        curves,
        weights,
        positions or None,
        spec,
        title=f"CortexRNN experiment: {spec.get('name') or out.name}",
        n_boot=2000,
        sweep=sweep,
    )


def spec_steps_per_epoch(out: Path) -> int:
    return parse_spec(yaml.safe_load((out / "spec.yaml").read_text())).training.steps_per_epoch
