"""The experiment spec: the one definition used by the API, the worker, the client and
`cortexrnn run`. Pydantic models over the science's own settings; importing it loads
neither torch nor anything of the server.

`model` holds what a spec is and how it hashes; `loading` reads one from YAML/JSON with
field-path errors.
"""

from cortexrnn.services.spec.loading import SpecError, load_spec, parse_spec, validation_errors
from cortexrnn.services.spec.model import (
    CODE_VERSION,
    MAX_CONDITIONS,
    MAX_NEURONS,
    MAX_RUNS,
    MAX_SEED_VALUE,
    MAX_SEEDS,
    MAX_TASKS,
    PRIORITY_LEVELS,
    ExperimentSpec,
    RunSpec,
    TaskEntry,
)

__all__ = [
    "CODE_VERSION",
    "MAX_CONDITIONS",
    "MAX_NEURONS",
    "MAX_RUNS",
    "MAX_SEEDS",
    "MAX_SEED_VALUE",
    "MAX_TASKS",
    "PRIORITY_LEVELS",
    "ExperimentSpec",
    "RunSpec",
    "SpecError",
    "TaskEntry",
    "load_spec",
    "parse_spec",
    "validation_errors",
]
