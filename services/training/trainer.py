"""Population trainer: P networks (any mix of conditions and seeds sharing task, N, model and
optimiser settings) trained at once, each exactly as if it were trained alone.

Independence: the loss is the sum over networks of (mean cross-entropy + regulariser), so
d(loss)/d(theta_p) involves network p only; Adam, gradient clipping, sign projection and
divergence checks are per network. Every random draw (input/read-out init, training trials,
noise, held-out trials, batch order) comes from a generator seeded by (network seed, stream,
counter) alone. Hence a network trained in a pack of 8 matches the same network trained alone
up to floating-point reassociation in batched kernels, and a resumed run needs no RNG state.

Training set ("fixed", the default, as the paper's Keras `fit`): train_trials / batch_size
batches per network, batch i regenerated from counter i; each epoch visits them in an order
drawn from counter = epoch, or in index order every epoch for a prior with
`fixed_batch_order` (the released code). "fresh": new trials from counter = step.

Longer than 400 lines on purpose: `PopulationTrainer` is one loop and its state (step,
evaluation, divergence, checkpoint, result); what stands alone (Adam, the sign projection,
checkpoint files and fingerprints, result records) already lives in its own module.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cortexrnn.services.model.config import ModelConfig
from cortexrnn.services.model.population import PopulationRNN, per_network_ce
from cortexrnn.services.model.regularizer import ExpmMethod, PackRegularizer
from cortexrnn.services.priors.network_prior import NetworkPrior
from cortexrnn.services.tasks.base import STREAM_TRAIN, Task, batch_generator
from cortexrnn.services.training.adam import MaskedAdam
from cortexrnn.services.training.checkpoint import (
    load_checkpoint,
    pack_fingerprint,
    save_checkpoint,
)
from cortexrnn.services.training.config import TrainingConfig
from cortexrnn.services.training.evaluation import METRIC_PREFIX, RECALL, EvaluationConfig
from cortexrnn.services.training.heldout import heldout_batch
from cortexrnn.services.training.results import (
    NetworkResult,
    NetworkStatus,
    PackResult,
    TrainingCallbacks,
)
from cortexrnn.services.training.sign import SignProjection

STREAM_INIT = "init"
STREAM_NOISE = "noise"
STREAM_ORDER = "order"

_TRAINING, _DIVERGED, _STOPPED = 0, 1, 2
# The pack's records (status, step and epoch rows, sums) live on the host whatever the device,
# and whatever default device the caller set (torch.set_default_device).
_HOST = torch.device("cpu")


class PopulationTrainer:
    def __init__(
        self,
        priors: Sequence[NetworkPrior],
        seeds: Sequence[int],
        task: Task,
        model_cfg: ModelConfig,
        train_cfg: TrainingConfig,
        device: torch.device | str = "cpu",
        callbacks: TrainingCallbacks | None = None,
        checkpoint: str | Path | None = None,
        dtype: torch.dtype = torch.float32,
        evaluation: EvaluationConfig | None = None,
    ) -> None:
        if len(priors) == 0:
            raise ValueError("train_population needs at least one network prior")
        if len(priors) != len(seeds):
            raise ValueError(
                f"got {len(priors)} priors but {len(seeds)} seeds: give one seed per network"
            )
        n = priors[0].n_units
        for i, pr in enumerate(priors):
            if pr.w_init.shape != (n, n):
                raise ValueError(
                    f"prior {i}: w_init has shape {pr.w_init.shape}; all networks of a pack need "
                    f"({n}, {n})"
                )
            if not np.all(np.isfinite(pr.w_init)):
                raise ValueError(f"prior {i}: w_init holds NaN or infinite values")
        self.priors = list(priors)
        self.seeds = [int(s) for s in seeds]
        self.task = task
        self.model_cfg = model_cfg
        self.cfg = train_cfg
        self.evaluation = evaluation or EvaluationConfig()
        if "noisy" in self.evaluation.sets and not (
            (self.evaluation.noise_in or model_cfg.noise_in) > 0
        ):
            raise ValueError("the noisy evaluation set needs a noise_in > 0 (evaluation or model)")
        self.device = torch.device(device)
        self.dtype = dtype
        self.callbacks = callbacks or TrainingCallbacks()
        self.checkpoint_path = Path(checkpoint) if checkpoint is not None else None
        self.p = len(priors)
        self.n = n

        if train_cfg.precision == "tf32" and self.device.type != "cuda":
            raise ValueError(
                f"training.precision tf32 needs a CUDA device, this pack runs on {self.device}; "
                "use fp32 or bf16-mixed"
            )
        init_gens = [batch_generator(s, 0, STREAM_INIT, self.device) for s in self.seeds]
        w0 = torch.as_tensor(
            np.stack([pr.w_init for pr in self.priors]), dtype=dtype, device=self.device
        )
        self.model = PopulationRNN(
            w0,
            task.n_inputs,
            task.n_outputs,
            init_gens,
            model_cfg,
            dtype,
            product_dtype=torch.bfloat16 if train_cfg.precision == "bf16-mixed" else None,
        )
        method: ExpmMethod = "torch" if train_cfg.expm_method == "torch" else "taylor"
        self.regularizer = PackRegularizer(self.priors, self.device, dtype, method)
        self.has_reg = any(
            pr.lam != 0.0 or (pr.communicability == "emd" and pr.lam_emd != 0.0)
            for pr in self.priors
        )
        self.project = SignProjection(self.priors, self.device, dtype)
        self.project(self.model.W)
        self.params = self.model.named_trainables()
        self.opt = MaskedAdam(
            self.params,
            train_cfg.lr,
            train_cfg.adam_beta1,
            train_cfg.adam_beta2,
            train_cfg.adam_eps,
        )
        self.fingerprint = pack_fingerprint(self.priors, self.seeds, task, model_cfg, train_cfg)

        self.step = 0
        self.status = torch.zeros(self.p, dtype=torch.int64, device=_HOST)
        self.diverged_step = torch.full((self.p,), -1, dtype=torch.int64, device=_HOST)
        self.criterion_step = torch.full((self.p,), -1, dtype=torch.int64, device=_HOST)
        self.step_rows: list[Tensor] = []  # [3, P] float64 per step: ce, acc, reg
        self.eval_rows: list[Tensor] = []  # [3, P] float64: step, loss, acc
        self.epoch_rows: list[
            Tensor
        ] = []  # [7, P] float64: epoch, step, tr_loss, tr_acc, reg, te_loss, te_acc
        # loss, acc, reg, count this epoch
        self.acc_sums = torch.zeros(4, self.p, dtype=torch.float64, device=_HOST)
        self.snapshots: list[Tensor] = [self.model.W.detach().to(_HOST, copy=True)]
        self.dirty_since_eval = True
        self._orders: dict[int, list[list[int]]] = {}
        self._indices: dict[tuple[int, ...], Tensor] = {}
        self._sub_regularizers: dict[tuple[int, ...], PackRegularizer] = {}

    # ----- data -----------------------------------------------------------------------------
    def _batch_index(self, step: int, p: int) -> tuple[int, str]:
        if self.cfg.trial_stream == "fresh":
            return step, STREAM_TRAIN
        spe = self.cfg.steps_per_epoch
        epoch, j = divmod(step, spe)
        if self.priors[p].fixed_batch_order:
            return j, STREAM_TRAIN
        if epoch not in self._orders:
            self._orders = {
                epoch: [
                    torch.randperm(
                        spe, generator=batch_generator(s, epoch, STREAM_ORDER, "cpu")
                    ).tolist()
                    for s in self.seeds
                ]
            }
        return self._orders[epoch][p][j], STREAM_TRAIN

    def _train_batch(self, step: int, nets: Sequence[int]) -> tuple[Tensor, Tensor]:
        """The training batch of step `step` for networks `nets`, stacked in that order."""
        xs, ys = [], []
        for p in nets:
            idx, stream = self._batch_index(step, p)
            b = self.task.generate(
                self.cfg.batch_size,
                batch_generator(self.seeds[p], idx, stream, self.device),
                self.device,
            )
            xs.append(b.inputs)
            ys.append(b.labels)
        return torch.stack(xs, dim=1).to(self.dtype), torch.stack(ys)

    def _noise(
        self, step: int, shape_in: torch.Size, nets: Sequence[int]
    ) -> tuple[Tensor | None, Tensor | None]:
        cfg = self.model_cfg
        if cfg.noise_in <= 0 and cfg.noise_rec <= 0:
            return None, None
        t, _, b, n_in = shape_in
        nin, nrec = [], []
        for p in nets:
            g = batch_generator(self.seeds[p], step, STREAM_NOISE, self.device)
            if cfg.noise_in > 0:
                nin.append(
                    torch.randn((t, b, n_in), generator=g, device=self.device, dtype=self.dtype)
                )
            if cfg.noise_rec > 0:
                nrec.append(
                    torch.randn((t, b, self.n), generator=g, device=self.device, dtype=self.dtype)
                )
        return (torch.stack(nin, dim=1) if nin else None), (
            torch.stack(nrec, dim=1) if nrec else None
        )

    # ----- evaluation -----------------------------------------------------------------------
    def evaluate(
        self, name: str = RECALL, nets: Sequence[int] | None = None
    ) -> tuple[Tensor, Tensor]:
        """Held-out cross-entropy and accuracy per network ([P] float64 each) on evaluation
        set `name` (services/training/heldout.py); the model's own noise off. With `nets`,
        only those networks are evaluated; the others get NaN."""
        nets = list(range(self.p)) if nets is None else list(nets)
        loss = torch.full((self.p,), math.nan, dtype=torch.float64, device=_HOST)
        correct = torch.full((self.p,), math.nan, dtype=torch.float64, device=_HOST)
        if not nets:
            return loss, correct
        index = self._index(nets)
        # A block, not the decorator: mutmut mutates only undecorated functions.
        with torch.no_grad():
            total = self.cfg.test_trials
            chunk = self.cfg.batch_size
            loss_k = torch.zeros(len(nets), dtype=torch.float64, device=_HOST)
            correct_k = torch.zeros(len(nets), dtype=torch.float64, device=_HOST)
            for ci, start in enumerate(range(0, total, chunk)):
                size = min(chunk, total - start)
                xs, ys = [], []
                for p in nets:
                    b = heldout_batch(
                        self.task,
                        name,
                        self.evaluation,
                        self.model_cfg.noise_in,
                        self.seeds[p],
                        ci,
                        size,
                        self.device,
                    )
                    xs.append(b.inputs)
                    ys.append(b.labels)
                logits = self.model(torch.stack(xs, dim=1).to(self.dtype), index=index)
                ce, acc = per_network_ce(logits, torch.stack(ys))
                loss_k += ce.double().cpu() * size
                correct_k += acc.double().cpu() * size
            loss[nets] = loss_k / total
            correct[nets] = correct_k / total
            return loss, correct

    # ----- the networks still training ------------------------------------------------------
    def _index(self, nets: Sequence[int]) -> Tensor | None:
        """The model's `index` for networks `nets`: None for the whole pack (no gather); made
        once per set (sets only shrink, as networks diverge or stop early), so that a step
        does no host-to-device copy for it."""
        key = tuple(nets)
        if len(key) == self.p:
            return None
        if key not in self._indices:
            self._indices[key] = torch.tensor(key, dtype=torch.long, device=self.device)
        return self._indices[key]

    def _regularizer_for(self, nets: Sequence[int]) -> PackRegularizer:
        """The regulariser of a sub-pack still training (the whole pack's is
        `self.regularizer`); only the latest set's is kept."""
        key = tuple(nets)
        if key not in self._sub_regularizers:
            method: ExpmMethod = "torch" if self.cfg.expm_method == "torch" else "taylor"
            priors = [self.priors[p] for p in key]
            self._sub_regularizers = {key: PackRegularizer(priors, self.device, self.dtype, method)}
        return self._sub_regularizers[key]

    # ----- one step -------------------------------------------------------------------------
    def _train_step(self, active: Tensor) -> tuple[Tensor, Tensor]:
        """One optimiser step for the active networks; returns ([3, P] ce, acc, reg as float64
        CPU, the networks actually updated). Only the active networks are computed: a pack
        whose networks diverged or stopped early costs what its remaining networks cost."""
        nets = active.nonzero().flatten().tolist()
        index = self._index(nets)
        x, y = self._train_batch(self.step, nets)
        noise_in, noise_rec = self._noise(self.step, x.shape, nets)
        for prm in self.params.values():
            prm.grad = None
        active_dev = active.to(self.device)
        logits = self.model(x, noise_in, noise_rec, index)
        ce, acc = per_network_ce(logits, y)
        if not self.has_reg:
            reg = torch.zeros_like(ce)
        elif index is None:
            reg = self.regularizer(self.model.W, active_dev)
        else:
            reg = self._regularizer_for(nets)(self.model.W.index_select(0, index))
        loss = ce + reg
        finite = torch.isfinite(loss)
        # where(), not a product: a NaN loss times zero would still be NaN.
        torch.where(finite, loss, torch.zeros_like(loss)).sum().backward()
        ce, reg = ce.detach(), reg.detach()
        if index is not None:  # back to the whole pack's order; NaN where not computed
            ce, acc, reg = (
                torch.full((self.p,), math.nan, dtype=v.dtype, device=self.device).index_copy(
                    0, index, v
                )
                for v in (ce, acc, reg)
            )
            finite = torch.ones(self.p, dtype=torch.bool, device=self.device).index_copy(
                0, index, finite
            )
        grad_ok = finite.clone()
        for prm in self.params.values():
            if prm.grad is not None:
                grad_ok &= torch.isfinite(prm.grad).flatten(1).all(dim=1)
        grad_ok = grad_ok.cpu()
        newly = active & ~grad_ok
        if bool(newly.any()):
            self.status[newly] = _DIVERGED
            self.diverged_step[newly] = self.step
            active = active & ~newly
            active_dev = active.to(self.device)
        if self.cfg.grad_clip is not None:
            self._clip(active_dev)
        self.opt.step(active_dev)
        self.project(self.model.W)
        rows = torch.stack([ce, acc, reg]).double().cpu()
        return torch.where(active[None, :], rows, torch.full_like(rows, math.nan)), active

    def _clip(self, active: Tensor) -> None:
        # A block, not the decorator: mutmut mutates only undecorated functions.
        with torch.no_grad():
            sq = torch.zeros(self.p, dtype=self.dtype, device=self.device)
            for prm in self.params.values():
                if prm.grad is not None:
                    sq += prm.grad.pow(2).flatten(1).sum(dim=1)
            assert self.cfg.grad_clip is not None  # _clip runs only when clipping is configured
            scale = (self.cfg.grad_clip / (sq.sqrt() + 1e-6)).clamp(max=1.0)
            scale = torch.where(active, scale, torch.ones_like(scale))
            for prm in self.params.values():
                if prm.grad is not None:
                    prm.grad.mul_(scale.view((-1,) + (1,) * (prm.dim() - 1)))

    # ----- checkpoints ----------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        def stack(rows: list[Tensor], k: int) -> Tensor:
            return (
                torch.stack(rows)
                if rows
                else torch.zeros(0, k, self.p, dtype=torch.float64, device=_HOST)
            )

        opt = self.opt.state_dict()
        return {
            "fingerprint": self.fingerprint,
            "step": self.step,
            "seeds": list(self.seeds),
            "params": {k: v.detach().cpu() for k, v in self.params.items()},
            "adam_m": {k: v.cpu() for k, v in opt["m"].items()},
            "adam_v": {k: v.cpu() for k, v in opt["v"].items()},
            "adam_t": self.opt.t.cpu(),
            "status": self.status.clone(),
            "diverged_step": self.diverged_step.clone(),
            "criterion_step": self.criterion_step.clone(),
            "step_rows": stack(self.step_rows, 3),
            "eval_rows": stack(self.eval_rows, 3),
            "epoch_rows": stack(self.epoch_rows, 7),
            "acc_sums": self.acc_sums.clone(),
            "snapshots": torch.stack(self.snapshots),
            "dirty_since_eval": self.dirty_since_eval,
        }

    def save(self) -> None:
        if self.checkpoint_path is not None:
            save_checkpoint(self._state(), self.checkpoint_path)

    def restore(self, path: Path) -> None:
        st = load_checkpoint(path)
        if st.get("fingerprint") != self.fingerprint:
            raise ValueError(
                f"checkpoint {path} belongs to a different pack (priors, seeds, task or settings "
                "differ); delete it or point `checkpoint` elsewhere to start afresh"
            )
        with torch.no_grad():
            for k, prm in self.params.items():
                prm.copy_(st["params"][k].to(device=self.device, dtype=self.dtype))
        self.opt.load_state_dict({"m": st["adam_m"], "v": st["adam_v"], "t": st["adam_t"]})
        self.step = int(st["step"])
        self.status = st["status"].clone()
        self.diverged_step = st["diverged_step"].clone()
        self.criterion_step = st["criterion_step"].clone()
        self.step_rows = list(st["step_rows"].unbind(0))
        self.eval_rows = list(st["eval_rows"].unbind(0))
        self.epoch_rows = list(st["epoch_rows"].unbind(0))
        self.acc_sums = st["acc_sums"].clone()
        self.snapshots = list(st["snapshots"].unbind(0))
        self.dirty_since_eval = bool(st["dirty_since_eval"])

    # ----- main loop ------------------------------------------------------------------------
    def _record_eval(self) -> tuple[Tensor, Tensor]:
        if self.dirty_since_eval or not self.eval_rows:
            # A diverged network's weights no longer change: it is not evaluated again (NaN).
            te_loss, te_acc = self.evaluate(nets=self._not_diverged())
        else:  # nothing moved since the last evaluation: same numbers, no forward pass
            te_loss, te_acc = self.eval_rows[-1][1].clone(), self.eval_rows[-1][2].clone()
        self.dirty_since_eval = False
        self.eval_rows.append(
            torch.stack(
                [
                    torch.full((self.p,), float(self.step), dtype=torch.float64, device=_HOST),
                    te_loss,
                    te_acc,
                ]
            )
        )
        reached = (
            (te_acc >= self.cfg.criterion) & (self.criterion_step < 0) & (self.status != _DIVERGED)
        )
        self.criterion_step[reached] = self.step
        if self.cfg.early_stop:
            self.status[reached & (self.status == _TRAINING)] = _STOPPED
        return te_loss, te_acc

    def _end_epoch(self, te_loss: Tensor, te_acc: Tensor) -> None:
        epoch = self.step // self.cfg.steps_per_epoch
        cnt = self.acc_sums[3]
        mean = torch.where(
            cnt > 0,
            self.acc_sums[:3] / cnt.clamp_min(1),
            torch.full_like(self.acc_sums[:3], math.nan),
        )
        self.epoch_rows.append(
            torch.stack(
                [
                    torch.full((self.p,), float(epoch), dtype=torch.float64, device=_HOST),
                    torch.full((self.p,), float(self.step), dtype=torch.float64, device=_HOST),
                    mean[0],
                    mean[1],
                    mean[2],
                    te_loss,
                    te_acc,
                ]
            )
        )
        self.acc_sums.zero_()
        self.snapshots.append(self.model.W.detach().to(_HOST, copy=True))

    def run(self) -> PackResult:
        with _matmul_precision(self.cfg.precision):
            return self._run()

    def _run(self) -> PackResult:
        t0 = time.perf_counter()
        if self.checkpoint_path is not None and self.checkpoint_path.exists():
            self.restore(self.checkpoint_path)
        total = self.cfg.total_steps
        spe = self.cfg.steps_per_epoch
        every_eval = self.cfg.eval_every_steps
        every_ckpt = self.cfg.checkpoint_every_steps
        cancelled = False
        while self.step < total:
            active = self.status == _TRAINING
            if bool(active.any()):
                rows, trained = self._train_step(active)
                self.dirty_since_eval = True
                ok = trained & torch.isfinite(rows).all(dim=0)
                self.acc_sums[:3] += torch.where(ok[None, :], rows, torch.zeros_like(rows))
                self.acc_sums[3] += ok.double()
                self.step_rows.append(rows)
                self.step += 1
            else:
                # Every network is frozen: skip to the end of the epoch, keeping records aligned.
                nxt = min(total, (self.step // spe + 1) * spe)
                while self.step < nxt:
                    self.step_rows.append(
                        torch.full((3, self.p), math.nan, dtype=torch.float64, device=_HOST)
                    )
                    self.step += 1
            end_epoch = self.step % spe == 0
            if end_epoch or (every_eval is not None and self.step % every_eval == 0):
                te_loss, te_acc = self._record_eval()
                if end_epoch:
                    self._end_epoch(te_loss, te_acc)
            if self.callbacks.progress is not None:
                self.callbacks.progress(self.step, total, self._progress_rows())
            if every_ckpt is not None and self.step % every_ckpt == 0 and self.step < total:
                self.save()
            if (
                self.callbacks.should_cancel is not None
                and self.step < total
                and self.callbacks.should_cancel()
            ):
                cancelled = True
                break
        self.save()
        # The generalisation sets, once, on the final weights (a cancelled pack is resumed).
        heldout = {} if cancelled else self._evaluate_sets()
        return self._result(cancelled, time.perf_counter() - t0, heldout)

    def _not_diverged(self) -> list[int]:
        return (self.status != _DIVERGED).nonzero().flatten().tolist()

    def _evaluate_sets(self) -> dict[str, Tensor]:
        """`test_acc_<set>` -> [P] accuracy for every extra evaluation set of this task (NaN
        for a diverged network)."""
        nets = self._not_diverged()
        return {
            METRIC_PREFIX + name: self.evaluate(name, nets)[1]
            for name in self.evaluation.sets_for(self.task.name)
        }

    def _progress_rows(self) -> list[dict[str, object]]:
        last = (
            self.step_rows[-1]
            if self.step_rows
            else torch.full((3, self.p), math.nan, dtype=torch.float64, device=_HOST)
        )
        test = self.eval_rows[-1][2] if self.eval_rows else None
        names = {_TRAINING: "training", _DIVERGED: "diverged", _STOPPED: "stopped"}
        return [
            {
                "index": p,
                "seed": self.seeds[p],
                "status": names[int(self.status[p])],
                "loss": float(last[0, p]),
                "acc": float(last[1, p]),
                "reg": float(last[2, p]),
                "test_acc": None if test is None else float(test[p]),
            }
            for p in range(self.p)
        ]

    def _result(
        self, cancelled: bool, wall: float, heldout: dict[str, Tensor] | None = None
    ) -> PackResult:
        steps = torch.stack(self.step_rows).numpy() if self.step_rows else np.zeros((0, 3, self.p))
        evals = torch.stack(self.eval_rows).numpy() if self.eval_rows else np.zeros((0, 3, self.p))
        epochs = (
            torch.stack(self.epoch_rows).numpy() if self.epoch_rows else np.zeros((0, 7, self.p))
        )
        snaps = torch.stack(self.snapshots).numpy()
        weights = {k: v.detach().cpu().numpy() for k, v in self.params.items()}
        t = self.opt.t.cpu()
        out = []
        for p in range(self.p):
            st = int(self.status[p])
            status: NetworkStatus = (
                "diverged"
                if st == _DIVERGED
                else "stopped"
                if st == _STOPPED
                else "cancelled"
                if cancelled
                else "completed"
            )
            ds, cs = int(self.diverged_step[p]), int(self.criterion_step[p])
            out.append(
                NetworkResult(
                    index=p,
                    seed=self.seeds[p],
                    status=status,
                    diverged_step=ds if ds >= 0 else None,
                    steps_to_criterion=cs if cs >= 0 else None,
                    steps_trained=int(t[p]),
                    epochs=[
                        {
                            "epoch": int(r[0, p]),
                            "step": int(r[1, p]),
                            "train_loss": float(r[2, p]),
                            "train_acc": float(r[3, p]),
                            "reg": float(r[4, p]),
                            "test_loss": float(r[5, p]),
                            "test_acc": float(r[6, p]),
                        }
                        for r in epochs
                    ],
                    evals=[
                        {
                            "step": int(r[0, p]),
                            "test_loss": float(r[1, p]),
                            "test_acc": float(r[2, p]),
                        }
                        for r in evals
                    ],
                    step_loss=steps[:, 0, p].copy(),
                    step_acc=steps[:, 1, p].copy(),
                    step_reg=steps[:, 2, p].copy(),
                    snapshots=snaps[:, p].copy(),
                    final_weights={k: v[p].copy() for k, v in weights.items()},
                    heldout_acc={k: float(v[p]) for k, v in (heldout or {}).items()},
                )
            )
        return PackResult(
            networks=out,
            step=self.step,
            total_steps=self.cfg.total_steps,
            cancelled=cancelled,
            wall_s=wall,
            device=str(self.device),
        )


@contextlib.contextmanager
def _matmul_precision(precision: str) -> Iterator[None]:
    """TensorFloat-32 CUDA matmuls for precision "tf32" only, restored afterwards (the flag is
    process-global and a worker trains other packs after this one)."""
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def train_population(
    priors: Sequence[NetworkPrior],
    seeds: Sequence[int],
    task: Task,
    model_cfg: ModelConfig | None = None,
    train_cfg: TrainingConfig | None = None,
    device: torch.device | str = "cpu",
    callbacks: TrainingCallbacks | None = None,
    checkpoint: str | Path | None = None,
    dtype: torch.dtype = torch.float32,
    evaluation: EvaluationConfig | None = None,
) -> PackResult:
    """Train one pack; resumes from `checkpoint` when that file exists (and was written for
    this very pack), writes it every `checkpoint_every_steps`, on cancel and at the end."""
    trainer = PopulationTrainer(
        priors,
        seeds,
        task,
        model_cfg or ModelConfig(),
        train_cfg or TrainingConfig(),
        device,
        callbacks,
        checkpoint,
        dtype,
        evaluation,
    )
    return trainer.run()
