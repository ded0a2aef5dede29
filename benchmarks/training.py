"""Training throughput: the population trainer against a naive transcription of the paper's
released notebook, and against the machine's fp32 matmul roof, in one run.

    python benchmarks/training.py [--threads 2] [--quick | --tiny] [--device cpu]

(a) roof: fp32 2048^2 matmul GFLOP/s.
(b) naive: one network at a time, as the released Keras notebook trains them, transcribed to
    torch: trials built trial by trial in numpy, input noise, a standard autograd time loop
    (over `unbind`, so it does not carry the O(T^2) indexing pitfall), the regulariser
    recomputed every step with `torch.linalg.matrix_exp`, torch Adam.
(c) candidate: `PopulationTrainer` steps for the whole pack (data generation included).

Both train the paper's eleven condition mix (synthetic priors of the same shapes: W only,
+ distance, + communicability with gradient, + EMD) at the paper's shape (N = 312, batch 128,
45 steps per trial) and at a small shape (N = 100, batch 32). Baseline and candidate are
interleaved round by round so that load from other processes hits both; the figures are
medians over rounds. Throughput is in network-steps/s (optimiser steps x networks per second).
All three run on `--device`: the naive baseline's networks, trials and regulariser too (its
trials are still built in numpy and copied over each step, as the notebook's would be), so a
GPU speed-up is measured against the same GPU. `--tiny` runs every code path in seconds on a
toy shape (its numbers mean nothing).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.model.expm import squarings_needed
from cortexrnn.services.model.regularizer import communicability
from cortexrnn.services.priors.network_prior import CommunicabilityMode, NetworkPrior
from cortexrnn.services.tasks import get_task
from cortexrnn.services.training.config import TrainingConfig
from cortexrnn.services.training.trainer import PopulationTrainer

# The paper's eleven variants: (space term, communicability) with every C differentiated.
PAPER_MIX: list[tuple[str, bool, CommunicabilityMode]] = [
    ("W*D*C", True, "direct"),
    ("WD*C", True, "direct"),
    ("WDC", True, "direct"),
    ("WD*", True, "none"),
    ("WD", True, "none"),
    ("W", False, "none"),
    ("W*D*C*", True, "emd"),
    ("WD*C*", True, "emd"),
    ("W*DC*", True, "emd"),
    ("W!D*C", True, "direct"),
    ("W!D*C*", True, "emd"),
]
FIX, STIM, DELAY, DEC = 5, 25, 10, 5  # go/no-go with 45 steps per trial


@dataclass
class Shape:
    name: str
    n: int
    batch: int
    seeds: int  # per condition: pack size = 11 * seeds


def make_priors(n: int, seeds: int, rng: np.random.Generator) -> list[NetworkPrior]:
    pos = rng.random((n, 3))
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    d /= d.max()
    a = np.abs(rng.normal(size=(n, n))) * (rng.random((n, n)) < 0.05)
    target = np.sort(
        communicability(torch.from_numpy(a + 1e-3), 1e-12).numpy()[~np.eye(n, dtype=bool)]
    )
    out = []
    for _ in range(seeds):
        for _, space, comm in PAPER_MIX:
            q, _ = np.linalg.qr(rng.normal(size=(n, n)))
            out.append(
                NetworkPrior(
                    w_init=0.95 * q,
                    distance=d if space else None,
                    communicability=comm,
                    lam=0.3,
                    lam_emd=0.1,
                    emd_target=target if comm == "emd" else None,
                )
            )
    return out


# ----- (b) the naive transcription --------------------------------------------------------------
def numpy_trials(batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Go/no-go trials built one at a time, as a notebook loop does."""
    xs, ys = [], []
    for _ in range(batch):
        go = int(rng.integers(2))
        x = np.zeros((FIX + STIM + DELAY + DEC, 3), dtype=np.float32)
        x[:FIX, 0] = 1.0
        x[FIX : FIX + STIM, 2 if go else 1] = 1.0
        x[FIX + STIM : FIX + STIM + DELAY, 0] = 1.0
        xs.append(x)
        ys.append(go)
    return np.stack(xs), np.array(ys)


