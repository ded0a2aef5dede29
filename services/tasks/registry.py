"""Task names -> task classes. Importing this module does not import torch."""

from __future__ import annotations

from dataclasses import fields

from cortexrnn.services.tasks.base import Task
from cortexrnn.services.tasks.go_no_go import GoNoGo
from cortexrnn.services.tasks.one_choice import OneChoiceInference
from cortexrnn.services.tasks.perceptual import PerceptualDecisionMaking

TASKS: dict[str, type[Task]] = {
    cls.name: cls for cls in (OneChoiceInference, GoNoGo, PerceptualDecisionMaking)
}
TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def canonical_task_name(name: str) -> str:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in TASKS:
        raise ValueError(f"unknown task '{name}'; available: {', '.join(TASK_NAMES)}")
    return key


def task_parameters(name: str) -> tuple[str, ...]:
    return tuple(f.name for f in fields(TASKS[canonical_task_name(name)]))


def get_task(name: str, **params: object) -> Task:
    """The task `name` with its parameters (timings in steps, coherences, noise) overridden."""
    cls = TASKS[canonical_task_name(name)]
    allowed = task_parameters(cls.name)
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"task '{cls.name}' has no parameter(s) {', '.join(unknown)}; allowed: "
            f"{', '.join(allowed)}"
        )
    if "cohs" in params and params["cohs"] is not None:
        params = {**params, "cohs": tuple(params["cohs"])}  # type: ignore[arg-type]
    return cls(**params)
