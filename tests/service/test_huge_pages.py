"""Pack processes allocate their large buffers in transparent huge pages (worker/huge_pages.py):
the tunable is merged into GLIBC_TUNABLES, the pack processes' fork server starts with it, and
a process started with it takes far fewer page faults to fill a large tensor."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cortexrnn.shared.settings import reset_settings_cache
from cortexrnn.worker import huge_pages, pack_process

THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")

# Fills a fresh 256 MiB float32 tensor (what a training step does with its activations) and
# prints the minor page faults that took.
_FILL = """
import resource, torch
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
x = torch.empty(64 * 1024 * 1024).fill_(1.0)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_tunable_is_added_and_the_operators_tunables_are_kept() -> None:
    assert huge_pages.with_huge_pages(None) == "glibc.malloc.hugetlb=1"
    assert huge_pages.with_huge_pages("") == "glibc.malloc.hugetlb=1"
    assert (
        huge_pages.with_huge_pages("glibc.malloc.arena_max=2")
        == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    )
    # an operator who turned it off keeps it off
    assert (
        huge_pages.with_huge_pages("glibc.malloc.hugetlb=0:glibc.malloc.arena_max=2")
        == "glibc.malloc.hugetlb=0:glibc.malloc.arena_max=2"
    )


@pytest.mark.parametrize(("setting", "expected"), [("1", "glibc.malloc.hugetlb=1"), ("0", None)])
def test_the_fork_server_starts_with_the_tunable_unless_turned_off(
    monkeypatch: pytest.MonkeyPatch, setting: str, expected: str | None
) -> None:
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.setenv("CORTEXRNN_HUGE_PAGES", setting)
    monkeypatch.setattr(pack_process, "_context", None)
    reset_settings_cache()
    try:
        pack_process._forkserver()
    finally:
        reset_settings_cache()
    assert os.environ.get("GLIBC_TUNABLES") == expected


@pytest.mark.skipif(
    not THP.exists() or "[never]" in THP.read_text() or "[always]" in THP.read_text(),
    reason="transparent huge pages are not in madvise mode here (off, or on for every process)",
)
def test_a_process_with_the_tunable_fills_a_large_tensor_with_far_fewer_page_faults() -> None:
    def faults(env: dict[str, str]) -> int:
        out = subprocess.run(
            [sys.executable, "-c", _FILL], env=env, capture_output=True, text=True, check=True
        )
        return int(out.stdout.split()[-1])

    plain = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    tuned = dict(plain)
    huge_pages.enable_for_children(tuned)
    with_plain, with_tuned = faults(plain), faults(tuned)
    # 256 MiB in 4 KiB pages is 65,536 faults; in 2 MiB pages, 128
    assert with_plain > 60_000
    assert with_tuned * 20 < with_plain
