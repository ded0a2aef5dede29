"""`cortexrnn serve --workers N` splits the machine's cores over its workers instead of giving
each worker every core (oversubscription makes CPU training several times slower)."""

from __future__ import annotations

from cortexrnn.cli.serve import threads_per_worker


def test_cores_are_split_over_workers() -> None:
    assert [threads_per_worker(w, 2) for w in (1, 2, 3)] == [2, 1, 1]
    assert threads_per_worker(4, 16) == 4 and threads_per_worker(0, 8) == 8
