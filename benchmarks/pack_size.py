"""Pack size: what a network's training costs in a small pack against a full one, in one run.

    python benchmarks/pack_size.py [--threads 1] [--sizes 5,10,20,30] [--device cpu]

Why it matters: the scheduler fills a pack with every pending run of the same pack key, from
any experiment, instead of only the head run's experiment. A 15-run single-switch experiment
then trains beside others' runs (one pack of 30 per task) rather than in packs of 5. This
measures whether that pays on this device: `PopulationTrainer` steps of the paper's condition
mix (synthetic priors of the paper's shapes, go/no-go, 45 steps per trial) at each pack size,
interleaved round by round; network-steps/s and ratios to the first size are medians.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from training import DEC, DELAY, FIX, STIM, Shape, make_priors, step_seconds

from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.tasks import get_task
from cortexrnn.services.training.config import TrainingConfig
from cortexrnn.services.training.trainer import PopulationTrainer


def trainer_for(shape: Shape, p: int, device: str) -> PopulationTrainer:
    priors = make_priors(shape.n, -(-p // 11), np.random.default_rng(0))[:p]
    task = get_task("go_no_go", fixation=FIX, stimulus=STIM, delay=DELAY, decision=DEC)
    cfg = TrainingConfig(
        batch_size=shape.batch, train_trials=shape.batch * 40, epochs=1, checkpoint_every_steps=None
    )
    return PopulationTrainer(priors, list(range(p)), task, ModelConfig(), cfg, device=device)


def rate(trainer: PopulationTrainer, steps: int, device: str) -> float:
    """Network-steps per second over `steps` optimiser steps."""
    return len(trainer.priors) / step_seconds(trainer, steps, device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (a serve worker's share of the cores)"
    )
    ap.add_argument(
        "--sizes",
        default="5,10,20,30",
        help="pack sizes; the first (a 15-run experiment's pack per task) is the baseline",
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    torch.set_num_threads(args.threads)
    print(
        f"# pack-size benchmark: torch {torch.__version__}, {platform.machine()}, "
        f"{torch.get_num_threads()} threads, device {args.device}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    print(
        "network-steps/s per pack size; in brackets the per-network speed against the first size, "
        "median over interleaved rounds"
    )
    t_all = time.perf_counter()
    for shape, steps in ((Shape("paper", 312, 128, 0), 2), (Shape("small", 100, 32, 0), 10)):
        trainers = [trainer_for(shape, p, args.device) for p in sizes]
        for t in trainers:
            rate(t, 1, args.device)  # warm-up (allocator, MKL)
        rates: list[list[float]] = [[] for _ in sizes]
        for _ in range(args.rounds):
            for i, t in enumerate(trainers):
                rates[i].append(rate(t, steps, args.device))
        med = statistics.median
        cells = []
        for i, p in enumerate(sizes):
            ratio = med([r / b for r, b in zip(rates[i], rates[0], strict=True)])
            cells.append(f"P={p}: {med(rates[i]):.1f} ({ratio:.2f}x)")
        print(f"{shape.name:<6} N={shape.n:<4} B={shape.batch:<4} " + "   ".join(cells))
        del trainers
    print(f"total {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
