"""The figure of the released code's reshape geometry, on the paper's field."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "replication" / "reshape_geometry.py"
_spec = importlib.util.spec_from_file_location("reshape_geometry", _SCRIPT)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
main = _module.main


@pytest.mark.microns
def test_reshape_geometry_figure_states_what_the_released_geometry_is(
    microns_dir, tmp_path, capsys
) -> None:
    out = tmp_path / "geometry.png"
    assert main([str(microns_dir / "6_6_2"), str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = dict(
        line.split(": ") for line in capsys.readouterr().out.splitlines() if ": " in line
    )
    # SCIENCE.md §5.1: the released distances are unrelated to the true ones (ρ ≈ 0.007) ...
    assert abs(float(printed["spearman_true_vs_released"])) < 0.05
    # ... and form three modules by unit index mod 3.
    within = float(printed["released_within_class_mean"])
    assert float(printed["released_between_class_mean"]) > 3 * within


def test_geometry_command_explains_its_usage(capsys) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().out
