"""Training settings of one experiment (shared by every network of a pack).

Defaults are the paper's: Adam, lr 1e-3, batch 128, 5,120 training trials per epoch
(40 steps), 10 epochs, 2,560 held-out test trials.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    optimizer: Literal["adam"] = "adam"
    lr: float = Field(1e-3, gt=0.0, le=10.0, allow_inf_nan=False)
    batch_size: int = Field(128, ge=1, le=65536)
    train_trials: int = Field(5120, ge=1, le=10_000_000)  # per epoch
    test_trials: int = Field(2560, ge=1, le=1_000_000)  # held out, fixed per run
    epochs: int = Field(10, ge=1, le=100_000)
    # Evaluate on the held-out trials every K optimiser steps (None: at the end of each epoch only).
    eval_every_steps: int | None = Field(None, ge=1)
    checkpoint_every_steps: int | None = Field(50, ge=1)  # None: no intermediate checkpoints
    criterion: float = Field(
        0.9, gt=0.0, le=1.0, allow_inf_nan=False
    )  # held-out accuracy that counts as "learned"
    early_stop: bool = False  # stop a network (freeze it) once it reaches the criterion
    # How the seRNN communicability expm(S^-1/2 |W| S^-1/2) is evaluated: "taylor" is the
    # scaling-and-squaring Taylor method valid because the normalised matrix has spectral
    # radius <= 1; "torch" is torch.linalg.matrix_exp; "auto" lets the trainer choose.
    expm_method: Literal["auto", "taylor", "torch"] = "auto"
    grad_clip: float | None = Field(
        None, gt=0.0, allow_inf_nan=False
    )  # None: no clipping (the paper clips nothing)
    # Adam as Keras implements it (the paper's optimiser): epsilon 1e-7 added to sqrt(v), with
    # the bias corrections folded into the step size.
    adam_beta1: float = Field(0.9, ge=0.0, lt=1.0)
    adam_beta2: float = Field(0.999, ge=0.0, lt=1.0)
    adam_eps: float = Field(1e-7, gt=0.0, le=1.0)
    # "fixed": a fixed training set of train_trials per network, visited once per epoch in a
    # per-epoch shuffled order of its batches (as Keras fit on a 5,120-trial array);
    # "fresh": new trials at every step.
    trial_stream: Literal["fixed", "fresh"] = "fixed"
    # "fp32": float32 throughout (bit-identical resume). "bf16-mixed": the recurrent products
    # in bfloat16, everything else (master weights, Adam, loss, gradient sums, the
    # regulariser's matrix exponential, held-out evaluation) in float32; on CPUs with
    # bfloat16 instructions and on GPUs. "tf32": float32 with TensorFloat-32 matmuls (CUDA
    # only). Resume is deterministic for a given precision and device.
    precision: Literal["fp32", "bf16-mixed", "tf32"] = "fp32"

    @model_validator(mode="after")
    def _batches_fit(self) -> TrainingConfig:
        if self.train_trials < self.batch_size:
            raise ValueError(
                f"train_trials ({self.train_trials}) is smaller than batch_size "
                f"({self.batch_size}): an epoch would hold no full batch"
            )
        return self

    @property
    def steps_per_epoch(self) -> int:
        # A trailing partial batch is dropped (Keras would run it); with the defaults
        # 5120 / 128 = 40 exactly, so the paper's schedule is unaffected.
        return self.train_trials // self.batch_size

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.epochs
