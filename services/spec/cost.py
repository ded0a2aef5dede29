"""What a spec will cost, from the spec alone: per run the peak memory, the floating-point
work and, at a given rate, the worker time. Admission control (shared/admission.py) refuses
what exceeds the queue's limits; `POST /v1/experiments/validate` shows the estimate.

The model follows what the code allocates (float32 tensors, 4 bytes; float64 priors):

- activations kept for the backward pass (services/model/bptt.py): the scan's activations and,
  in the backward, the drive's gradient, each [T, B, N] per network; one more for a leaky
  unit's state (alpha < 1) and one for the recurrent noise; in bf16-mixed, the state's
  bfloat16 copy (2 bytes); the inputs, their noise and the noisy copy are [T, B, n_in] each.
  The drive before the scan is freed when the scan ends.
- weights W, U, V, b, c with their gradients, Adam's two moments and one temporary: 5 copies.
- the regulariser: the distance matrix on the device, and for communicability the
  degree-12 Taylor exponential's saved products and its squarings (~24 N x N).
- priors on the host: w_init and the distance (float64) per network; the functional and
  anatomical matrices (~4 N x N float64) per pack.
- history: one W snapshot per epoch (and the initial one), copied again into the result; a
  [3] float64 row per step and per evaluation, each a tensor object of its own (~200 bytes).
- transients that never coincide with training: the grid's positions while a prior is built
  (Python tuples of every grid point before the array: ~100 bytes per point) and the null
  graphs of the topology measurement (chunks of 12 M adjacency entries, ~16 bytes each;
  the released code's nulls: 64 dense float64 graphs at once).
- the runtime: the worker process with torch loaded (~460 MB measured, 512 MiB taken).

FLOPs count the matmuls (2 per multiply-add): per optimiser step the recurrent product
forward and its two backward products over T - 1 steps, the input and read-out products;
the communicability's exponential (5 Taylor products and ~2 squarings, backward twice the
forward); per evaluation the forward over the held-out trials; per run one A @ A product per
null graph. The worker-time rate that turns them into seconds is a setting calibrated on
measured runs (docs/operations.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from cortexrnn.services.priors.conditions import Condition
from cortexrnn.services.spec.model import ExperimentSpec, RunSpec, TaskEntry
from cortexrnn.services.tasks.registry import get_task

F32, F64, BF16 = 4, 8, 2
RUNTIME_BYTES = 512 * 2**20
WEIGHT_COPIES = 5  # value, gradient, Adam m and v, one temporary
EXPM_MATRICES = 24  # N x N float32 tensors the communicability keeps for its backward
PACK_PRIOR_MATRICES = 4  # functional (correlation, STTC, their product) and anatomical, float64
ROW_OBJECT_BYTES = 200  # one small per-step tensor object and its storage
GRID_POINT_BYTES = 100  # a Python tuple of three ints in a list, then 3 float64
NULL_CHUNK_ENTRIES = 12_000_000  # services/topology/metrics.py::CHUNK_ENTRIES
NULL_ENTRY_BYTES = 16
RELEASED_NULL_CHUNK = 64  # services/topology/released_nulls.py
RELEASED_NULL_ENTRY_BYTES = 24
EXPM_PRODUCTS = 7  # 5 Taylor products and about 2 squarings


@dataclass(frozen=True)
class MemoryParts:
    """Bytes of one network's training alone (`per network` parts) and of what a pack holds
    once (`runtime`, and the transients `grid` and `nulls`)."""

    runtime: int
    weights: int
    regulariser: int
    priors: int
    pack_priors: int
    history: int
    activations: int
    grid: int
    nulls: int

    def pack_peak(self, networks: int) -> int:
        """Peak bytes of a pack of `networks` such networks: what they keep, plus the largest
        of the training step's activations, a grid being built, or the nulls."""
        kept = networks * (self.weights + self.regulariser + self.priors + self.history)
        transient = max(networks * self.activations, self.grid, self.nulls)
        return self.runtime + self.pack_priors + kept + transient

    @property
    def peak(self) -> int:
        return self.pack_peak(1)

    def largest(self, networks: int) -> str:
        """The part that dominates a pack of `networks`: what to shrink first."""
        parts = {
            "activations": networks * self.activations,
            "grid": self.grid,
            "nulls": self.nulls,
            "weights": networks * (self.weights + self.regulariser + self.priors),
            "history": networks * self.history,
        }
        return max(parts, key=lambda k: parts[k])


@dataclass(frozen=True)
class RunCost:
    task: str  # the run label
    condition: str
    n_units: int
    trial_steps: int  # time steps per trial
    train_steps: int  # optimiser steps
    memory: MemoryParts
    flops: float


