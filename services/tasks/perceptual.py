"""Perceptual decision making (NeuroGym `PerceptualDecisionMaking`, dt = 100 ms).

Channels: 0 fixation (1 until the decision period; with the paper's timings, which have no
decision period, always 1), 1 and 2 evidence for directions theta = 0 and pi:
cos(theta - theta_gt) * coh / 200 + 0.5 + N(0, sigma) during the stimulus, 0 otherwise.
Coherence and direction are drawn uniformly per trial; the label is the direction index.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from cortexrnn.services.tasks.base import PeriodTask, TrialBatch, draw_index

if TYPE_CHECKING:
    import torch

COHERENCES = (0.0, 6.4, 12.8, 25.6, 51.2)


@dataclass(frozen=True)
class PerceptualDecisionMaking(PeriodTask):
    name: ClassVar[str] = "perceptual_decision_making"
    n_inputs: ClassVar[int] = 3
    n_outputs: ClassVar[int] = 2

    fixation: int = 1
    stimulus: int = 30
    delay: int = 10
    decision: int = 0
    cohs: tuple[float, ...] = COHERENCES
    # NeuroGym: sigma / sqrt(dt) with sigma = 1, dt = 100 ms.
    sigma: float = 0.1

    def __post_init__(self) -> None:
        self._check_periods()
        object.__setattr__(self, "cohs", tuple(float(c) for c in self.cohs))
        if not self.cohs or any(not (0.0 <= c <= 100.0) for c in self.cohs):
            raise ValueError(
                f"task '{self.name}': cohs must be a non-empty list of coherences in [0, 100], got "
                f"{self.cohs!r}"
            )
        self._check_sigma()

    @property
    def stimulus_slice(self) -> slice:
        return slice(self.fixation, self.fixation + self.stimulus)

    def _draw(self, batch_size: int, generator: torch.Generator, dev: torch.device) -> TrialBatch:
        import torch  # noqa: PLC0415 - services.spec imports the tasks without torch

        labels = draw_index(2, batch_size, generator, dev)
        coh_index = draw_index(len(self.cohs), batch_size, generator, dev)
        coh = torch.tensor(self.cohs, dtype=torch.float32, device=dev)[coh_index]
        noise = torch.randn((self.stimulus, batch_size, 2), generator=generator, device=dev)

        # cos(theta_c - theta_gt) is +1 for the true direction and -1 for the other
        # (written as a sign to keep cos(pi) = -1 exact).
        sign = torch.where(torch.arange(2, device=dev)[None, :] == labels[:, None], 1.0, -1.0)
        evidence = 0.5 + sign * (coh[:, None] / 200.0)  # [B, 2]

        inputs = torch.zeros(self.n_steps, batch_size, 3, device=dev)
        inputs[: self.fixation + self.stimulus + self.delay, :, 0] = 1.0
        inputs[self.stimulus_slice, :, 1:] = evidence[None] + self.sigma * noise
        return TrialBatch(inputs=inputs, labels=labels, meta={"coherence": coh})
