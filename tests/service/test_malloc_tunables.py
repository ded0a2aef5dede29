"""Pack processes get glibc malloc tunables (worker/malloc_tunables.py): merged into
GLIBC_TUNABLES with the operator's own kept, given to the pack processes' fork server, and a
process started with them takes far fewer page faults to fill a large tensor, and none to
fill it again after freeing it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cortexrnn.shared.settings import reset_settings_cache
from cortexrnn.worker import malloc_tunables, pack_process

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")
HUGE = "glibc.malloc.hugetlb=1"
KEEP = f"glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold={2**40}"

# Ten "steps" that each fill two fresh 64 MiB float32 tensors and a third from them (what a
# training step does with its activations) and free them; prints each step's minor page faults.
_STEPS = """
import resource, torch
def step():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = torch.empty(16 * 1024 * 1024).fill_(1.0)
    b = torch.empty(16 * 1024 * 1024).fill_(1.0)
    c = (a + b).mul_(2.0)
    del a, b, c
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(*[step() for _ in range(10)])
"""


def test_tunables_are_added_and_the_operators_tunables_are_kept() -> None:
    wanted = malloc_tunables.pack_tunables()
    assert malloc_tunables.with_tunables(None, wanted) == f"{HUGE}:{KEEP}"
    assert malloc_tunables.with_tunables("", wanted) == f"{HUGE}:{KEEP}"
    assert (
        malloc_tunables.with_tunables("glibc.malloc.arena_max=2", wanted)
        == f"glibc.malloc.arena_max=2:{HUGE}:{KEEP}"
    )
    # an operator who turned one off keeps it off, and gets the others
    assert (
        malloc_tunables.with_tunables("glibc.malloc.hugetlb=0:glibc.malloc.arena_max=2", wanted)
        == f"glibc.malloc.hugetlb=0:glibc.malloc.arena_max=2:{KEEP}"
    )
    assert malloc_tunables.pack_tunables(False, False) == {}
    assert malloc_tunables.with_tunables("a=1", {}) == "a=1"


@pytest.mark.parametrize(
    ("huge", "keep", "expected"),
    [
        ("1", "1", f"{HUGE}:{KEEP}"),
        ("0", "1", KEEP),
        ("1", "0", HUGE),
        ("0", "0", None),
    ],
)
def test_the_fork_server_starts_with_the_tunables_unless_turned_off(
    monkeypatch: pytest.MonkeyPatch, huge: str, keep: str, expected: str | None
) -> None:
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.setenv("CORTEXRNN_HUGE_PAGES", huge)
    monkeypatch.setenv("CORTEXRNN_KEEP_FREED_MEMORY", keep)
    monkeypatch.setattr(pack_process, "_context", None)
    reset_settings_cache()
    try:
        pack_process._forkserver()
    finally:
        reset_settings_cache()
    assert os.environ.get("GLIBC_TUNABLES") == expected


def _faults(tunables: dict[str, str]) -> list[int]:
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    malloc_tunables.enable_for_children(tunables, env)
    out = subprocess.run(
        [sys.executable, "-c", _STEPS], env=env, capture_output=True, text=True, check=True
    )
    return [int(f) for f in out.stdout.split()[-10:]]


def test_with_freed_memory_kept_later_steps_take_few_or_no_page_faults() -> None:
    plain = _faults({})
    kept = _faults(malloc_tunables.KEEP_FREED_MEMORY)
    # 192 MiB in 4 KiB pages is 49,152 faults: by default every step takes them again
    assert all(f > 40_000 for f in plain)
    # kept: the heap grows to hold the step within a few steps, then the step reuses it
    assert kept[0] > 40_000
    assert sum(kept[1:]) * 2 < sum(plain[1:])
    assert kept[-1] <= 16_384


@pytest.mark.skipif(
    not THP.exists() or "[never]" in THP.read_text() or "[always]" in THP.read_text(),
    reason="transparent huge pages are not in madvise mode here (off, or on for every process)",
)
def test_a_process_with_huge_pages_fills_large_tensors_with_far_fewer_page_faults() -> None:
    plain = _faults({})[0]
    huge = _faults(malloc_tunables.HUGE_PAGES)[0]
    # in 2 MiB pages, 96
    assert plain > 40_000
    assert huge * 20 < plain
