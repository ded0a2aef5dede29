"""What every task provides, and counter-based seeding of its batches.

A task generates a whole batch in a few tensor operations on the requested device:
inputs [T, B, n_inputs] float32 and labels [B] int64 (the class to read out at the last step).

Seeding is counter-based: the generator for batch `step` of stream `stream` of a run with
seed `seed` is derived from (seed, stream, step) alone, so batch k can be regenerated without
replaying batches 0..k-1. A trainer that resumes at step k therefore sees exactly the trials
an uninterrupted run would have seen.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import torch

# Streams kept apart so that training batches never coincide with held-out trials.
STREAM_TRAIN = "train"
STREAM_TEST = "test"


def derive_seed(seed: int, stream: str, step: int) -> int:
    """A 63-bit seed for torch from (run seed, stream name, step counter)."""
    if seed < 0 or step < 0:
        raise ValueError(f"seed and step must be non-negative, got seed={seed}, step={step}")
    digest = hashlib.blake2b(f"{seed}:{stream}:{step}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF


def batch_generator(
    seed: int, step: int, stream: str = STREAM_TRAIN, device: torch.device | str = "cpu"
) -> torch.Generator:
    """A fresh torch.Generator on `device` for batch `step` of `stream` of a run with `seed`."""
    import torch  # noqa: PLC0415 - services.spec imports the tasks without torch

    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed(derive_seed(seed, stream, step))
    return gen


@dataclass(frozen=True)
class TrialBatch:
    inputs: torch.Tensor  # [T, B, n_inputs] float32
    labels: torch.Tensor  # [B] int64, the answer at the last time step
    # Per-trial conditions (e.g. coherence, problem index) for analyses; [B] tensors.
    meta: dict[str, torch.Tensor] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """Base class; subclasses are frozen dataclasses whose fields are the task parameters."""

    name: ClassVar[str]
    n_inputs: ClassVar[int]
    n_outputs: ClassVar[int]

    @property
    def n_steps(self) -> int:
        raise NotImplementedError

    @property
    def chance(self) -> float:
        return 1.0 / self.n_outputs

    @property
    def periods(self) -> tuple[tuple[str, int], ...]:
        """The trial's periods in order, (name, steps) each, summing to `n_steps` (what a
        timing-jitter evaluation moves the boundaries of)."""
        raise NotImplementedError

    def generate(
        self,
        batch_size: int,
        generator: torch.Generator,
        device: torch.device | str | None = None,
    ) -> TrialBatch:
        """A batch of `batch_size` trials drawn with `generator` on `device`
        (default: the generator's device)."""
        self._check_batch(batch_size)
        return self._draw(batch_size, generator, self._device(generator, device))

    def _draw(
        self, batch_size: int, generator: torch.Generator, device: torch.device
    ) -> TrialBatch:
        """The batch itself, once `batch_size` and `device` have been checked."""
        raise NotImplementedError

    def _device(
        self, generator: torch.Generator, device: torch.device | str | None
    ) -> torch.device:
        import torch  # noqa: PLC0415 - services.spec imports the tasks without torch

        dev = torch.device(device) if device is not None else generator.device
        if dev.type != generator.device.type:
            raise ValueError(
                f"task '{self.name}': generator lives on {generator.device} but device is {dev}; "
                "create the generator on the device that should hold the batch "
                "(batch_generator(..., device=...))"
            )
        return dev

    @staticmethod
    def _check_batch(batch_size: int) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "n_inputs": self.n_inputs,
            "n_outputs": self.n_outputs,
            "n_steps": self.n_steps,
            "chance": self.chance,
            "params": asdict(self),
        }


class PeriodTask(Task):
    """Mixin for a task whose trial is a fixation, a stimulus, a delay and a decision period
    (step counts the subclass declares as dataclass fields, with its input-noise std `sigma`)."""

    fixation: int
    stimulus: int
    delay: int
    decision: int
    sigma: float

    @property
    def n_steps(self) -> int:
        return self.fixation + self.stimulus + self.delay + self.decision

    @property
    def periods(self) -> tuple[tuple[str, int], ...]:
        return (
            ("fixation", self.fixation),
            ("stimulus", self.stimulus),
            ("delay", self.delay),
            ("decision", self.decision),
        )

    def _check_periods(self) -> None:
        check_steps(
            self.name,
            fixation=self.fixation,
            stimulus=self.stimulus,
            delay=self.delay,
            decision=self.decision,
        )
        if self.stimulus == 0:
            raise ValueError(f"task '{self.name}': the stimulus must last at least one step")

    def _check_sigma(self) -> None:
        if not (self.sigma >= 0.0):
            raise ValueError(f"task '{self.name}': sigma must be >= 0, got {self.sigma!r}")


def draw_index(
    high: int, batch_size: int, generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """[B] int64 indices drawn uniformly from 0..high-1 (a class, a problem, a condition)."""
    import torch  # noqa: PLC0415 - services.spec imports the tasks without torch

    return torch.randint(0, high, (batch_size,), generator=generator, device=device)


def trials_from_templates(templates: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """[T, B, n_inputs] inputs: the [T, n_inputs] template `index[b]` for each trial b."""
    return templates[index].transpose(0, 1).contiguous()


def check_steps(task: str, **steps: int) -> None:
    for key, value in steps.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(
                f"task '{task}': parameter '{key}' must be a non-negative integer number of steps, "
                f"got {value!r}"
            )
