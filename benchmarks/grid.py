"""The paper's whole grid, extrapolated from one run: the project's per-network cost end to end
(priors, training, final metrics with 1,000 nulls), per precision, against a transcription of
the released pipeline on the same networks, measured in the same run.

    python benchmarks/grid.py [--variants 'W,WD*C,W*D*C*,W!D*C'] [--steps 6] [--ref-nulls 10]
                              [--precisions fp32,bf16-mixed] [--threads 1] [--workers 2]
                              [--seeds 1]

Both sides train the same networks: field 6_6_2 (N = 312) at paper fidelity, go/no-go at the
paper's 45-step timing, batch 128, 400 optimiser steps per network (10 epochs x 40 steps); only
`--steps` steps are timed and the rest is extrapolated (the cost per step is flat).

- project: one pack of the variants (`--seeds` each) in `PopulationTrainer` per precision,
  then `compute_metrics` of every network with its seed (1,000 density-matched nulls and
  1,000 released-code nulls, drawn once per seed in a process as in a pack's), and the
  held-out evaluation (2,560 trials);
- released: each network alone, Keras-style (benchmarks/training.py's `NaiveNet`: trials
  built in numpy, a Python time loop, the regulariser with `matrix_exp`, torch Adam), and its
  small-world nulls one at a time as the notebook draws them (`(U + U.T) / 2 > 0.7`, bctpy's
  clustering and efficiency), `--ref-nulls` of them timed and scaled to 1,000, plus the
  per-graph metrics with networkx.

The grid: 11 variants x 3 tasks x 20 seeds = 660 networks, on `--workers` worker processes
of `--threads` threads each (both cores of this machine: 2 x 1). The benchmark runs in
`--workers` processes at once, each timing its own copy with the phases started together (a
barrier), so the figures include what two workers on one box cost each other (memory
bandwidth, caches); the grid uses their mean. The released side is measured first, in plain
processes; then the project's, in processes with the pack processes' malloc tunables
(worker/malloc_tunables.py). `--seeds S` packs each variant S times (the
service packs up to 24-32 networks of a task; 1 gives a pack of the variants alone).
Printed: seconds per network on each side, the ratio, and the grid's hours; and per precision
the training floor: the seconds per network that training's nominal matmul flops (recurrent and
input products forward and backward, the regulariser's matrix exponentials) take at the matmul
roofs measured in the same run (the best of a 2048² product in float32 and in bfloat16; the
products in the precision's dtype, the exponentials in float32), i.e. the least any
implementation of these products could spend on this box. docs/benchmarks.md records a run.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu import low_precision_roof
from topology import reference_suite
from training import (
    DEC,
    DELAY,
    FIX,
    STIM,
    NaiveNet,
    matmul_roof,
    naive_round,
    nominal_flop_parts,
)

from cortexrnn.services.connectome.local import ingest_field_folders
from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.priors.builder import build_network_priors
from cortexrnn.services.priors.conditions import Fidelity
from cortexrnn.services.priors.network_prior import NetworkPrior
from cortexrnn.services.priors.presets import expand_preset
from cortexrnn.services.tasks import get_task
from cortexrnn.services.tasks.base import Task
from cortexrnn.services.topology import compute_metrics
from cortexrnn.services.training.config import TrainingConfig
from cortexrnn.services.training.trainer import PopulationTrainer
from cortexrnn.worker import malloc_tunables

GRID_NETWORKS = 11 * 3 * 20
STEPS_PER_NETWORK = 10 * 40
BATCH = 128


def field_dir() -> Path:
    root = Path(
        os.environ.get("CORTEXRNN_MICRONS_DIR", Path(__file__).parents[2] / "shared/data/microns")
    )
    if not (root / "6_6_2").is_dir():
        raise SystemExit(f"field 6_6_2 not found under {root}; set CORTEXRNN_MICRONS_DIR")
    return root / "6_6_2"


def released_null_seconds(n: int, count: int) -> float:
    """Seconds per null as the notebook computes them: one draw, bctpy clustering and
    efficiency on it."""
    import bct

    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    for _ in range(count):
        u = rng.random((n, n))
        a = ((u + u.T) / 2 > 0.7).astype(float)
        bct.clustering_coef_bu(a).mean()
        bct.efficiency_bin(a)
    return (time.perf_counter() - t0) / count


def project_seconds(
    priors: list[NetworkPrior], precision: str, steps: int, task: Task, sync: Callable[[], None]
) -> dict[str, float]:
    cfg = TrainingConfig(
        batch_size=BATCH,
        train_trials=BATCH * 40,
        test_trials=2560,
        epochs=10,
        checkpoint_every_steps=None,
        precision=precision,
    )
    trainer = PopulationTrainer(priors, list(range(len(priors))), task, ModelConfig(), cfg)
    active = torch.ones(len(priors), dtype=torch.bool)
    trainer._train_step(active)  # warm-up
    trainer.step += 1
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer._train_step(active)
        trainer.step += 1
    step = (time.perf_counter() - t0) / steps / len(priors)
    t0 = time.perf_counter()
    trainer.evaluate()
    evaluate = (time.perf_counter() - t0) / len(priors)
    return {"train": step * STEPS_PER_NETWORK, "evaluate": evaluate}


def metrics_seconds(w: np.ndarray, distance: np.ndarray | None, seed: int) -> float:
    t0 = time.perf_counter()
    compute_metrics(w, distance, n_nulls=1000, released_nulls=1000, seed=seed)
    return time.perf_counter() - t0


def _pack_priors(args: argparse.Namespace) -> tuple[list[NetworkPrior], float]:
    """The pack's priors on field 6_6_2 and the seconds per network they took to build."""
    field = ingest_field_folders([field_dir()], name="6_6_2")
    preset = expand_preset("paper-2026")
    names = args.variants.split(",")
    t0 = time.perf_counter()
    priors = build_network_priors(
        field,
        None,
        [(preset[name], seed) for seed in range(args.seeds) for name in names],
        Fidelity.paper(),
    )
    return priors, (time.perf_counter() - t0) / len(priors)


