"""The memory limit of a pack's process (worker/pack_process.py) and the reason a pack that
passes it fails with.

The limit is RLIMIT_DATA, set by the pack's process on itself once it knows the pack: every
private writable mapping (malloc, numpy and torch CPU tensors, thread stacks) counts, so an
allocation that would pass it fails at once with MemoryError (numpy) or torch's "can't
allocate memory" RuntimeError, before a page is touched: the pack fails with a reason and the
host never comes near the kernel's out-of-memory killer. RLIMIT_AS would also count the
address space torch and CUDA reserve without using (VmSize is twice VmData after importing
torch on CPU); an RSS watchdog in the parent would notice a fast allocation only after the
memory is taken. The limit counts from what the process holds when it is set (the imported
code, about 450 MiB on CPU), so it stands for what the pack itself maps: for small packs that
is over 1 GiB more than they keep resident (see ESTIMATE_SLACK_MB); an operator's
CORTEXRNN_PACK_MEMORY_LIMIT_MB is taken as it is and must allow for it.

CUDA devices get no host limit here: what the CUDA driver maps under RLIMIT_DATA has not been
measured (no GPU in this project's test runs); a pack that exhausts the GPU fails with torch's
out-of-memory error, caught as any training error is."""

from __future__ import annotations

import logging
import resource
from dataclasses import dataclass

from cortexrnn.services.priors.conditions import Condition
from cortexrnn.services.spec import ExperimentSpec
from cortexrnn.services.spec.cost import pack_peak_bytes
from cortexrnn.shared.settings import Settings

log = logging.getLogger("cortexrnn.worker")

MIB = 2**20
# Over a cost estimate: its relative error, and what the process maps beyond what it keeps
# resident. RLIMIT_DATA counts mappings, not pages touched: a pack of four 24-neuron networks
# went from 450 to 1,590 MiB of data mapped while its resident size peaked at 590 MiB
# (malloc arenas per thread, buffers reserved larger than they are filled). A limit without
# this slack makes small allocations fail in the measuring code, which drops metric groups.
ESTIMATE_MARGIN = 0.5
ESTIMATE_SLACK_MB = 2048.0


@dataclass(frozen=True)
class MemoryLimit:
    mb: float  # what the pack may allocate beyond the process's start
    source: str  # where the figure comes from, for the failure reason


def estimated_pack_mb(
    spec: ExperimentSpec, conditions: list[Condition], n_units: int, n_nulls: int
) -> float:
    """The admission cost model's peak memory (MiB, services/spec/cost.py) of one pack of
    `len(conditions)` networks (one per run) sharing `spec`'s settings, beyond the process
    itself: every network counted as the costliest of the pack's conditions."""
    networks = len(conditions)
    distinct = {c.model_dump_json(): c for c in conditions}.values()
    peak = max(
        pack_peak_bytes(
            spec.model_copy(update={"conditions": {"pack": c}}),
            n_units,
            networks,
            n_nulls=n_nulls,
            runtime=False,
        )
        for c in distinct
    )
    return peak / MIB


def pack_limit(
    spec: ExperimentSpec, conditions: list[Condition], n_units: int | None, settings: Settings
) -> MemoryLimit | None:
    """The operator's setting if there is one, else the estimate plus margin; None: no limit
    (the number of neurons unknown before the dataset is read)."""
    if settings.pack_memory_limit_mb is not None:
        return MemoryLimit(settings.pack_memory_limit_mb, "CORTEXRNN_PACK_MEMORY_LIMIT_MB")
    if n_units is None or not conditions:
        return None
    estimate = estimated_pack_mb(spec, conditions, n_units, settings.final_nulls)
    return MemoryLimit(
        estimate * (1 + ESTIMATE_MARGIN) + ESTIMATE_SLACK_MB,
        f"the estimate of {estimate:.0f} MiB plus margin",
    )


def data_mb() -> float:
    """This process's private writable memory (VmData): what RLIMIT_DATA counts."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmData:"):
                return int(line.split()[1]) / 1024
    raise OSError("no VmData in /proc/self/status")


_in_force: MemoryLimit | None = None


def enforce(limit: MemoryLimit) -> None:
    """Limit this process (a pack's own: never a worker or a test process) to what it holds
    now plus `limit.mb`. The soft limit only: `lift` raises it again so that the failure can
    be written once the pack gave up."""
    global _in_force  # one pack per process
    ceiling = int((data_mb() + limit.mb) * MIB)
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (ceiling, hard))
    _in_force = limit
    log.info("pack memory limit: %.0f MiB beyond the process's own (%s)", limit.mb, limit.source)


def current() -> MemoryLimit | None:
    """The limit this process set on itself, if any."""
    return _in_force


def lift() -> None:
    """Back to the hard limit (unlimited unless the operator set one), where `enforce` set
    a soft one."""
    if _in_force is None:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    resource.setrlimit(resource.RLIMIT_DATA, (hard, hard))


def is_out_of_memory(exc: BaseException) -> bool:
    """An allocation refused: numpy's and Python's MemoryError, torch's allocator errors (CPU:
    a RuntimeError saying it can't allocate memory; CUDA: torch.OutOfMemoryError, itself a
    RuntimeError)."""
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text.lower()
    )


def exceeded_reason(limit: MemoryLimit | None, exc: BaseException) -> str:
    """What a user reads on each run of a pack that ran out of memory."""
    fix = (
        "reduce training.batch_size, training.train_trials or training.test_trials, the task's "
        "trial length or sampling.n_neurons, or ask the operator for more memory per pack"
    )
    if limit is None:
        return f"the pack ran out of memory ({type(exc).__name__}: {exc}); {fix}"
    return (
        f"the pack needed more than {limit.mb:.0f} MiB of memory, its limit ({limit.source}); {fix}"
    )
