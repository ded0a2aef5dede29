"""Cognitive tasks, generated vectorised for a whole batch on the training device.

`get_task(name, **params)` returns a task; `task.generate(batch_size, generator)` a
`TrialBatch` (inputs [T, B, n_in] float32, labels [B] int64, read out at the last step);
`batch_generator(seed, step, stream, device)` the counter-based generator for one batch.
"""

from cortexrnn.services.tasks.base import (
    STREAM_TEST,
    STREAM_TRAIN,
    Task,
    TrialBatch,
    batch_generator,
    derive_seed,
)
from cortexrnn.services.tasks.registry import (
    TASK_NAMES,
    TASKS,
    canonical_task_name,
    get_task,
    task_parameters,
)

__all__ = [
    "STREAM_TEST",
    "STREAM_TRAIN",
    "TASKS",
    "TASK_NAMES",
    "Task",
    "TrialBatch",
    "batch_generator",
    "canonical_task_name",
    "derive_seed",
    "get_task",
    "task_parameters",
]
