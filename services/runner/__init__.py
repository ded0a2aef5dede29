"""The local experiment runner behind `cortexrnn run`: a whole spec in-process, no server.

`run_experiment(spec, connectome, out_dir, ...)` trains every run and writes the output
folder described by `OUTPUT_LAYOUT`.
"""

from cortexrnn.services.runner.local import (
    OutputFolderInUse,
    RunnerEvent,
    RunnerResult,
    run_experiment,
)
from cortexrnn.services.runner.outputs import OUTPUT_LAYOUT

__all__ = ["OUTPUT_LAYOUT", "OutputFolderInUse", "RunnerEvent", "RunnerResult", "run_experiment"]
