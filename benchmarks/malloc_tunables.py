"""Training steps under each of glibc's malloc settings that pack processes may get
(worker/malloc_tunables.py).

glibc reads its tunables when a process starts, so each side is a process of its own, all
training the same pack (the paper's eleven-variant mix at N = 312, batch 128, go/no-go with
45-step trials; --precision fp32 or bf16-mixed), round after round in turn, so that load from
other processes hits every side alike:

- default: no tunables (pack processes before 2026-12-06);
- huge pages: glibc.malloc.hugetlb=1;
- huge pages, freed memory kept: also mmap_max=0 and a trim_threshold beyond any heap (what
  pack processes get now).

    python benchmarks/malloc_tunables.py [--rounds 4] [--steps 4] [--seeds 1] [--precision fp32]

Prints, per side, the median seconds per optimiser step of the pack, its network-steps/s, the
minor page faults per step, the process's peak resident memory and its private memory mapped
at the end (VmData, what the pack's memory limit counts, after the steps and one held-out
evaluation), and the speed ratio to the default.
`--child` is the measuring process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from training import DEC, DELAY, FIX, STIM, make_priors, step_seconds

from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.tasks import get_task
from cortexrnn.services.training.config import TrainingConfig
from cortexrnn.services.training.trainer import PopulationTrainer
from cortexrnn.worker.malloc_tunables import pack_tunables, with_tunables
from cortexrnn.worker.pack_memory import data_mb


def child(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    n, batch = (24, 8) if args.tiny else (312, 128)
    priors = make_priors(n, args.seeds, np.random.default_rng(0))
    task = get_task("go_no_go", fixation=FIX, stimulus=STIM, delay=DELAY, decision=DEC)
    cfg = TrainingConfig(
        batch_size=batch,
        train_trials=batch * 40,
        test_trials=batch * 20,
        epochs=1,
        checkpoint_every_steps=None,
        precision=args.precision,
    )
    trainer = PopulationTrainer(priors, list(range(len(priors))), task, ModelConfig(), cfg)
    step_seconds(trainer, 1, "cpu")  # warm-up: first-call costs are not per step
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    seconds = step_seconds(trainer, args.steps, "cpu")
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / args.steps
    trainer.evaluate()
    print(
        json.dumps(
            {
                "networks": len(priors),
                "seconds": seconds,
                "faults": faults,
                "data_mb": data_mb(),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=4, help="optimiser steps measured per round")
    ap.add_argument("--seeds", type=int, default=1, help="pack of 11 x SEEDS networks")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16-mixed"])
    ap.add_argument("--tiny", action="store_true", help="a toy shape: the code path, no meaning")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    plain = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    sides = {
        "default": plain,
        "huge pages": {**plain, "GLIBC_TUNABLES": with_tunables(None, pack_tunables(True, False))},
        "+ kept heap": {**plain, "GLIBC_TUNABLES": with_tunables(None, pack_tunables())},
    }
    here = Path(__file__).resolve().parent
    cmd = [sys.executable, str(here / "malloc_tunables.py"), "--child", "--steps",
           str(args.steps), "--seeds", str(args.seeds), "--precision", args.precision]  # fmt: skip
    if args.tiny:
        cmd.append("--tiny")
    results: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    for _ in range(args.rounds):
        for side, env in sides.items():
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
            results[side].append(json.loads(out.stdout.strip().splitlines()[-1]))
    nets = results["default"][0]["networks"]
    print(f"pack of {nets:.0f} networks, {args.precision}, 1 thread, {args.rounds} rounds "
          f"of {args.steps} steps (medians)")  # fmt: skip
    base = statistics.median(r["seconds"] for r in results["default"])
    for side, rows in results.items():
        s = statistics.median(r["seconds"] for r in rows)
        f = statistics.median(r["faults"] for r in rows)
        mb = max(r["data_mb"] for r in rows)
        rss = max(r["peak_rss_mb"] for r in rows)
        print(f"  {side:<12} {s:7.3f} s/step  {nets / s:7.2f} network-steps/s  "
              f"{f:9.0f} page faults/step  peak RSS {rss:6.0f} MiB  data at end {mb:6.0f} MiB  "
              f"x{base / s:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
