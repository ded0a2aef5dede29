"""What a pack costs once some of its networks stopped training (diverged, or stopped early):
the paper's eleven-variant mix at N = 312 (batch 128, go/no-go with 45-step trials), one
optimiser step with every network training (the baseline) against steps with only K of them
still training, interleaved round by round in one run.

    python benchmarks/frozen_networks.py [--rounds 5] [--steps 3] [--training 5,8] [--tiny]

Before 2026-12-06 a frozen network stayed in the pack's batched products (its loss and update
masked), so every row here cost what the baseline costs; now only the networks still training
are computed. Table 3's positive-only packs are the case in point: 6 of the 11 variants
diverge within two steps. Run with the GLIBC_TUNABLES pack processes
get (worker/malloc_tunables.py, docs/operations.md) to match them.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
import torch
from training import DEC, DELAY, FIX, STIM, make_priors, step_seconds

from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.tasks import get_task
from cortexrnn.services.training.config import TrainingConfig
from cortexrnn.services.training.trainer import PopulationTrainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--training", default="5,8", help="networks still training, comma-separated")
    ap.add_argument("--tiny", action="store_true", help="a toy shape: the code path, no meaning")
    args = ap.parse_args()
    torch.set_num_threads(1)
    n, batch = (24, 8) if args.tiny else (312, 128)
    priors = make_priors(n, 1, np.random.default_rng(0))
    task = get_task("go_no_go", fixation=FIX, stimulus=STIM, delay=DELAY, decision=DEC)
    cfg = TrainingConfig(
        batch_size=batch, train_trials=batch * 40, epochs=100, checkpoint_every_steps=None
    )
    trainer = PopulationTrainer(priors, list(range(len(priors))), task, ModelConfig(), cfg)
    p = len(priors)
    masks = {p: torch.ones(p, dtype=torch.bool)}
    for k in (int(v) for v in args.training.split(",")):
        mask = torch.zeros(p, dtype=torch.bool)
        mask[torch.randperm(p, generator=torch.Generator().manual_seed(k))[:k]] = True
        masks[k] = mask
    step_seconds(trainer, 1, "cpu", masks[p])  # warm-up
    times: dict[int, list[float]] = {k: [] for k in masks}
    for _ in range(args.rounds):
        for k, mask in masks.items():
            times[k].append(step_seconds(trainer, args.steps, "cpu", mask))
    base = statistics.median(times[p])
    print(f"pack of {p} networks, N = {n}, batch {batch}, 1 thread (medians of {args.rounds})")
    for k in masks:
        t = statistics.median(times[k])
        print(f"  {k:>2} of {p} training: {t:7.3f} s/step  x{base / t:.2f} vs all training "
              f"(proportional: x{p / k:.2f})")  # fmt: skip


if __name__ == "__main__":
    main()
