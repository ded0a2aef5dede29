"""Go/no-go (NeuroGym `GoNogo` semantics, the paper's timings).

Channels: 0 fixation, 1 no-go, 2 go. Fixation period [1, 0, 0]; stimulus [0, 1, 0] (no-go)
or [0, 0, 1] (go); delay [1, 0, 0]; decision all zeros. Label 0 = no-go, 1 = go.
NeuroGym keeps the fixation channel on during the stimulus; `fixation_during_stimulus=True`
reproduces that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from cortexrnn.services.tasks.base import PeriodTask, TrialBatch, draw_index, trials_from_templates

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class GoNoGo(PeriodTask):
    name: ClassVar[str] = "go_no_go"
    n_inputs: ClassVar[int] = 3
    n_outputs: ClassVar[int] = 2

    fixation: int = 5
    stimulus: int = 20
    delay: int = 10
    decision: int = 5
    sigma: float = 0.0  # std of Gaussian noise added to every input (the paper adds none here)
    fixation_during_stimulus: bool = False

    def __post_init__(self) -> None:
        self._check_periods()
        self._check_sigma()

    def templates(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """[2 classes (no-go, go), T, 3] noiseless inputs."""
        import torch  # noqa: PLC0415 - services.spec imports the tasks without torch

        out = torch.zeros(2, self.n_steps, 3, device=device)
        s0 = self.fixation
        s1 = s0 + self.stimulus
        d1 = s1 + self.delay
        out[:, :s0, 0] = 1.0
        out[:, s1:d1, 0] = 1.0
        if self.fixation_during_stimulus:
            out[:, s0:s1, 0] = 1.0
        out[0, s0:s1, 1] = 1.0
        out[1, s0:s1, 2] = 1.0
        return out

    def _draw(self, batch_size: int, generator: torch.Generator, dev: torch.device) -> TrialBatch:
        import torch  # noqa: PLC0415 - services.spec imports the tasks without torch

        labels = draw_index(2, batch_size, generator, dev)
        inputs = trials_from_templates(self.templates(dev), labels)
        if self.sigma > 0:
            inputs += self.sigma * torch.randn(inputs.shape, generator=generator, device=dev)
        return TrialBatch(inputs=inputs, labels=labels)
