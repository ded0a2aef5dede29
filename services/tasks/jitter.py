"""Timing jitter of a task's periods, for evaluation sets that move "when things happen".

Every boundary between two non-empty periods (stimulus onset, delay onset, ...) moves by an
integer drawn uniformly from [-J, J] per trial; the trial keeps its length and its read-out
step, so a period lasts at most 2J steps more or less than in training and never less than
one step (a boundary is clamped where the draw would empty a period, which keeps every shift
within [-J, J]). Empty periods (a task without a decision period) stay empty.

The jittered trial is the nominal one re-timed: step t of period k reads step
start_k + (offset mod length_k) of the nominal trial, so constant periods are exactly what the
task would generate with the jittered timings, and a lengthened noisy stimulus replays its
own samples rather than freezing one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cortexrnn.services.tasks.base import Task

if TYPE_CHECKING:
    import torch


def nominal_bounds(task: Task) -> list[int]:
    """Start steps of the task's non-empty periods, then the trial length."""
    bounds, t = [], 0
    for _name, steps in task.periods:
        if steps > 0:
            bounds.append(t)
        t += steps
    return [*bounds, t]


def jittered_bounds(
    task: Task, max_shift: int, batch_size: int, generator: torch.Generator
) -> torch.Tensor:
    """[B, K + 1] int64 per-trial boundaries of the K non-empty periods (first 0, last
    n_steps), each inner one moved by at most `max_shift` steps."""
    import torch  # noqa: PLC0415 - services.spec imports the tasks without torch

    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    dev = generator.device
    nominal = nominal_bounds(task)
    k = len(nominal) - 1
    total = nominal[-1]
    shifts = torch.randint(
        -max_shift, max_shift + 1, (batch_size, max(k - 1, 0)), generator=generator, device=dev
    )
    out = torch.empty(batch_size, k + 1, dtype=torch.int64, device=dev)
    out[:, 0] = 0
    out[:, k] = total
    for i in range(1, k):
        # At least one step after the previous boundary, room for one step per later period.
        low = out[:, i - 1] + 1
        high = torch.full_like(low, min(nominal[i] + max_shift, total - (k - i)))
        out[:, i] = torch.minimum(torch.maximum(nominal[i] + shifts[:, i - 1], low), high)
    return out


def retime(task: Task, inputs: torch.Tensor, bounds: torch.Tensor) -> torch.Tensor:
    """[T, B, n_in] `inputs` (nominal timings) re-timed to the per-trial `bounds`."""
    import torch  # noqa: PLC0415 - services.spec imports the tasks without torch

    dev = inputs.device
    nominal = torch.tensor(nominal_bounds(task), dtype=torch.int64, device=dev)
    lengths = nominal[1:] - nominal[:-1]  # [K]
    t = torch.arange(inputs.shape[0], device=dev)[:, None]  # [T, 1]
    # Period of step t in each trial: how many inner boundaries lie at or before t.
    period = (bounds[None, :, 1:-1] <= t[..., None]).sum(-1)  # [T, B]
    start = torch.gather(bounds, 1, period.T).T  # [T, B] jittered start of that period
    src = nominal[period] + (t - start) % lengths[period]  # [T, B] nominal step to read
    idx = src[..., None].expand(-1, -1, inputs.shape[2])
    return torch.gather(inputs, 0, idx)
