"""Where an experiment may train: a queue, a device kind, a minimum of device memory.

A label for routing, not an input of the science: no hash includes it, so a run trained on
one queue answers an identical run submitted to another. The scheduler routes each run only
to a queue whose live workers can all hold it (shared/routing.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# What a Celery queue name may be here: short, lower-case, no spaces or separators a shell or
# a broker URL would misread.
QUEUE_NAME = r"^[a-z0-9][a-z0-9_.-]{0,31}$"


class Resources(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # A queue the operator set up (`cortexrnn worker --queues NAME`); unset: the deployment's
    # default queue, or with `device` set any queue whose workers have that device.
    queue: str | None = Field(None, pattern=QUEUE_NAME)
    device: Literal["cpu", "cuda"] | None = None
    # Memory each of the worker's slots must have (a GPU's memory; host memory on CPU),
    # beyond which the cost model's own estimate for the run also has to fit.
    min_memory_gb: float | None = Field(None, gt=0, le=1e5, allow_inf_nan=False)
