"""Training one pack and measuring its runs: the step the local runner and the service
worker share. Computes only; writing files or database rows is the caller's business."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cortexrnn.services.connectome import derived
from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.selection import select
from cortexrnn.services.connectome.types import Connectome
from cortexrnn.services.priors.builder import Cache, build_network_priors
from cortexrnn.services.priors.conditions import Fidelity
from cortexrnn.services.spec import MAX_NEURONS, ExperimentSpec, RunSpec
from cortexrnn.services.tasks.registry import get_task
from cortexrnn.services.topology import compute_metrics
from cortexrnn.services.training.trainer import train_population


@dataclass(frozen=True)
class ExperimentInputs:
    """What every pack of one experiment shares: the selected neurons and the reference
    matrices the metrics compare against (true geometry in µm, correlation, synapse counts)."""

    connectome: Connectome
    indices: np.ndarray
    distance_um: np.ndarray
    functional: np.ndarray | None
    anatomical: np.ndarray

    @property
    def n_units(self) -> int:
        return int(self.indices.size)


def prepare_inputs(
    spec: ExperimentSpec, connectome: Connectome, indices: Sequence[int] | np.ndarray | None = None
) -> ExperimentInputs:
    """`indices`: the neurons already selected (the service stores them at submission); by
    default they are selected here from `spec.sampling`."""
    if indices is None:
        indices = select(connectome, spec.sampling)
    else:
        indices = np.asarray(indices, dtype=np.int64)
        if indices.ndim != 1 or (
            indices.size and not 0 <= indices.min() <= indices.max() < connectome.n_neurons
        ):
            raise ValueError(
                f"the stored neuron selection does not fit dataset {connectome.name!r}"
            )
    n = int(indices.size)
    if n > MAX_NEURONS:
        raise ValueError(
            f"the sampling selects {n} neurons of dataset {connectome.name!r}, above the limit "
            f"of {MAX_NEURONS}; set sampling.n_neurons"
        )
    corr = connectome.functional.get("correlation")
    return ExperimentInputs(
        connectome=connectome,
        indices=indices,
        distance_um=derived.soma_distances_um(connectome.positions_nm[indices]),
        functional=None if corr is None else np.asarray(corr)[np.ix_(indices, indices)],
        anatomical=connectome.synapse_counts[indices][:, indices].toarray().astype(np.float64),
    )


@dataclass
class RunOutcome:
    """One run's results, ready to be written anywhere."""

    run: RunSpec
    key: dict[str, Any]  # condition, seed, task (+ run_id where the caller names runs)
    row: dict[str, Any]  # the summary row: status, accuracies, steps to criterion, final metrics
    curves: list[
        dict[str, Any]
    ]  # per epoch: epoch, step, train_loss, train_acc, reg, test_loss, test_acc
    evals: list[dict[str, Any]]  # every held-out evaluation: step, test_loss, test_acc
    steps: dict[str, np.ndarray]  # per optimiser step: loss, acc, reg
    metrics: dict[str, float | None]
    reasons: dict[str, str]  # why a metric is null
    epoch_metrics: list[dict[str, Any]]  # epoch, metric, value, reason
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    error: str | None = None  # why a run could not be trained (its prior could not be built)

    @property
    def status(self) -> str:
        return str(self.row["status"])


def failed_outcome(
    run: RunSpec, run_hash: str, error: str, key: dict[str, Any] | None = None
) -> RunOutcome:
    key = key or {"condition": run.condition_name, "seed": run.seed, "task": run.task_name}
    return RunOutcome(
        run=run,
        key=key,
        row={**key, "run_hash": run_hash, "status": "failed", "error": error},
        curves=[],
        evals=[],
        steps={"loss": np.array([]), "acc": np.array([]), "reg": np.array([])},
        metrics={},
        reasons={},
        epoch_metrics=[],
        error=error,
    )


def topology_metrics(
    w: np.ndarray, inputs: ExperimentInputs, seed: int, n_nulls: int, fidelity: Fidelity
) -> tuple[dict[str, float | None], dict[str, str]]:
    m = compute_metrics(
        w,
        inputs.distance_um,
        inputs.functional,
        inputs.anatomical,
        n_nulls=n_nulls,
        seed=seed,
        released_nulls=n_nulls if fidelity.released_nulls else 0,
    )
    return m.values(), dict(m.reasons)