class NaiveNet(nn.Module):
    def __init__(self, prior: NetworkPrior, n_in: int, n_out: int) -> None:
        super().__init__()
        n = prior.n_units
        self.w_ih = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n, n_in)))
        self.w_hh = nn.Parameter(torch.as_tensor(prior.w_init, dtype=torch.float32).clone())
        self.b = nn.Parameter(torch.zeros(n))
        self.out = nn.Linear(n, n_out)
        nn.init.xavier_uniform_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.prior = prior
        # Buffers, so that `.to(device)` moves them with the weights.
        self.dist: torch.Tensor | None
        self.target: torch.Tensor | None
        self.register_buffer(
            "dist",
            None
            if prior.distance is None
            else torch.as_tensor(prior.distance, dtype=torch.float32),
        )
        self.register_buffer(
            "target",
            None
            if prior.emd_target is None
            else torch.as_tensor(prior.emd_target, dtype=torch.float32),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x [B, T, n_in], Keras layout
        x = x + 0.05 * torch.randn_like(x)
        h = x.new_zeros(x.shape[0], self.w_hh.shape[0])
        for xt in x.unbind(1):
            h = torch.relu(xt @ self.w_ih.T + h @ self.w_hh.T + self.b)
        return self.out(h)

    def regulariser(self) -> torch.Tensor:
        a = self.w_hh.abs()
        pen = a if self.dist is None else a * self.dist
        if self.prior.communicability != "none":
            s = torch.diag(a.sum(0).clamp_min(1e-12).pow(-0.5))
            c = torch.linalg.matrix_exp(s @ a @ s)
            c = c - torch.diag(torch.diag(c))
            pen = pen * c
        total = self.prior.lam * pen.sum()
        if self.prior.communicability == "emd":
            off = c[~torch.eye(len(c), dtype=torch.bool, device=c.device)].sort().values
            total = total + self.prior.lam_emd * (off - self.target).abs().mean()
        return total


def sync(device: str) -> None:
    """Wait for the device's queued work: CUDA calls return before the work is done."""
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def naive_round(
    nets: list[tuple[NaiveNet, torch.optim.Optimizer]],
    batch: int,
    rng: np.random.Generator,
    device: str,
) -> float:
    """One optimiser step for each network, one network at a time; returns seconds."""
    sync(device)
    t0 = time.perf_counter()
    for net, opt in nets:
        x, y = numpy_trials(batch, rng)
        logits = net(torch.from_numpy(x).to(device))
        loss = nn.functional.cross_entropy(logits, torch.from_numpy(y).to(device))
        loss = loss + net.regulariser()
        opt.zero_grad()
        loss.backward()
        opt.step()
    sync(device)
    return time.perf_counter() - t0


# ----- accounting ---------------------------------------------------------------------------
def nominal_flops(priors: list[NetworkPrior], batch: int, t: int, n_in: int) -> float:
    """Matmul flops per optimiser step for the pack (`nominal_flop_parts`, summed)."""
    return sum(nominal_flop_parts(priors, batch, t, n_in))


def nominal_flop_parts(
    priors: list[NetworkPrior], batch: int, t: int, n_in: int
) -> tuple[float, float]:
    """Matmul flops per optimiser step for the pack, as (recurrent + input products forward
    and the two backward products; for networks with communicability, the Taylor expm
    (5 products + squarings of the initial weights' matrix) forward and backward (x3))."""
    n = priors[0].n_units
    rnn = 6.0 * t * batch * n * n + 6.0 * t * batch * n * n_in
    expm = 0.0
    for pr in priors:
        if pr.communicability != "none":
            w = torch.as_tensor(pr.w_init)
            a = w.abs()
            s = a.sum(0).clamp_min(1e-12).rsqrt()
            sq = int(squarings_needed((s[:, None] * a * s[None, :]).float()).item())
            expm += 3.0 * (5 + sq) * 2.0 * n**3
    return rnn * len(priors), expm


def matmul_roof(device: str, size: int = 2048, reps: int = 5) -> float:
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    a @ b
    times = []
    for _ in range(reps):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - t0)
    return 2.0 * size**3 / min(times) / 1e9


def step_seconds(
    trainer: PopulationTrainer, steps: int, device: str, active: torch.Tensor | None = None
) -> float:
    """Seconds per optimiser step of the whole pack (or of its `active` networks), over
    `steps` steps (data generation included)."""
    if active is None:
        active = torch.ones(len(trainer.priors), dtype=torch.bool)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer._train_step(active)
        trainer.step += 1
    sync(device)
    return (time.perf_counter() - t0) / steps


