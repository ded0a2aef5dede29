"""Training speed per precision: one pack of the paper's condition mix at the paper's shape,
fp32 against bf16-mixed (and tf32 on CUDA), steps interleaved round by round in one run so
that load from other processes hits every precision alike. Also the raw batched product at
that shape, float32 against bfloat16, as the ceiling of what bf16 can gain.

    python benchmarks/precision.py [--threads 1] [--rounds 5] [--steps 4] [--device cpu] [--tiny]

Prints network-steps/s per precision and the ratio to fp32 (medians over rounds). Whether
bf16-mixed is accurate enough is a separate question (tests/training/test_precision.py and
the equivalence experiments in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from training import DEC, DELAY, FIX, PAPER_MIX, STIM, make_priors, step_seconds, sync

from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.tasks import get_task
from cortexrnn.services.training.config import TrainingConfig
from cortexrnn.services.training.trainer import PopulationTrainer


def product_gflops(p: int, b: int, n: int, dtype: torch.dtype, device: str, reps: int) -> float:
    h = torch.randn(p, b, n, device=device).to(dtype)
    w = torch.randn(p, n, n, device=device).to(dtype)
    torch.bmm(h, w)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        torch.bmm(h, w)
    sync(device)
    return 2.0 * p * b * n * n * reps / (time.perf_counter() - t0) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=4, help="optimiser steps per round")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--tiny", action="store_true", help="a toy shape: every code path, no meaning")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    n, batch, seeds = (24, 8, 1) if args.tiny else (312, 128, 2)
    precisions = ["fp32", "bf16-mixed"] + (["tf32"] if args.device.startswith("cuda") else [])

    rng = np.random.default_rng(0)
    priors = make_priors(n, seeds, rng)
    task = get_task("go_no_go", fixation=FIX, stimulus=STIM, delay=DELAY, decision=DEC)
    trainers = {}
    for precision in precisions:
        cfg = TrainingConfig(
            batch_size=batch,
            train_trials=batch * 40,
            epochs=1,
            checkpoint_every_steps=None,
            precision=precision,
        )
        trainers[precision] = PopulationTrainer(
            priors, list(range(len(priors))), task, ModelConfig(), cfg, device=args.device
        )
    times: dict[str, list[float]] = {p: [] for p in precisions}
    for _ in range(args.rounds):
        for precision, trainer in trainers.items():
            if trainer.step + args.steps > trainer.cfg.total_steps:
                trainer.step = 0
            times[precision].append(step_seconds(trainer, args.steps, args.device))
    nets = len(priors)
    print(f"pack: {nets} networks ({len(PAPER_MIX)} variants x {seeds}), N = {n}, batch {batch}, "
          f"{args.threads} thread(s), {args.device}")  # fmt: skip
    base = statistics.median(times["fp32"])
    for precision in precisions:
        t = statistics.median(times[precision])
        print(f"  {precision:<10} {nets / t:8.2f} network-steps/s   x{base / t:.2f} vs fp32")
    p, reps = (2, 3) if args.tiny else (nets, 20)
    f32 = product_gflops(p, batch, n, torch.float32, args.device, reps)
    b16 = product_gflops(p, batch, n, torch.bfloat16, args.device, reps)
    print(f"  batched product [{p} x {batch} x {n}] @ [{n} x {n}]: float32 {f32:.0f} GFLOP/s, "
          f"bfloat16 {b16:.0f} GFLOP/s (x{b16 / f32:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
