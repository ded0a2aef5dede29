"""benchmarks/gpu.py runs every code path on the CPU in CI (a toy grid), so that the script
a lent GPU runs is known to work before the GPU time is spent."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.py"


def test_the_gpu_benchmark_runs_its_tiny_grid_on_the_cpu() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--device", "cpu", "--budget-s", "5"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    lines = out.splitlines()
    assert lines[0].startswith("# gpu benchmark:") and "N = 16" in lines[0]
    assert lines[1].startswith("roofs: fp32 matmul") and "GB/s" in lines[1]
    rows = {line.split()[0]: line.split() for line in lines[3:]}
    assert set(rows) == {"fp32", "bf16-mixed"}
    for precision, cols in rows.items():
        # pack size, packs, network-steps/s: the whole toy grid in one pack per task
        assert int(cols[1]) == 22 and int(cols[2]) == 3, precision
        assert float(cols[3].replace(",", "")) > 0, precision


def test_asking_for_cuda_without_a_gpu_says_so() -> None:
    import torch

    if torch.cuda.is_available():
        return
    res = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--device", "cuda"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode != 0 and "no CUDA device" in res.stderr
