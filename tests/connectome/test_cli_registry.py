"""`cortexrnn datasets ...` and the database registration, against a fresh embedded deployment."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cortexrnn.cli.main import app

runner = CliRunner()


def _ok(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.microns
def test_ingest_list_show(cortexrnn_home: Path, microns_dir: Path) -> None:
    out = _ok(["datasets", "ingest", str(microns_dir / "6_6_2"), "--name", "v1-662"])
    assert "312 neurons, 316 connections, 338 synapses" in out
    assert "v1-662" in _ok(["datasets", "list"])
    info = json.loads(_ok(["datasets", "show", "v1-662"]))
    assert (
        info["n_neurons"] == 312
        and info["fields"] == ["6_6_2"]
        and info["license"].startswith("CC-BY")
    )
    # The stored arrays are where the row says.
    from cortexrnn.shared.datasets_registry import get_store

    assert get_store().get(info["content_sha256"]).n_neurons == 312
    # Same name, different content: refused.
    result = runner.invoke(
        app, ["datasets", "ingest", str(microns_dir / "5_3_8"), "--name", "v1-662"]
    )
    assert result.exit_code == 2 and "is taken by different content" in result.output


@pytest.mark.microns
def test_convert_then_ingest_cave_autodetect(
    cortexrnn_home: Path, microns_dir: Path, tmp_path: Path, cave_writer
) -> None:
    _ok(["datasets", "convert", str(microns_dir / "5_3_4"), "-o", str(tmp_path / "safe")])
    assert np.load(tmp_path / "safe" / "positions_5_3_4.npy", allow_pickle=False).shape == (70, 3)
    from cortexrnn.services.connectome import ingest_field_folders

    cave_writer(
        ingest_field_folders([microns_dir / "5_3_4"], "x"), tmp_path / "cave", fmt="parquet"
    )
    out = _ok(["datasets", "ingest", str(tmp_path / "cave"), "--name", "cave", "--scan-idx", "3"])
    assert "70 neurons" in out


def test_synth_and_default_dataset(cortexrnn_home: Path) -> None:
    out = _ok(["datasets", "synth", "--name", "tiny", "--neurons", "150", "--seed", "4"])
    assert "tiny: 150 neurons" in out
    again = _ok(["datasets", "synth", "--name", "tiny", "--neurons", "150", "--seed", "4"])
    assert out == again  # same seed, same content: the registration is idempotent

    from cortexrnn.shared.datasets_registry import ensure_default_dataset

    row = ensure_default_dataset()
    assert row.name == "synthetic-cortex" and row.n_neurons == 2000 and row.source == "synthetic"
    assert ensure_default_dataset().content_sha256 == row.content_sha256


def test_errors_are_reported(cortexrnn_home: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["datasets", "ingest", str(tmp_path), "--name", "x"])
    assert result.exit_code == 2 and "cannot tell the format" in result.output
    result = runner.invoke(app, ["datasets", "show", "nope"])
    assert result.exit_code == 2 and "no dataset named 'nope'" in result.output
