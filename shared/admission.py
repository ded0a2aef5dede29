"""Admission control: what the queue accepts. A submission (and a validation) is checked
against the deployment's limits (shared/settings.py, CORTEXRNN_MAX_*) using the cost model
of services/spec/cost.py; a spec over a limit is refused before anything is stored, naming
the field to change and the limit (and its setting) it exceeds.

Each limit guards against a failure found when the queue was probed: a trial of 10^9 steps
(the worker grew to 21 GB), a grid of 10^15 points (an empty MemoryError on the worker) and
2^31 optimiser steps (an integer overflow in the database, reported as raw SQL).
"""

from __future__ import annotations

from cortexrnn.services.spec import ExperimentSpec
from cortexrnn.services.spec.cost import (
    ExperimentCost,
    PackCost,
    Variant,
    estimate,
    longest_period,
    trial_steps,
    variants,
)
from cortexrnn.shared.settings import Settings
from cortexrnn.shared.webhook_hosts import webhook_refusal

GB = 2**30


class AdmissionRefused(ValueError):
    """The spec exceeds a limit of the queue; `path` is the field to change."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def flops_per_second(settings: Settings) -> float:
    """The cost model's rate for the queue's device kind."""
    gflops = settings.gpu_gflops if settings.default_queue == "gpu" else settings.cpu_gflops
    return gflops * 1e9


def experiment_cost(spec: ExperimentSpec, n_units: int, settings: Settings) -> ExperimentCost:
    return estimate(
        spec,
        n_units,
        max_pack_size=settings.max_pack_size,
        flops_per_s=flops_per_second(settings),
        n_nulls=settings.final_nulls,
    )


def _gb(n_bytes: float) -> str:
    whole = int(n_bytes) // GB
    if whole >= 10**15:  # a grid of 10^600 points is an int no float division can take
        return f"over 10^{len(str(whole)) - 1} GB"
    return f"{n_bytes / GB:.3g} GB"


def _where(v: Variant, spec: ExperimentSpec, section: str, field: str) -> str:
    """`section.field`, or the sweep's path where the run's value comes from a sweep point."""
    swept = getattr(v.spec, section) != getattr(spec, section)
    return f"sweep.fields.{section}.{field}" if swept else f"{section}.{field}"


def _check_shape(spec: ExperimentSpec, n_units: int, settings: Settings) -> None:
    """The limits that need no estimate: neurons, runs, trial and training lengths (each
    sweep point's too)."""
    seeds, tasks = len(spec.seed_list), len(spec.tasks)
    if spec.n_runs > settings.max_runs_per_experiment:
        raise AdmissionRefused(
            "seeds",
            f"{spec.n_runs // seeds // tasks} conditions x {seeds} seeds x {tasks} tasks = "
            f"{spec.n_runs} runs, above this queue's limit of "
            f"{settings.max_runs_per_experiment} per experiment "
            "(CORTEXRNN_MAX_RUNS_PER_EXPERIMENT); split it",
        )
    for i, task in enumerate(spec.tasks):
        steps = trial_steps(task)
        if steps > settings.max_trial_steps:
            raise AdmissionRefused(
                f"tasks[{i}].params.{longest_period(task)}",
                f"a trial of task {task.run_label!r} lasts {steps} time steps, above this "
                f"queue's limit of {settings.max_trial_steps} (CORTEXRNN_MAX_TRIAL_STEPS)",
            )
    for v in variants(spec, n_units):
        if v.n_units > settings.max_neurons:
            raise AdmissionRefused(
                _where(v, spec, "sampling", "n_neurons"),
                f"{v.n_units} neurons per network, above this queue's limit of "
                f"{settings.max_neurons} (CORTEXRNN_MAX_NEURONS)",
            )
        cfg = v.spec.training
        if cfg.total_steps > settings.max_steps_per_run:
            long_epoch = cfg.steps_per_epoch > settings.max_steps_per_run
            raise AdmissionRefused(
                _where(v, spec, "training", "train_trials" if long_epoch else "epochs"),
                f"{cfg.epochs} epochs x {cfg.steps_per_epoch} steps (train_trials / batch_size) "
                f"= {cfg.total_steps} optimiser steps per run, above this queue's limit of "
                f"{settings.max_steps_per_run} (CORTEXRNN_MAX_STEPS_PER_RUN)",
            )


def _memory_field(spec: ExperimentSpec, pack: PackCost) -> str:
    """The field that drives the pack's largest part."""
    if pack.largest == "grid":
        return f"conditions.{pack.worst.condition}.grid_shape"
    if pack.largest == "activations":
        # Trial length x batch x N: name the factor furthest above the paper's shape.
        i = next(i for i, t in enumerate(spec.tasks) if t.run_label == pack.task)
        factors = {
            f"tasks[{i}].params.{longest_period(spec.tasks[i])}": pack.worst.trial_steps / 50,
            "training.batch_size": spec.training.batch_size / 128,
            "sampling.n_neurons": pack.worst.n_units / 312,
        }
        return max(factors, key=lambda k: factors[k])
    if pack.largest == "history":
        return "training.epochs"
    return "sampling.n_neurons"


def _check_notifications(spec: ExperimentSpec, settings: Settings) -> None:
    """A notice the server could not send is refused now rather than dropped when the
    experiment ends: a webhook host off the allow-list, an e-mail without SMTP."""
    if spec.webhook:
        refusal = webhook_refusal(spec.webhook, settings.webhook_host_patterns)
        if refusal:
            raise AdmissionRefused("webhook", refusal)
    if spec.email and not settings.smtp_configured:
        raise AdmissionRefused(
            "email",
            "this server sends no e-mail: its operator has not configured an SMTP server "
            "(CORTEXRNN_SMTP_HOST and CORTEXRNN_SMTP_FROM); use a webhook or leave email out",
        )


def check_admission(spec: ExperimentSpec, n_units: int, settings: Settings) -> ExperimentCost:
    """The experiment's cost with `n_units` neurons per network, or AdmissionRefused naming
    the first field over a limit (or a notice this server cannot send)."""
    _check_notifications(spec, settings)
    _check_shape(spec, n_units, settings)
    cost = experiment_cost(spec, n_units, settings)
    limit = settings.max_pack_memory_gb * GB
    for pack in cost.packs:
        if pack.peak_bytes > limit:
            raise AdmissionRefused(
                _memory_field(spec, pack),
                f"a pack of {pack.networks} networks of task {pack.task!r} "
                f"(condition {pack.worst.condition!r} the largest) needs about "
                f"{_gb(pack.peak_bytes)} of memory, mostly {pack.largest}, above this "
                f"queue's limit of {_gb(limit)} per pack (CORTEXRNN_MAX_PACK_MEMORY_GB)",
            )
    hours = cost.worker_seconds / 3600
    if hours > settings.max_worker_hours_per_experiment:
        per_run = cost.worker_seconds_per_run / 3600
        one_run_over = per_run > settings.max_worker_hours_per_experiment
        raise AdmissionRefused(
            "training.epochs" if one_run_over else "seeds",
            f"{cost.n_runs} runs of about {per_run:.3g} worker-hours each = {hours:.3g} "
            f"worker-hours, above this queue's limit of "
            f"{settings.max_worker_hours_per_experiment:g} per experiment "
            "(CORTEXRNN_MAX_WORKER_HOURS_PER_EXPERIMENT)",
        )
    return cost