def measure_released(
    args: argparse.Namespace, sync: Callable[[], None]
) -> dict[str, dict[str, float]]:
    """Each variant's network alone, Keras-style, then its metrics with notebook-style nulls."""
    priors, _ = _pack_priors(args)
    names = args.variants.split(",")
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    nets = []
    for pr in priors[: len(names)]:
        net = NaiveNet(pr, 3, 2)  # the go/no-go trials of training.numpy_trials
        nets.append((net, torch.optim.Adam(net.parameters(), lr=1e-3)))
    naive_round(nets[:1], BATCH, rng, "cpu")  # warm-up
    sync()
    naive = statistics.median(
        naive_round(nets, BATCH, rng, "cpu") / len(nets) for _ in range(args.steps)
    )
    sync()
    t_graph, _t_gnm, _t_rewire = reference_suite(priors[0].w_init, 2, seed=0)
    released = {
        "train": naive * STEPS_PER_NETWORK,
        "metrics": t_graph[0] + 1000 * released_null_seconds(priors[0].n_units, args.ref_nulls),
    }
    released["total"] = released["train"] + released["metrics"]
    return {"released (transcribed)": released}


def measure_project(
    args: argparse.Namespace, sync: Callable[[], None]
) -> dict[str, dict[str, float]]:
    """The pack per precision, the final metrics, and the training floor at the roofs."""
    priors, prior_s = _pack_priors(args)
    # the naive side's trials (training.numpy_trials): go/no-go, 45 steps
    task = get_task("go_no_go", fixation=FIX, stimulus=STIM, delay=DELAY, decision=DEC)
    sync()
    roofs = {
        torch.float32: matmul_roof("cpu") * 1e9,
        torch.bfloat16: low_precision_roof("cpu", 2048) * 1e9,
    }
    products, exponentials = nominal_flop_parts(priors, BATCH, task.n_steps, task.n_inputs)
    sync()
    # Every network of the pack with its run's seed, as a pack process measures them: the
    # networks of one seed share their null graphs (services/topology/metrics.py).
    names = args.variants.split(",")
    metric_s = statistics.mean(
        metrics_seconds(pr.w_init, pr.distance, i // len(names)) for i, pr in enumerate(priors)
    )
    rows = {}
    for precision in args.precisions.split(","):
        p = project_seconds(priors, precision, args.steps, task, sync)
        p["metrics"] = metric_s
        p["priors"] = prior_s
        p["total"] = p["train"] + p["evaluate"] + p["metrics"] + p["priors"]
        low = torch.bfloat16 if precision == "bf16-mixed" else torch.float32
        floor_step = products / roofs[low] + exponentials / roofs[torch.float32]
        p["train floor"] = floor_step / len(priors) * STEPS_PER_NETWORK
        rows[f"project {precision}"] = p
    return rows


def _worker(args: argparse.Namespace, side: str, barrier: Any, out: Any) -> None:
    torch.set_num_threads(args.threads)
    measure = measure_released if side == "released" else measure_project
    out.put(measure(args, barrier.wait))


def measure_side(args: argparse.Namespace, side: str) -> list[dict[str, dict[str, float]]]:
    """`args.workers` processes measuring `side` at once, each phase started together. The
    project's processes start as pack processes do, with their malloc tunables; the released
    side's as the notebook's would, as any Python process."""
    saved = os.environ.get("GLIBC_TUNABLES")
    if side == "project":
        malloc_tunables.enable_for_children(malloc_tunables.pack_tunables())
        print(f"# project processes: GLIBC_TUNABLES={os.environ['GLIBC_TUNABLES']}")
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(args.workers), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(args, side, barrier, out)) for _ in range(args.workers)
    ]
    try:
        for proc in procs:
            proc.start()
    finally:
        if saved is None:
            os.environ.pop("GLIBC_TUNABLES", None)
        else:
            os.environ["GLIBC_TUNABLES"] = saved
    per_worker = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise SystemExit(f"a benchmark worker failed (exit {proc.exitcode})")
    return per_worker


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variants", default="W,WD*C,W*D*C*,W!D*C")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--ref-nulls", type=int, default=10)
    ap.add_argument("--precisions", default="fp32,bf16-mixed")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=1, help="copies of each variant in the pack")
    args = ap.parse_args()
    print(
        f"# grid benchmark: torch {torch.__version__}, {platform.machine()}, {args.threads} "
        f"thread(s) x {args.workers} worker(s) measured at once, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    # numpy's BLAS (bctpy's efficiency, the metrics) gets the workers' threads as torch does:
    # with its default of every core, two workers at once oversubscribe the box and the
    # released side's null timings vary 5x.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    rows: dict[str, dict[str, float]] = {}
    for side in ("released", "project"):
        per_worker = measure_side(args, side)
        for label, first in per_worker[0].items():
            rows[label] = {k: statistics.mean(w[label][k] for w in per_worker) for k in first}
    released = rows["released (transcribed)"]
    names = args.variants.split(",")
    print(
        f"networks per pack: {len(names) * args.seeds} ({', '.join(names)}"
        f"{f' x {args.seeds} seeds' if args.seeds > 1 else ''}); field 6_6_2; go/no-go"
    )
    print(
        f"{'':<24} {'train s':>8} {'eval s':>7} {'metrics s':>10} {'total s':>8} "
        f"{'vs released':>12} {'grid h':>7}"
    )
    for label, r in rows.items():
        grid_h = r["total"] * GRID_NETWORKS / args.workers / 3600
        print(
            f"{label:<24} {r['train']:>8.1f} {r.get('evaluate', 0.0):>7.2f} "
            f"{r['metrics']:>10.1f} {r['total']:>8.1f} "
            f"{released['total'] / r['total']:>11.1f}x {grid_h:>7.2f}"
        )
    print(f"{'training at the roofs':<24} {'train s':>8} {'/ measured':>11} {'grid h':>7}")
    for label, r in rows.items():
        if "train floor" in r:
            floor_h = (r["total"] - r["train"] + r["train floor"]) * GRID_NETWORKS
            print(
                f"{label:<24} {r['train floor']:>8.1f} {r['train floor'] / r['train']:>11.0%} "
                f"{floor_h / args.workers / 3600:>7.2f}"
            )


if __name__ == "__main__":
    main()
