"""The paper's grid on one device, per precision: network-steps/s, the grid's training time,
and the fraction of the device's matmul and memory-bandwidth roofs it reaches.

    python benchmarks/gpu.py [--device cuda] [--precisions fp32,tf32,bf16-mixed] [--seeds 20]
                             [--budget-s 25] [--tiny]

The grid is the paper's: eleven variants x `--seeds` seeds x three tasks (660 networks at
20 seeds) on field 6_6_2 (N = 312; `CORTEXRNN_MICRONS_DIR`), each network 400 optimiser steps
of batch 128 (10 epochs of 5,120 trials). Each task's networks form packs as large as the
device's free memory allows (measured: one step of an 11-network pack, its peak memory per
network, 80 % of what is free), and each pack trains for up to `--budget-s` seconds per
precision; the rest of its 400 steps is extrapolated from the measured rate (say so where
it is). Priors are built once per variant and shared by the seeds (their training data and
noise differ by seed), so the figures are training alone: the final metrics with 1,000 nulls
run on the host's CPUs (benchmarks/grid.py).

Roofs, measured in the same run: a large float32 matmul with TF32 off, the same with TF32 on,
a bfloat16 one, and a device-to-device copy for memory bandwidth. The matmul fraction is the
nominal flops of the recurrent and input products (forward and backward) and of the
regulariser's matrix exponentials over time, against the roof of the precision's products.
The bandwidth fraction counts each network's recurrent weights read once per time step
forward and twice backward, and its [T, B, N] activations written once and read twice: a
lower bound of the traffic, so a lower bound of the fraction.

`--tiny` runs every code path on the CPU in seconds (a toy shape: its numbers mean nothing);
tests/training/test_gpu_benchmark.py runs it.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from training import make_priors, matmul_roof, nominal_flops, step_seconds, sync

from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.priors.network_prior import NetworkPrior
from cortexrnn.services.tasks import get_task
from cortexrnn.services.tasks.base import Task
from cortexrnn.services.training.config import TrainingConfig
from cortexrnn.services.training.trainer import PopulationTrainer

TASKS = ("one_choice_inference", "go_no_go", "perceptual_decision_making")
PAPER_STEPS = 400  # 10 epochs x 5,120 trials / batch 128
MEMORY_FILL = 0.8


@dataclass
class Shape:
    n: int
    batch: int
    steps: int  # optimiser steps per network
    tasks: dict[str, dict[str, int]]  # task -> parameters (timings in steps)


PAPER = Shape(312, 128, PAPER_STEPS, {t: {} for t in TASKS})
TINY = Shape(
    16,
    8,
    6,
    {
        "one_choice_inference": {"goal": 2, "delay": 2, "choices": 2},
        "go_no_go": {"fixation": 2, "stimulus": 3, "delay": 2, "decision": 2},
        "perceptual_decision_making": {"fixation": 2, "stimulus": 3, "delay": 2, "decision": 2},
    },
)


def paper_priors(seeds: int) -> list[NetworkPrior]:
    """The eleven variants on field 6_6_2 at paper fidelity, each shared by `seeds` seeds."""
    from cortexrnn.services.connectome.local import ingest_field_folders
    from cortexrnn.services.priors.builder import build_network_priors
    from cortexrnn.services.priors.conditions import Fidelity
    from cortexrnn.services.priors.presets import expand_preset

    root = Path(
        os.environ.get("CORTEXRNN_MICRONS_DIR", Path(__file__).parents[2] / "shared/data/microns")
    )
    if not (root / "6_6_2").is_dir():
        raise SystemExit(f"field 6_6_2 not found under {root}; set CORTEXRNN_MICRONS_DIR")
    field = ingest_field_folders([root / "6_6_2"], name="6_6_2")
    preset = expand_preset("paper-2026")
    variants = build_network_priors(
        field, None, [(c, 0) for c in preset.values()], Fidelity.paper()
    )
    return [pr for _ in range(seeds) for pr in variants]


def bandwidth_roof(device: str, mib: int) -> float:
    """GB/s of a device-to-device copy (bytes read plus bytes written)."""
    x = torch.empty(mib * 2**20 // 4, dtype=torch.float32, device=device)
    y = torch.empty_like(x)
    y.copy_(x)
    times = []
    for _ in range(5):
        sync(device)
        t0 = time.perf_counter()
        y.copy_(x)
        sync(device)
        times.append(time.perf_counter() - t0)
    return 2 * x.numel() * 4 / min(times) / 1e9


def low_precision_roof(device: str, size: int) -> float:
    a = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    b = torch.randn(size, size, device=device, dtype=torch.bfloat16)
    a @ b
    best = math.inf
    for _ in range(5):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * size**3 / best / 1e9


def nominal_bytes(networks: int, batch: int, t: int, n: int) -> float:
    """Bytes one optimiser step of the pack moves at least (see the module's docstring)."""
    weights = 3 * t * n * n * 4
    activations = 3 * t * batch * n * 4
    return networks * (weights + activations)


def train_cfg(shape: Shape, precision: str) -> TrainingConfig:
    return TrainingConfig(
        batch_size=shape.batch,
        train_trials=shape.batch * shape.steps,
        test_trials=shape.batch,
        epochs=1,
        checkpoint_every_steps=None,
        precision=precision,
    )


def pack_networks(
    priors: list[NetworkPrior], task: Task, shape: Shape, precision: str, device: str
) -> int:
    """Networks per pack: all of them on the CPU; on CUDA as many as 80 % of the free
    memory holds, from the peak of one step of an 11-network probe."""
    if not device.startswith("cuda"):
        return len(priors)
    probe = priors[:11]
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    trainer = PopulationTrainer(
        probe, list(range(len(probe))), task, ModelConfig(), train_cfg(shape, precision), device
    )
    step_seconds(trainer, 1, device)
    per_network = (torch.cuda.max_memory_allocated() - base) / len(probe)
    del trainer
    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info()
    return max(1, min(len(priors), int(free * MEMORY_FILL // per_network)))


@dataclass
class Measured:
    networks: int = 0
    packs: int = 0
    pack_size: int = 0
    seconds: float = 0.0  # measured, whole packs' steps
    grid_seconds: float = 0.0  # all networks' full training, measured or extrapolated
    flops: float = 0.0  # nominal, of the measured steps
    bytes: float = 0.0
    extrapolated: bool = False


def measure(
    priors: list[NetworkPrior], shape: Shape, precision: str, device: str, budget_s: float
) -> Measured:
    out = Measured()
    for name, params in shape.tasks.items():
        task = get_task(name, **params)
        size = pack_networks(priors, task, shape, precision, device)
        out.pack_size = max(out.pack_size, size)
        for start in range(0, len(priors), size):
            pack = priors[start : start + size]
            trainer = PopulationTrainer(
                pack,
                list(range(start, start + len(pack))),
                task,
                ModelConfig(),
                train_cfg(shape, precision),
                device,
            )
            step_seconds(trainer, 1, device)  # warm-up: allocator, kernels, graphs
            done, spent = 0, 0.0
            while done < shape.steps - 1 and spent < budget_s:
                chunk = min(10, shape.steps - 1 - done)
                spent += step_seconds(trainer, chunk, device) * chunk
                done += chunk
            per_step = spent / done
            out.seconds += spent
            out.grid_seconds += per_step * shape.steps
            out.extrapolated |= done < shape.steps - 1
            out.flops += nominal_flops(pack, shape.batch, task.n_steps, task.n_inputs) * done
            out.bytes += nominal_bytes(len(pack), shape.batch, task.n_steps, shape.n) * done
            out.packs += 1
            del trainer
    out.networks = len(priors) * len(shape.tasks)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--precisions", default=None, help="default: fp32,tf32,bf16-mixed on CUDA")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--budget-s", type=float, default=25.0, help="per pack and precision")
    ap.add_argument("--tiny", action="store_true", help="a toy shape on any device, in seconds")
    args = ap.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"--device {args.device}: this torch has no CUDA device; use --device cpu")
    cuda = args.device.startswith("cuda")
    precisions = (args.precisions or ("fp32,tf32,bf16-mixed" if cuda else "fp32,bf16-mixed")).split(
        ","
    )
    shape = TINY if args.tiny else PAPER
    if args.tiny:
        priors = make_priors(shape.n, max(1, min(args.seeds, 2)), np.random.default_rng(0))
    else:
        priors = paper_priors(args.seeds)
    name = torch.cuda.get_device_name(args.device) if cuda else platform.processor() or "cpu"
    print(
        f"# gpu benchmark: {name}, torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M')}; "
        f"{len(priors)} networks per task x {len(shape.tasks)} tasks, N = {shape.n}, "
        f"batch {shape.batch}, {shape.steps} steps each"
    )
    roof_size = 512 if args.tiny else 8192
    torch.backends.cuda.matmul.allow_tf32 = False
    roofs = {"fp32": matmul_roof(args.device, roof_size, reps=3)}
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        roofs["tf32"] = matmul_roof(args.device, roof_size, reps=3)
        torch.backends.cuda.matmul.allow_tf32 = False
    roofs["bf16-mixed"] = low_precision_roof(args.device, roof_size)
    bandwidth = bandwidth_roof(args.device, 64 if args.tiny else 2048)
    print(
        "roofs: "
        + ", ".join(f"{k} matmul {v:,.0f} GFLOP/s" for k, v in roofs.items())
        + f", copy {bandwidth:,.0f} GB/s"
    )
    header = (
        f"{'precision':<11} {'pack':>5} {'packs':>5} {'net-steps/s':>12} {'GFLOP/s':>9} "
        f"{'% matmul':>9} {'% bandwidth':>12} {'grid train':>11}"
    )
    print(header)
    for precision in precisions:
        m = measure(priors, shape, precision, args.device, args.budget_s)
        steps = m.networks * shape.steps
        rate = steps / m.grid_seconds
        gflops = m.flops / m.seconds / 1e9
        gbs = m.bytes / m.seconds / 1e9
        roof = roofs.get(precision, roofs["fp32"])
        grid = f"{m.grid_seconds / 60:.1f} min" + (" (ext.)" if m.extrapolated else "")
        print(
            f"{precision:<11} {m.pack_size:>5} {m.packs:>5} {rate:>12,.0f} {gflops:>9,.1f} "
            f"{100 * gflops / roof:>8.1f}% {100 * gbs / bandwidth:>11.1f}% {grid:>11}"
        )


if __name__ == "__main__":
    main()