def _timing(task: TaskEntry) -> tuple[int, str]:
    """The task's trial length and its longest period's parameter name (what to shorten)."""
    t = get_task(task.name, **task.params)
    periods = {k: v for k, v in asdict(t).items() if isinstance(v, int) and not isinstance(v, bool)}
    longest = max(periods, key=lambda k: periods[k]) if periods else "params"
    return t.n_steps, longest


def trial_steps(task: TaskEntry) -> int:
    return _timing(task)[0]


def longest_period(task: TaskEntry) -> str:
    """`tasks[<i>].params.<this>` is the field a refusal of the trial's length names."""
    return _timing(task)[1]


def n_evaluations(spec: ExperimentSpec) -> int:
    cfg = spec.training
    every = cfg.eval_every_steps
    return cfg.epochs + (cfg.total_steps // every if every else 0)


def grid_points(condition: Condition, n_units: int) -> int:
    if condition.space != "grid":
        return 0
    if condition.grid_shape is None:
        return n_units  # the default grid holds exactly N (services/priors/space.py)
    x, y, z = condition.grid_shape
    return x * y * z


def run_memory(
    spec: ExperimentSpec, task: TaskEntry, condition: Condition, n_units: int, n_nulls: int
) -> MemoryParts:
    n = n_units
    t_task = get_task(task.name, **task.params)
    t, n_in, n_out = t_task.n_steps, t_task.n_inputs, t_task.n_outputs
    cfg, model = spec.training, spec.model
    b = cfg.batch_size
    saved = 2 + (model.alpha < 1.0) + (model.noise_rec > 0)
    activations = F32 * (saved * t * b * n + 3 * t * b * n_in)
    if cfg.precision == "bf16-mixed":
        activations += BF16 * t * b * n
    params = n * n + n * n_in + n_out * n + n + n_out
    regulariser = F32 * n * n * (1 + (EXPM_MATRICES if condition.communicability != "none" else 0))
    priors = F64 * n * n * (1 + (condition.space != "none"))
    snapshots = 2 * (cfg.epochs + 1) * F32 * n * n
    rows = (cfg.total_steps + n_evaluations(spec)) * (2 * 3 * F64 + ROW_OBJECT_BYTES)
    nulls = 0
    if n_nulls > 0:
        per_chunk = max(NULL_CHUNK_ENTRIES, n * n)
        nulls = NULL_ENTRY_BYTES * min(per_chunk, n_nulls * n * n)
        if spec.fidelity.released_nulls:
            released = RELEASED_NULL_ENTRY_BYTES * min(RELEASED_NULL_CHUNK, n_nulls) * n * n
            nulls = max(nulls, released)
    return MemoryParts(
        runtime=RUNTIME_BYTES,
        weights=F32 * WEIGHT_COPIES * params,
        regulariser=regulariser,
        priors=priors,
        pack_priors=F64 * PACK_PRIOR_MATRICES * n * n,
        history=snapshots + rows,
        activations=activations,
        grid=GRID_POINT_BYTES * grid_points(condition, n),
        nulls=nulls,
    )


def run_flops(
    spec: ExperimentSpec, task: TaskEntry, condition: Condition, n_units: int, n_nulls: int
) -> float:
    n = float(n_units)
    t_task = get_task(task.name, **task.params)
    t, n_in, n_out = float(t_task.n_steps), t_task.n_inputs, t_task.n_outputs
    cfg = spec.training
    b = float(cfg.batch_size)
    recurrent = 3 * 2 * max(t - 1, 0.0) * b * n * n  # W h forward; dpre W and dW backward
    inputs = 2 * 2 * t * b * n * n_in  # the drive forward and U's gradient
    readout = 3 * 2 * b * n * n_out
    expm = 3 * EXPM_PRODUCTS * 2 * n**3 if condition.communicability != "none" else 0.0
    per_step = recurrent + inputs + readout + expm
    per_eval = float(cfg.test_trials) * 2 * (t * n * n + t * n * n_in + n * n_out)
    measure = n_nulls * 2 * n**3
    return cfg.total_steps * per_step + n_evaluations(spec) * per_eval + measure


@dataclass(frozen=True)
class Variant:
    """One condition as its runs train it: with a sweep, each point of each condition, with
    the point's effective training, model and sampling (`spec` has them and that condition
    alone). A run's cost does not depend on its seed."""

    label: str
    condition: Condition
    spec: ExperimentSpec
    n_units: int


def variants(spec: ExperimentSpec, n_units: int) -> list[Variant]:
    """`n_units`: the selection's size for the spec's own sampling; a swept sampling gives
    its own `n_neurons` where it sets one."""
    out = []
    for swept in spec.swept_conditions():
        run = RunSpec(
            condition_name=swept.label,
            condition=swept.condition,
            seed=spec.seed_list[0],
            task=spec.tasks[0],
            point=swept.point,
        )
        own = spec.spec_for(run)
        units = n_units
        if own.sampling != spec.sampling and own.sampling.n_neurons is not None:
            units = own.sampling.n_neurons
        out.append(Variant(swept.label, swept.condition, own, units))
    return out


def estimate_runs(
    spec: ExperimentSpec, n_units: int, n_nulls: int
) -> list[tuple[RunCost, Variant]]:
    """One estimate per (task, variant)."""
    out = []
    for task in spec.tasks:
        steps = trial_steps(task)
        for v in variants(spec, n_units):
            cost = RunCost(
                task=task.run_label,
                condition=v.label,
                n_units=v.n_units,
                trial_steps=steps,
                train_steps=v.spec.training.total_steps,
                memory=run_memory(v.spec, task, v.condition, v.n_units, n_nulls),
                flops=run_flops(v.spec, task, v.condition, v.n_units, n_nulls),
            )
            out.append((cost, v))
    return out


@dataclass(frozen=True)
class PackCost:
    task: str
    networks: int
    peak_bytes: int
    largest: str  # the part that dominates it (MemoryParts.largest)
    worst: RunCost  # the condition whose networks cost most


@dataclass(frozen=True)
class ExperimentCost:
    n_runs: int
    n_units: int
    runs: list[RunCost]  # per (task, variant)
    packs: list[PackCost]  # the largest pack of each task and settings this experiment forms
    flops_total: float
    seconds_per_flop: float

    @property
    def run_peak_bytes(self) -> int:
        return max(r.memory.peak for r in self.runs)

    @property
    def pack_peak_bytes(self) -> int:
        return max(p.peak_bytes for p in self.packs)

    @property
    def pack_networks(self) -> int:
        return max(p.networks for p in self.packs)

    @property
    def run_flops_max(self) -> float:
        return max(r.flops for r in self.runs)

    @property
    def worker_seconds(self) -> float:
        return self.flops_total * self.seconds_per_flop

    @property
    def worker_seconds_per_run(self) -> float:
        return self.worker_seconds / self.n_runs


def _settings_key(v: Variant) -> str:
    s = v.spec
    return s.sampling.model_dump_json() + s.model.model_dump_json() + s.training.model_dump_json()


def estimate(
    spec: ExperimentSpec, n_units: int, *, max_pack_size: int, flops_per_s: float, n_nulls: int
) -> ExperimentCost:
    """The experiment's cost with `n_units` neurons per network (the selection's size), packs
    of at most `max_pack_size` networks, a worker doing `flops_per_s` of this work and
    `n_nulls` null graphs per run's topology measurement."""
    runs = estimate_runs(spec, n_units, n_nulls)
    seeds = len(spec.seed_list)
    # A pack trains one task with one training, model and sampling (spec.pack_key); its
    # networks mix the conditions and seeds.
    groups: dict[tuple[str, str], list[RunCost]] = {}
    for cost, v in runs:
        groups.setdefault((cost.task, _settings_key(v)), []).append(cost)
    packs = []
    for (task, _), members in groups.items():
        networks = min(max_pack_size, seeds * len(members))
        worst = max(members, key=lambda r: r.memory.pack_peak(networks))
        packs.append(
            PackCost(
                task=task,
                networks=networks,
                peak_bytes=worst.memory.pack_peak(networks),
                largest=worst.memory.largest(networks),
                worst=worst,
            )
        )
    return ExperimentCost(
        n_runs=spec.n_runs,
        n_units=n_units,
        runs=[c for c, _ in runs],
        packs=packs,
        flops_total=seeds * sum(c.flops for c, _ in runs),
        seconds_per_flop=1.0 / flops_per_s,
    )


def pack_peak_bytes(
    spec: ExperimentSpec, n_units: int, networks: int, *, n_nulls: int, runtime: bool = True
) -> int:
    """Peak bytes of one pack of `networks` networks of `spec` (its costliest task and
    condition): what a worker may hold a pack's process to, plus a margin. `runtime=False`
    leaves out the worker process itself (a limit counted from the process's start)."""
    worst = max(
        cost.memory.pack_peak(networks) for cost, _ in estimate_runs(spec, n_units, n_nulls)
    )
    return worst - (0 if runtime else RUNTIME_BYTES)
