"""Which held-out sets a run is evaluated on at the end of training (the spec's `evaluation`).

"recall" is today's held-out set: trials drawn like the training ones (noise-free inputs, the
task's timings and coherences) from the test stream. It is always evaluated: the criterion and
`test_acc` are its. The other sets differ from it in one way each, on the very same trials:

- "noisy": Gaussian noise of std `noise_in` (default: the model's training noise_in) added to
  every input channel at every step;
- "jitter": every boundary between the task's periods moved by up to `jitter_steps` steps per
  trial (services/tasks/jitter.py);
- "unseen_coherence" (perceptual decision making only): the trials' coherences replaced by
  `unseen_cohs` (default: the midpoints between consecutive training coherences), none of
  which is a training coherence.

Problems of the one-choice (maze) task cannot be held out: see docs/spec.md.
Each extra set's accuracy is reported as `test_acc_<set>`.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

RECALL = "recall"
EXTRA_SETS = ("noisy", "jitter", "unseen_coherence")
SETS = (RECALL, *EXTRA_SETS)
PERCEPTUAL_ONLY = frozenset({"unseen_coherence"})
METRIC_PREFIX = "test_acc_"
EXTRA_METRICS = tuple(METRIC_PREFIX + s for s in EXTRA_SETS)

_NOT_HELD_OUT = {
    "heldout_problems": "the one-choice (maze) task has no problem that can be held out of "
    "training (each goal's answers are learnt only from its own problems; see docs/spec.md)",
}


class EvaluationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sets: list[str] = Field(default_factory=lambda: [RECALL], min_length=1, max_length=8)
    # Std of the input noise of the "noisy" set; None: the model's noise_in.
    noise_in: float | None = Field(None, gt=0.0, le=10.0, allow_inf_nan=False)
    # Largest shift, in steps, of a period boundary in the "jitter" set.
    jitter_steps: int = Field(2, ge=1, le=1000)
    # Coherences of the "unseen_coherence" set; None: midpoints of the training coherences.
    unseen_cohs: list[float] | None = Field(None, min_length=1, max_length=64)

    @field_validator("sets", mode="before")
    @classmethod
    def _known_sets(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"sets must be a list of set names ({', '.join(SETS)})")
        for v in value:
            if v in _NOT_HELD_OUT:
                raise ValueError(f"set {v!r} is not offered: {_NOT_HELD_OUT[v]}")
            if v not in SETS:
                raise ValueError(f"unknown set {v!r}; available: {', '.join(SETS)}")
        # Recall is always evaluated; a fixed order so that listing order never changes a hash.
        return [s for s in SETS if s == RECALL or s in value]

    @field_validator("unseen_cohs")
    @classmethod
    def _cohs(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and any(not (0.0 <= c <= 100.0) for c in value):
            raise ValueError(f"unseen_cohs must be coherences in [0, 100], got {value}")
        return value

    @property
    def extra_sets(self) -> list[str]:
        return [s for s in self.sets if s != RECALL]

    @property
    def is_default(self) -> bool:
        """Recall only: today's evaluation, which no hash mentions."""
        return not self.extra_sets

    def sets_for(self, task_name: str) -> list[str]:
        """The extra sets that apply to `task_name`."""
        return [
            s
            for s in self.extra_sets
            if s not in PERCEPTUAL_ONLY or task_name == "perceptual_decision_making"
        ]

    def unseen_for(self, training_cohs: tuple[float, ...]) -> tuple[float, ...]:
        """The held-out coherences for a task trained on `training_cohs`."""
        if self.unseen_cohs is not None:
            return tuple(float(c) for c in self.unseen_cohs)
        # In decimal, so that the midpoint of 6.4 and 12.8 is 9.6 (not 9.600000000000001) and
        # of coherences written with many digits keeps all of them.
        ordered = sorted(Decimal(repr(float(c))) for c in set(training_cohs))
        return tuple(float((a + b) / 2) for a, b in itertools.pairwise(ordered))
