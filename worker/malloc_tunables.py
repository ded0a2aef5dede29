"""glibc malloc tunables for the pack processes' large buffers.

A training step allocates and frees several [T, P, B, N] float32 buffers (the input drive,
the activations BPTT keeps, their gradient: ~80 MB each at the paper's shape with P = 11) and,
every time step of the scan, a dozen [P, B, N] temporaries of 1-4 MB. By default glibc serves
every allocation over its mmap threshold with a fresh mapping and returns it on free, so each
step touches hundreds of MB of new pages: ~80,000 page faults, 12-18 % of the step on CPU.

- `glibc.malloc.hugetlb=1` (glibc 2.35 and later; `huge_pages`): malloc asks the kernel for
  transparent huge pages (madvise), 2 MiB each: 50x fewer faults. But the kernel compacts
  memory to find each huge page while the step waits (~10 ms stalls, about 1 fault in 10).
- `glibc.malloc.mmap_max=0` and a `trim_threshold` beyond any heap (`keep_freed_memory`):
  every allocation comes from the heap and freed memory stays there, so from the second step
  on, the step's buffers reuse the pages of the step before: no page faults at all, 1.1x
  faster bf16-mixed steps again (benchmarks/malloc_tunables.py). The process keeps its peak
  footprint until it exits (a pack process lives for one pack), and fragmentation raises that
  peak by 12-18 % (docs/operations.md).

Tunables are read when a process starts, so they go into the environment the pack processes'
fork server is started with (worker/pack_process.py). Where glibc is older or not glibc, or
transparent huge pages are off, a tunable it does not know is ignored.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

HUGE_PAGES = {"glibc.malloc.hugetlb": "1"}
# 2^40 bytes: no heap reaches it, so free never gives memory back to the kernel.
KEEP_FREED_MEMORY = {"glibc.malloc.mmap_max": "0", "glibc.malloc.trim_threshold": str(2**40)}


def with_tunables(tunables: str | None, wanted: dict[str, str]) -> str:
    """GLIBC_TUNABLES with `wanted` added and the other tunables kept; a value the operator
    set for one of them (e.g. glibc.malloc.hugetlb=0, to turn it off) is kept."""
    items = [t for t in (tunables or "").split(":") if t]
    present = {t.partition("=")[0] for t in items}
    return ":".join([*items, *(f"{k}={v}" for k, v in wanted.items() if k not in present)])


def pack_tunables(huge_pages: bool = True, keep_freed_memory: bool = True) -> dict[str, str]:
    return {
        **(HUGE_PAGES if huge_pages else {}),
        **(KEEP_FREED_MEMORY if keep_freed_memory else {}),
    }


def enable_for_children(
    wanted: dict[str, str], environ: MutableMapping[str, str] = os.environ
) -> None:
    """Processes started from now on (not this one) get the `wanted` tunables."""
    if wanted:
        environ["GLIBC_TUNABLES"] = with_tunables(environ.get("GLIBC_TUNABLES"), wanted)
