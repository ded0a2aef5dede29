"""The suite's rule (docs/testing.md): no test asserts a wall-clock limit. CI machines are
shared and loaded; a limit such as `assert time.monotonic() - t0 < 1.0` fails there without a
bug. A deadline on a wait (`assert time.monotonic() < deadline, "never started"`) is allowed."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
CLOCKS = {"monotonic", "perf_counter", "time", "monotonic_ns", "perf_counter_ns"}


def _reads_clock(node: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr in CLOCKS
        and isinstance(n.func.value, ast.Name)
        and n.func.value.id == "time"
        for n in ast.walk(node)
    )


def wall_clock_limits(source: str) -> list[int]:
    """Lines of asserts that bound an elapsed time: (clock - start) compared with a number."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Assert) or not isinstance(node.test, ast.Compare):
            continue
        sides = [node.test.left, *node.test.comparators]
        if any(isinstance(s, ast.BinOp) and isinstance(s.op, ast.Sub) and _reads_clock(s)
               for s in sides):  # fmt: skip
            lines.append(node.lineno)
    return lines


def test_the_check_finds_a_limit_and_allows_a_deadline() -> None:
    assert wall_clock_limits(
        "import time\nt0 = time.monotonic()\nassert time.monotonic() - t0 < 1\n"
    ) == [3]
    assert wall_clock_limits("assert 5 > time.perf_counter() - t0\n") == [1]
    assert wall_clock_limits("assert time.monotonic() < deadline, 'never started'\n") == []


def test_no_test_asserts_a_wall_clock_limit() -> None:
    found = [
        f"{path.relative_to(TESTS.parent)}:{line}"
        for path in sorted(TESTS.rglob("*.py"))
        for line in wall_clock_limits(path.read_text())
    ]
    assert not found, f"wall-clock limits asserted (use event order or a ratio): {found}"
