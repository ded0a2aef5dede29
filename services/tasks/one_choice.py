"""One-choice inference, the seRNN maze task (Achterberg et al. 2023).

Goal period: the goal is shown one-hot on channels 0-3 (maze goals 7, 9, 17, 19); delay:
zeros; choice period: the two available directions on channels 4-7 (l, u, r, d). The label
is the first step towards the goal, one of l, u, r, d. Eight distinct problems, drawn
uniformly; a network that ignores the goal can reach 0.625 (problems 0/4, 1/3, 6/7 show the
same directions with different answers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from cortexrnn.services.tasks.base import (
    Task,
    TrialBatch,
    check_steps,
    draw_index,
    trials_from_templates,
)

if TYPE_CHECKING:
    import torch

GOALS = (7, 9, 17, 19)  # maze goal -> channel 0..3
DIRECTIONS = ("l", "u", "r", "d")  # channel 4..7 and label 0..3

# (goal, directions shown, answer) per problem, from the seRNN paper.
PROBLEMS: tuple[tuple[int, tuple[str, str], str], ...] = (
    (9, ("u", "l"), "u"),
    (9, ("r", "d"), "r"),
    (19, ("l", "d"), "d"),
    (17, ("r", "d"), "d"),
    (17, ("u", "l"), "l"),
    (7, ("u", "r"), "u"),
    (19, ("l", "r"), "r"),
    (7, ("l", "r"), "l"),
)


@dataclass(frozen=True)
class OneChoiceInference(Task):
    name: ClassVar[str] = "one_choice_inference"
    n_inputs: ClassVar[int] = 8
    n_outputs: ClassVar[int] = 4

    goal: int = 20
    delay: int = 10
    choices: int = 20

    def __post_init__(self) -> None:
        check_steps(self.name, goal=self.goal, delay=self.delay, choices=self.choices)
        if self.goal == 0 or self.choices == 0:
            raise ValueError(f"task '{self.name}': goal and choices must last at least one step")

    @property
    def n_steps(self) -> int:
        return self.goal + self.delay + self.choices

    @property
    def periods(self) -> tuple[tuple[str, int], ...]:
        return (("goal", self.goal), ("delay", self.delay), ("choices", self.choices))

    def templates(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """[8 problems, T, 8 channels] noiseless inputs."""
        import torch  # noqa: PLC0415 - services.spec imports the tasks without torch

        out = torch.zeros(len(PROBLEMS), self.n_steps, self.n_inputs, device=device)
        start = self.goal + self.delay
        for p, (goal, shown, _answer) in enumerate(PROBLEMS):
            out[p, : self.goal, GOALS.index(goal)] = 1.0
            for d in shown:
                out[p, start:, 4 + DIRECTIONS.index(d)] = 1.0
        return out

    @staticmethod
    def answers(device: torch.device | str = "cpu") -> torch.Tensor:
        import torch  # noqa: PLC0415 - services.spec imports the tasks without torch

        return torch.tensor(
            [DIRECTIONS.index(a) for *_x, a in PROBLEMS], dtype=torch.int64, device=device
        )

    def _draw(self, batch_size: int, generator: torch.Generator, dev: torch.device) -> TrialBatch:
        problem = draw_index(len(PROBLEMS), batch_size, generator, dev)
        inputs = trials_from_templates(self.templates(dev), problem)
        return TrialBatch(
            inputs=inputs, labels=self.answers(dev)[problem], meta={"problem": problem}
        )
