"""Transparent huge pages for the pack processes' large buffers.

A training step allocates and frees several [T, P, B, N] float32 buffers (the input drive,
the activations BPTT keeps, their gradient: ~80 MB each at the paper's shape with P = 11).
glibc serves every allocation over 32 MB with a fresh mmap, so each step touches ~320 MB of
new 4 KiB pages: ~80,000 page faults, 12-18 % of the step on CPU (benchmarks/huge_pages.py).
glibc's tunable `glibc.malloc.hugetlb=1` (2.35 and later) makes malloc ask the kernel for
transparent huge pages (madvise), 2 MiB each: 50x fewer faults. Tunables are read when a
process starts, so the setting goes into the environment the pack processes' fork server
is started with (worker/pack_process.py). Where transparent huge pages are off, or glibc is
older or not glibc, the tunable is ignored.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

TUNABLE = "glibc.malloc.hugetlb"


def with_huge_pages(tunables: str | None) -> str:
    """GLIBC_TUNABLES with malloc's huge pages on and the other tunables kept; a value the
    operator set for this tunable (e.g. 0, to turn it off) is kept."""
    items = [t for t in (tunables or "").split(":") if t]
    if any(t.partition("=")[0] == TUNABLE for t in items):
        return ":".join(items)
    return ":".join([*items, f"{TUNABLE}=1"])


def enable_for_children(environ: MutableMapping[str, str] = os.environ) -> None:
    """Processes started from now on (not this one) allocate large buffers in huge pages."""
    environ["GLIBC_TUNABLES"] = with_huge_pages(environ.get("GLIBC_TUNABLES"))
