"""What the population trainer returns, per network and per pack."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

NetworkStatus = Literal["completed", "diverged", "stopped", "cancelled"]
DIVERGED_ERROR = "diverged:"  # how a diverged run's error begins (shared/lifecycle.py)


def diverged_error(step: object) -> str:
    """The error of a run whose loss or gradient stopped being finite at optimiser `step`."""
    return (
        f"{DIVERGED_ERROR} the loss became NaN or infinite at step {step}; "
        "lower training.lr or the regulariser strength"
    )


def is_diverged(error: str | None) -> bool:
    """Whether a failed run failed because its training diverged."""
    return bool(error) and str(error).startswith(DIVERGED_ERROR)


# progress(step_done, total_steps, per-network metrics of that step)
ProgressFn = Callable[[int, int, list[dict[str, object]]], None]
CancelFn = Callable[[], bool]


@dataclass
class TrainingCallbacks:
    """Hooks the caller (local runner, worker) plugs in. Both are optional.

    `progress` is called after every optimiser step; `should_cancel` is polled after every
    step, and a True answer stops the pack cleanly after writing a checkpoint.
    """

    progress: ProgressFn | None = None
    should_cancel: CancelFn | None = None


@dataclass
class NetworkResult:
    index: int  # position in the pack
    seed: int
    status: NetworkStatus
    # The 0-based optimiser step whose loss or gradient was not finite (weights are those after
    # `diverged_step` updates); None if the network never diverged.
    diverged_step: int | None
    # Optimiser steps done when held-out accuracy first reached the criterion (resolution:
    # the evaluation interval); None if never reached.
    steps_to_criterion: int | None
    steps_trained: int  # optimiser updates applied to this network
    # One record per epoch: epoch, step, train_loss / train_acc (means over the epoch's
    # training batches, input noise on: Keras' reported "accuracy"), reg (mean regulariser),
    # test_loss / test_acc (held-out trials, noise off).
    epochs: list[dict[str, float]]
    # Every held-out evaluation: step, test_loss, test_acc.
    evals: list[dict[str, float]]
    step_loss: np.ndarray  # [steps] training cross-entropy per step (NaN where not trained)
    step_acc: np.ndarray  # [steps]
    step_reg: np.ndarray  # [steps]
    snapshots: (
        np.ndarray
    )  # [1 + epochs done, N, N] W (post, pre): before training, after each epoch
    final_weights: dict[str, np.ndarray] = field(default_factory=dict)  # W, U, b, V, c
    # Final accuracy on each extra evaluation set, `test_acc_<set>` (services/training/
    # evaluation.py); empty with the default evaluation (recall only) or when cancelled.
    heldout_acc: dict[str, float] = field(default_factory=dict)

    @property
    def final_test_acc(self) -> float | None:
        return self.evals[-1]["test_acc"] if self.evals else None


@dataclass
class PackResult:
    networks: list[NetworkResult]
    step: int  # optimiser steps the pack ran
    total_steps: int
    cancelled: bool
    wall_s: float
    device: str