def _finite_or_none(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def measure_run(
    spec: ExperimentSpec,
    run: RunSpec,
    run_hash: str,
    net: Any,
    prior: Any,
    inputs: ExperimentInputs,
    *,
    n_nulls: int,
    epoch_metrics: bool,
    wall_share: float,
    key: dict[str, Any] | None = None,
    fidelity: Fidelity | None = None,
) -> RunOutcome:
    """`fidelity` is the run's own (its experiment's) where a pack mixes experiments."""
    fidelity = fidelity or spec.fidelity
    key = key or {"condition": run.condition_name, "seed": run.seed, "task": run.task_name}
    final_w = net.final_weights.get("W", net.snapshots[-1])
    values, reasons = topology_metrics(final_w, inputs, run.seed, n_nulls, fidelity)
    erows: list[dict[str, Any]] = []
    if epoch_metrics:
        for e, snap in enumerate(net.snapshots):
            ev, er = topology_metrics(snap, inputs, run.seed, min(n_nulls, 100), fidelity)
            erows += [
                {"epoch": e, "metric": m, "value": v, "reason": er.get(m)} for m, v in ev.items()
            ]
    last = net.epochs[-1] if net.epochs else {}
    train_acc = last.get("train_acc")
    test_acc = net.final_test_acc if net.final_test_acc is not None else last.get("test_acc")
    reported = train_acc if fidelity.report_train_accuracy else test_acc
    row: dict[str, Any] = {
        **key,
        "run_hash": run_hash,
        "status": net.status,
        "diverged_step": net.diverged_step,
        "steps_to_criterion": net.steps_to_criterion,
        "steps_trained": net.steps_trained,
        "train_loss": last.get("train_loss"),
        "train_acc": train_acc,
        "test_loss": last.get("test_loss"),
        "test_acc": test_acc,
        "accuracy": reported,
        "accuracy_source": "train (last epoch, noise on)"
        if fidelity.report_train_accuracy
        else "held-out test",
        "lam_effective": prior.lam,
        "wall_s": round(wall_share, 3),
        # test_acc_<set>: the generalisation sets beside recall (services/training/evaluation.py)
        **{k: _finite_or_none(v) for k, v in net.heldout_acc.items()},
    }
    row.update({m: _finite_or_none(v) for m, v in values.items()})
    weights = {
        "w_init": prior.w_init,
        "snapshots": net.snapshots,
        "distance": prior.distance,
        "positions_um": inputs.connectome.positions_nm[inputs.indices] / 1000.0,
        **net.final_weights,
    }
    return RunOutcome(
        run=run,
        key=key,
        row=row,
        curves=list(net.epochs),
        evals=list(net.evals),
        steps={"loss": net.step_loss, "acc": net.step_acc, "reg": net.step_reg},
        metrics=values,
        reasons=reasons,
        epoch_metrics=erows,
        weights={k: v for k, v in weights.items() if v is not None},
    )


def train_pack(
    spec: ExperimentSpec,
    inputs: ExperimentInputs,
    runs: list[RunSpec],
    run_hashes: list[str],
    *,
    device: str = "cpu",
    callbacks: Any = None,
    checkpoint: str | Path | None = None,
    cache: Cache | None = None,
    n_nulls: int = 1000,
    epoch_metrics: bool = False,
    keys: list[dict[str, Any]] | None = None,
    on_measured: Any = None,
    fidelities: list[Fidelity] | None = None,
) -> tuple[Any, list[RunOutcome]]:
    """Build the priors of `runs` (one task, one pack key), train them as one population and
    measure every network. Returns the trainer's PackResult (None if no prior could be built)
    and one RunOutcome per run, in order. A run whose prior cannot be built (e.g. a C* target
    with no synapses among the selected neurons) fails alone; the others still train.

    `fidelities` gives each run its own fidelity (a pack may hold runs of several experiments:
    fidelity acts only on priors and on what is reported); by default all take spec's."""
    tasks = {r.task.canonical()["name"] for r in runs}
    if len(tasks) != 1:
        raise ValueError(f"a pack trains one task, got {sorted(tasks)}")
    task_entry = runs[0].task
    task = get_task(task_entry.name, **task_entry.params)
    fidelities = fidelities or [spec.fidelity] * len(runs)
    if len(fidelities) != len(runs):
        raise ValueError(f"got {len(fidelities)} fidelities for {len(runs)} runs")
    errors: dict[int, str] = {}
    built: dict[int, Any] = {}
    by_fidelity: dict[str, list[int]] = {}
    for j, fid in enumerate(fidelities):
        by_fidelity.setdefault(fid.model_dump_json(), []).append(j)
    for group in by_fidelity.values():
        fid = fidelities[group[0]]
        wanted = [(runs[j].condition, runs[j].seed) for j in group]
        try:
            built.update(
                zip(
                    group,
                    build_network_priors(inputs.connectome, inputs.indices, wanted, fid, cache),
                    strict=True,
                )
            )
        except (ValueError, DatasetError):
            for j, w in zip(
                group, wanted, strict=True
            ):  # one at a time, to tell which runs cannot be built
                try:
                    built[j] = build_network_priors(
                        inputs.connectome, inputs.indices, [w], fid, cache
                    )[0]
                except (ValueError, DatasetError) as exc:
                    errors[j] = (
                        f"cannot build the prior of condition {runs[j].condition_name!r}: {exc}"
                    )
    priors = [built[j] for j in sorted(built)]
    members = [j for j in range(len(runs)) if j not in errors]
    result = None
    if members:
        result = train_population(
            priors,
            [runs[j].seed for j in members],
            task,
            spec.model,
            spec.training,
            device,
            callbacks,
            checkpoint,
            evaluation=spec.evaluation,
        )
    trained = (
        dict(zip(members, zip(result.networks, priors, strict=True), strict=True)) if result else {}
    )
    wall_share = result.wall_s / len(members) if result else 0.0
    outcomes = []
    for j, run in enumerate(runs):
        key = keys[j] if keys else None
        if j in errors:
            outcomes.append(failed_outcome(run, run_hashes[j], errors[j], key))
            continue
        if on_measured is not None:
            on_measured(j)
        net, prior = trained[j]
        outcomes.append(
            measure_run(
                spec,
                run,
                run_hashes[j],
                net,
                prior,
                inputs,
                n_nulls=n_nulls,
                epoch_metrics=epoch_metrics,
                wall_share=wall_share,
                key=key,
                fidelity=fidelities[j],
            )
        )
    return result, outcomes