def bench_shape(
    shape: Shape, rounds: int, pop_steps: int, naive_nets: int, device: str, roof_size: int = 2048
) -> dict[str, float]:
    rng = np.random.default_rng(0)
    priors = make_priors(shape.n, shape.seeds, rng)
    task = get_task("go_no_go", fixation=FIX, stimulus=STIM, delay=DELAY, decision=DEC)
    cfg = TrainingConfig(
        batch_size=shape.batch, train_trials=shape.batch * 40, epochs=1, checkpoint_every_steps=None
    )
    trainer = PopulationTrainer(
        priors, list(range(len(priors))), task, ModelConfig(), cfg, device=device
    )
    # The naive baseline trains the same condition mix, cycling through it.
    torch.manual_seed(0)
    nets = []
    for i in range(naive_nets):
        net = NaiveNet(priors[i % len(priors)], 3, 2).to(device)
        nets.append((net, torch.optim.Adam(net.parameters(), lr=1e-3)))
    flops_pop = nominal_flops(priors, shape.batch, task.n_steps, 3)
    flops_naive = nominal_flops([n.prior for n, _ in nets], shape.batch, task.n_steps, 3)
    step_seconds(trainer, 1, device)  # warm-up (allocator, MKL)
    naive_round(nets[:1], shape.batch, rng, device)
    pop_rates, naive_rates, pop_gflops, naive_gflops, roofs = [], [], [], [], []
    for _ in range(rounds):
        roofs.append(matmul_roof(device, roof_size, reps=3))
        dt = naive_round(nets, shape.batch, rng, device)
        naive_rates.append(len(nets) / dt)
        naive_gflops.append(flops_naive / dt / 1e9)
        dt = step_seconds(trainer, pop_steps, device)
        pop_rates.append(len(priors) / dt)
        pop_gflops.append(flops_pop / dt / 1e9)
    med = statistics.median
    speedups = [p / q for p, q in zip(pop_rates, naive_rates, strict=True)]
    # The most any trainer could gain over the naive one: naive time per network-step against
    # the time the same nominal flops take at the roof.
    ceilings = [r / g for r, g in zip(roofs, naive_gflops, strict=True)]
    return {
        "P": len(priors),
        "naive": med(naive_rates),
        "pop": med(pop_rates),
        "speedup": med(speedups),
        "roof": med(roofs),
        "pop_gflops": med(pop_gflops),
        "naive_gflops": med(naive_gflops),
        "ceiling": med(ceilings),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="fewer rounds (about a minute)")
    ap.add_argument(
        "--tiny", action="store_true", help="every code path on a toy shape (seconds; no figures)"
    )
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rounds = 1 if args.tiny else 2 if args.quick else 3
    shapes = [Shape("paper", 312, 128, 2), Shape("small", 100, 32, 4)]
    roof_size = 2048
    if args.tiny:
        shapes, roof_size = [Shape("tiny", 16, 4, 1)], 256
    print(
        f"# training benchmark: torch {torch.__version__}, {platform.machine()}, "
        f"{torch.get_num_threads()} threads, device {args.device}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    t_all = time.perf_counter()
    roof = matmul_roof(args.device, roof_size)
    print(f"(a) fp32 matmul roof ({roof_size}^2): {roof:.0f} GFLOP/s")
    print(
        f"{'shape':<7} {'N':>4} {'B':>4} {'P':>3} {'naive net-steps/s':>18} "
        f"{'pack net-steps/s':>17} {'speed-up':>9} {'pack GFLOP/s':>13} {'of roof':>8}"
    )
    for sh in shapes:
        naive_nets = 4 if sh.n > 200 else 11
        pop_steps = 2 if sh.n > 200 else 10
        r = bench_shape(sh, rounds, pop_steps, naive_nets, args.device, roof_size)
        print(
            f"{sh.name:<7} {sh.n:>4} {sh.batch:>4} {r['P']:>3} {r['naive']:>18.1f} "
            f"{r['pop']:>17.1f} {r['speedup']:>8.1f}x {r['pop_gflops']:>13.0f} "
            f"{r['pop_gflops'] / r['roof']:>8.0%}   (naive {r['naive_gflops']:.0f} GFLOP/s; roof "
            f"during run {r['roof']:.0f}; speed-up ceiling at the roof {r['ceiling']:.1f}x)"
        )
    print(f"total {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
