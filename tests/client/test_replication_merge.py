"""Joining experiments that differ only in their seeds into one replication table (seeds run
on different servers or in different sessions)."""

from __future__ import annotations

import pandas as pd
import pytest

from cortexrnn.client.replication import load_label, merge, save


def _part(exp_id: int, seeds: list[int], fidelity: bool = True) -> tuple[pd.DataFrame, dict]:
    rows = [
        {"condition": "W", "task": "go_no_go", "seed": s, "metric": "test_acc", "value": 0.5 + s}
        for s in seeds
    ]
    meta = {
        "experiment_id": exp_id,
        "dataset": "microns-6_6_2",
        "sampling": {"strategy": "all"},
        "fidelity_switches": {"reshape_positions": fidelity},
        "worker_s": 100.0,
        "wall_s": 60.0,
        "counts": {"succeeded": len(seeds)},
        "device": "cpu (local-0)",
    }
    return pd.DataFrame(rows), meta


def test_parts_with_disjoint_seeds_become_one_table() -> None:
    df, meta = merge("paper", [_part(1, [0, 1]), _part(7, [2, 3])])
    assert sorted(df["seed"]) == [0, 1, 2, 3]
    assert meta["experiment_ids"] == [1, 7]
    assert meta["worker_s"] == 200.0 and meta["counts"] == {"succeeded": 4}
    assert meta["device"] == "cpu (local-0)"


def test_parts_sharing_a_seed_are_refused() -> None:
    with pytest.raises(ValueError, match="share runs"):
        merge("paper", [_part(1, [0, 1]), _part(2, [1, 2])])


def test_parts_of_different_fidelity_are_refused() -> None:
    with pytest.raises(ValueError, match="fidelity_switches"):
        merge("paper", [_part(1, [0]), _part(2, [1], fidelity=False)])


def test_a_saved_table_extends_with_seeds_from_another_server(tmp_path) -> None:
    save(tmp_path, "paper", *_part(1, [0, 1]))
    saved = load_label(tmp_path, "paper")
    assert saved is not None
    df, meta = merge("paper", [saved, _part(1, [2])])  # ids repeat across servers
    save(tmp_path, "paper", df, meta)
    again = load_label(tmp_path, "paper")
    assert again is not None and sorted(again[0]["seed"]) == [0, 1, 2]
    assert again[1]["experiment_ids"] == [1, 1]
    assert load_label(tmp_path, "corrected") is None


def test_a_setting_recorded_before_it_existed_counts_at_its_default() -> None:
    """Tables fetched before `training.precision` existed do not name it: they ran at fp32,
    the default, so they join a newer fp32 table; a newer bf16-mixed table is refused."""
    old_training = {"epochs": 10, "lr": 0.001}

    def rows(seed: int) -> pd.DataFrame:
        return pd.DataFrame(
            [dict(condition="W", task="go_no_go", seed=seed, metric="test_acc", value=0.5)]
        )

    old = (rows(0), {"experiment_id": 1, "training": old_training})
    new = (rows(1), {"experiment_id": 2, "training": {**old_training, "precision": "fp32"}})
    df, meta = merge("paper", [old, new])
    assert sorted(df["seed"]) == [0, 1] and meta["experiment_ids"] == [1, 2]
    bf16 = (rows(2), {"experiment_id": 3, "training": {**old_training, "precision": "bf16-mixed"}})
    with pytest.raises(ValueError, match="differs from experiment 1 in training"):
        merge("paper", [old, bf16])
