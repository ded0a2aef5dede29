"""CI's mutation sample (tools/mutation_sample.py) fails on the right evidence: its bound is
the one-sided Clopper–Pearson bound (statsmodels), and it reads mutmut's verdict files."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from statsmodels.stats.proportion import proportion_confint

TOOL = Path(__file__).resolve().parents[2] / "tools" / "mutation_sample.py"
spec = importlib.util.spec_from_file_location("mutation_sample", TOOL)
assert spec and spec.loader
sample = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sample)


@pytest.mark.parametrize(("killed", "tested"), [(0, 10), (20, 40), (30, 40), (34, 40), (39, 40)])
def test_upper_bound_is_the_one_sided_clopper_pearson_bound(killed: int, tested: int) -> None:
    # A two-sided 90 % interval's upper end is the one-sided 95 % bound.
    _, upper = proportion_confint(killed, tested, alpha=0.10, method="beta")
    assert sample.upper_bound(killed, tested) == pytest.approx(upper, rel=1e-9)
    assert sample.upper_bound(tested, tested) == 1.0


def test_a_gutted_test_suite_fails_the_target_and_a_good_one_passes() -> None:
    # 27 of 40 killed (67 %) is evidence of a score below 85 %; 31 of 40 (78 %) is not.
    assert sample.upper_bound(27, 40) < 0.85 <= sample.upper_bound(31, 40)


def test_verdicts_are_read_from_every_meta_file(tmp_path: Path) -> None:
    meta = tmp_path / "mutants" / "cortexrnn" / "services"
    meta.mkdir(parents=True)
    (meta / "a.py.meta").write_text(json.dumps({"exit_code_by_key": {"m.x_f__mutmut_1": 1}}))
    (meta / "b.py.meta").write_text(json.dumps({"exit_code_by_key": {"m.x_g__mutmut_1": None}}))
    assert sample.verdicts(tmp_path) == {"m.x_f__mutmut_1": 1, "m.x_g__mutmut_1": None}


def test_a_failed_run_shows_mutmuts_complaint_not_its_thousands_of_pending_mutants() -> None:
    # What CI printed when mutmut's clean run failed: spinner frames joined by carriage
    # returns, then every mutant "not checked"; the one line that said why was lost.
    spinner = "".join(f"{c} Generating mutants" for c in "⠋⠙⠹⠸") + "\r"
    pending = "".join(f"    m.x_f__mutmut_{i}: not checked\n" for i in range(3000))
    output = spinner + "\n    done in 80ms\n⠋ Running clean tests\rFailed to run clean test\n"
    assert sample.readable(output + pending) == "    done in 80ms\nFailed to run clean test"
