"""Admission control (issue 16): what the queue was found to accept and then lose a worker
to is refused at submission, with a 422 naming the field and the limit, storing nothing:
a trial of 10^9 steps, a grid of 10^15 points, 2^31 optimiser steps; and the other limits
(neurons, runs, worker-hours), each a setting. The cost model behind it is checked against
numbers worked out by hand and against the memory a real training step takes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from cortexrnn.services.spec import ExperimentSpec, load_spec
from cortexrnn.services.spec.cost import RUNTIME_BYTES, estimate, run_flops, run_memory
from cortexrnn.shared.admission import AdmissionRefused, check_admission
from cortexrnn.shared.settings import Settings
from tests.security.conftest import ModuleApi, small_spec, snapshot

REPO = Path(__file__).resolve().parents[2]


def refused(api: ModuleApi, spec: dict[str, Any], field: str, *needles: str) -> dict:
    """Both routes answer 422 naming `field` and the limit; neither stores anything."""
    before = snapshot()
    for url in ("/v1/experiments", "/v1/experiments/validate"):
        response = api.post(url, json=spec)
        assert response.status_code == 422, (url, response.text[:500])
        error = response.json()["error"]
        assert [f["path"] for f in error["fields"]] == [field], error
        for needle in needles:
            assert needle in error["message"], error
    assert snapshot() == before
    return error


@pytest.fixture()
def limits(module_api: ModuleApi) -> Iterator[Any]:
    """Change the app's queue limits for one test (as CORTEXRNN_MAX_* would)."""
    app: Any = module_api.client.app
    original = app.state.settings

    def set_limits(**changes: Any) -> None:
        app.state.settings = original.model_copy(update=changes)

    yield set_limits
    app.state.settings = original


# -- the findings ------------------------------------------------------------------------------


def test_trial_of_a_billion_steps_is_refused(module_api: ModuleApi) -> None:
    spec = small_spec(tasks=[{"name": "go_no_go", "params": {"stimulus": 10**9}}])
    error = refused(
        module_api, spec, "tasks[0].params.stimulus", "1000000020 time steps", "limit of 10000"
    )
    assert "CORTEXRNN_MAX_TRIAL_STEPS" in error["message"]


def test_grid_of_ten_to_the_fifteen_points_is_refused(module_api: ModuleApi) -> None:
    spec = small_spec(conditions={"huge": {"space": "grid", "grid_shape": [10**5, 10**5, 10**5]}})
    error = refused(module_api, spec, "conditions.huge.grid_shape", "mostly grid")
    assert "CORTEXRNN_MAX_PACK_MEMORY_GB" in error["message"]
    # Dimensions whose product no float can hold are refused the same way, not a 500.
    spec = small_spec(conditions={"huge": {"space": "grid", "grid_shape": [10**200] * 3}})
    error = refused(module_api, spec, "conditions.huge.grid_shape", "over 10^")


def test_total_steps_past_two_to_the_31_are_refused(module_api: ModuleApi) -> None:
    # 60,000 epochs x 40,000 steps = 2.4e9 > 2^31: the runs' total_steps column is 32-bit.
    training = {"epochs": 60_000, "train_trials": 40_000, "batch_size": 1, "test_trials": 64}
    refused(
        module_api,
        small_spec(training=training),
        "training.epochs",
        "2400000000 optimiser steps",
        "CORTEXRNN_MAX_STEPS_PER_RUN",
    )
    # An epoch alone over the limit names what makes the epoch long.
    training = {"epochs": 1, "train_trials": 2_000_000, "batch_size": 1, "test_trials": 64}
    refused(module_api, small_spec(training=training), "training.train_trials")


def test_the_steps_limit_cannot_be_set_past_the_database_column() -> None:
    with pytest.raises(ValidationError, match="max_steps_per_run"):
        Settings(max_steps_per_run=2**31)


# -- the configurable limits -------------------------------------------------------------------


def test_neurons_runs_and_worker_hours_are_settings(module_api: ModuleApi, limits) -> None:
    limits(max_neurons=10)
    refused(module_api, small_spec(), "sampling.n_neurons", "16 neurons", "limit of 10")
    limits(max_runs_per_experiment=3)  # 2 conditions x 2 seeds = 4 runs
    refused(module_api, small_spec(), "seeds", "= 4 runs", "CORTEXRNN_MAX_RUNS_PER_EXPERIMENT")
    limits(max_worker_hours_per_experiment=1e-9)
    refused(module_api, small_spec(), "training.epochs", "worker-hours")  # one run is over
    # 5,898,240 FLOPs per run without nulls (test_estimate_matches_hand_computed_numbers):
    # 1.6e-6 hours at 1 GFLOP/s, 40 runs 6.6e-5 hours.
    limits(max_worker_hours_per_experiment=5e-5, cpu_gflops=1.0, final_nulls=0, default_queue="cpu")
    refused(module_api, small_spec(seeds=20), "seeds", "40 runs")
    # The runtime alone is taken as 0.5 GB; 1000 nulls are the largest part after it.
    limits(max_pack_memory_gb=0.25, final_nulls=1000)
    refused(module_api, small_spec(), "sampling.n_neurons", "CORTEXRNN_MAX_PACK_MEMORY_GB")
    limits()
    assert module_api.post("/v1/experiments/validate", json=small_spec()).status_code == 200


def test_default_limits_admit_every_example_and_paper_spec() -> None:
    settings = Settings()
    paths = sorted((REPO / "examples").rglob("*.yaml"))
    assert len(paths) >= 10
    for path in paths:
        spec = load_spec(path)
        # `strategy: all` on a MICrONS field: 6_6_2 has 312 neurons, the largest used.
        units = spec.sampling.n_neurons or 312
        cost = check_admission(spec, units, settings)
        assert cost.worker_seconds_per_run < 120, path  # the replication's ran in 3-95 s


def test_the_limit_check_is_the_science_without_a_server() -> None:
    spec = ExperimentSpec.model_validate(
        small_spec(tasks=[{"name": "go_no_go", "params": {"delay": 20_000}}])
    )
    with pytest.raises(AdmissionRefused) as caught:
        check_admission(spec, 16, Settings())
    assert caught.value.path == "tasks[0].params.delay"


# -- the estimate --------------------------------------------------------------------------------


def test_estimate_matches_hand_computed_numbers() -> None:
    # N = 16, go/no-go (3 inputs, 2 outputs, 5 + 20 + 10 + 5 = 40 steps), batch 32, 64 training
    # trials (2 steps), one epoch (one evaluation of 64 trials), no noise on the state, alpha 1.
    spec = ExperimentSpec.model_validate(small_spec())
    task, cond = spec.tasks[0], spec.conditions["baseline"]
    mem = run_memory(spec, task, cond, 16, n_nulls=0)
    # Kept for the backward: 2 x [40, 32, 16] floats, plus 3 x [40, 32, 3] input tensors.
    assert mem.activations == 4 * (2 * 40 * 32 * 16 + 3 * 40 * 32 * 3) == 209_920
    # bf16-mixed also keeps the state's bfloat16 copy: [40, 32, 16] of 2 bytes.
    mixed = spec.model_copy(
        update={"training": spec.training.model_copy(update={"precision": "bf16-mixed"})}
    )
    assert run_memory(mixed, task, cond, 16, n_nulls=0).activations == 209_920 + 2 * 40 * 32 * 16
    # W 16x16, U 16x3, V 2x16, b 16, c 2 = 354 floats, 5 copies (value, grad, Adam m, v, tmp).
    assert mem.weights == 4 * 5 * 354 == 7_080
    # Snapshots: 2 epochs' W (initial, end) kept twice; rows: (2 steps + 1 eval) x (48 + 200).
    assert mem.history == 2 * 2 * 4 * 256 + 3 * 248 == 4_840
    assert mem.grid == 0 and mem.nulls == 0
    # FLOPs: per step, the recurrence 3 products x 2 x 39 x 32 x 16^2 = 1,916,928; the input
    # products 2 x 2 x 40 x 32 x 16 x 3 = 245,760; the read-out 3 x 2 x 32 x 16 x 2 = 6,144:
    # 2,168,832 per step, two steps. One evaluation: 64 trials x 2 x (40 x 256 + 40 x 48 +
    # 32) = 1,560,576.
    assert run_flops(spec, task, cond, 16, n_nulls=0) == 2 * 2_168_832 + 1_560_576
    # With 1000 null graphs: one 16 x 16 product each, 1000 x 2 x 16^3 more.
    assert run_flops(spec, task, cond, 16, n_nulls=1000) == 5_898_240 + 8_192_000
    # The grid the finding used: 10^15 points of ~100 bytes while the prior is built.
    big = cond.model_copy(update={"space": "grid", "grid_shape": (10**5, 10**5, 10**5)})
    assert run_memory(spec, task, big, 16, n_nulls=0).grid == 100 * 10**15
    # The experiment: 2 conditions x 2 seeds = 4 runs, one pack of 4; at 1 GFLOP/s.
    cost = estimate(spec, 16, max_pack_size=32, flops_per_s=1e9, n_nulls=0)
    assert cost.n_runs == 4 and [p.networks for p in cost.packs] == [4]
    assert cost.flops_total == 4 * 5_898_240
    assert cost.worker_seconds == pytest.approx(4 * 5_898_240 / 1e9)


def test_estimate_is_calibrated_on_the_paper_runs() -> None:
    """docs/benchmarks.md: ~45 s of one core per network at N = 312 with the paper's
    training (30-60 s measured); N = 100 and N = 88 fields 3-9 s."""
    settings = Settings()
    paper = load_spec(REPO / "examples" / "paper-2026.yaml")
    per_run = check_admission(paper, 312, settings).worker_seconds_per_run
    assert 30 <= per_run <= 60, per_run
    small = load_spec(REPO / "examples" / "replication" / "paper-2026-4_7_2.yaml")
    assert 2 <= check_admission(small, 88, settings).worker_seconds_per_run <= 9


MEASURE = textwrap.dedent(
    """
    import json, resource, sys
    import numpy as np, torch
    from cortexrnn.services.priors.network_prior import NetworkPrior
    from cortexrnn.services.spec import ExperimentSpec
    from cortexrnn.services.training.trainer import PopulationTrainer
    from cortexrnn.services.tasks.registry import get_task

    torch.set_num_threads(1)
    spec = ExperimentSpec.model_validate(json.loads(sys.argv[1]))
    p, n = int(sys.argv[2]), spec.sampling.n_neurons
    rng = np.random.default_rng(0)
    priors = [NetworkPrior(w_init=rng.normal(0, 0.1, (n, n))) for _ in range(p)]
    entry = spec.tasks[0]
    trainer = PopulationTrainer(
        priors, list(range(p)), get_task(entry.name, **entry.params), spec.model, spec.training
    )
    def hwm():
        # The peak resident size of this address space. Not ru_maxrss: Linux carries that over
        # exec from the forking process, so under pytest-xdist it was the test worker's peak.
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

    before = int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
    trainer.run()
    peak = hwm()
    print(json.dumps({"before": before, "peak": peak}))
    """
)


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_estimate_against_the_measured_peak_of_a_training_step(tmp_path: Path) -> None:
    """A pack of 4 networks (N = 64, trials of 1020 steps, batch 128) trained one step in a
    fresh process: the resident memory it adds over the built model (its peak resident size
    against the resident size before training) is within a factor of 2 of the estimate's
    training part (the runtime and the pack's priors excluded); the runtime is within a factor
    of 2 too."""
    raw = small_spec(
        sampling={"strategy": "random", "n_neurons": 64, "seed": 0},
        tasks=[{"name": "go_no_go", "params": {"stimulus": 1000}}],
        training={
            "epochs": 1,
            "train_trials": 128,
            "test_trials": 128,
            "batch_size": 128,
            "checkpoint_every_steps": None,
        },
        conditions={"baseline": {"init": "orthogonal", "lam": 0.0}},
    )
    spec = ExperimentSpec.model_validate(raw)
    mem = run_memory(spec, spec.tasks[0], spec.conditions["baseline"], 64, n_nulls=0)
    networks = 4
    training = mem.pack_peak(networks) - mem.runtime - mem.pack_priors
    assert training > 200 * 2**20  # activations dominate: ~270 MB
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, json.dumps(raw), str(networks)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    added = measured["peak"] - measured["before"]
    assert 0.5 <= added / training <= 2.0, (added, training)
    assert 0.5 <= measured["before"] / RUNTIME_BYTES <= 2.0, measured


def test_a_pack_over_memory_names_the_factor_that_is_too_large() -> None:
    settings = Settings(max_pack_memory_gb=2.0)
    # 4 networks x 4 bytes x (2 x 40 x 65,536 x 16 + 3 x 40 x 65,536 x 3) = 1.7 GB kept for
    # the backward, with the runtime over 2 GB: the batch (512x the paper's) is the outlier.
    wide = ExperimentSpec.model_validate(
        small_spec(training={"epochs": 1, "train_trials": 65_536, "batch_size": 65_536})
    )
    with pytest.raises(AdmissionRefused) as caught:
        check_admission(wide, 16, settings)
    assert caught.value.path == "training.batch_size", caught.value
    assert "mostly activations" in str(caught.value)
    long = ExperimentSpec.model_validate(
        small_spec(tasks=[{"name": "go_no_go", "params": {"stimulus": 9000}}])
    )
    with pytest.raises(AdmissionRefused) as caught:
        check_admission(long, 4000, Settings(max_pack_memory_gb=1.0))
    assert caught.value.path == "tasks[0].params.stimulus", caught.value


def test_sweep_points_are_checked_each_and_named_by_their_sweep_path() -> None:
    # 40,000 steps per epoch; the sweep's second point runs 60,000 epochs: 2.4e9 steps.
    training = {"epochs": 1, "train_trials": 1_280_000, "batch_size": 32, "test_trials": 64}
    spec = ExperimentSpec.model_validate(
        small_spec(training=training, sweep={"fields": {"training.epochs": [1, 60_000]}})
    )
    with pytest.raises(AdmissionRefused) as caught:
        check_admission(spec, 16, Settings())
    assert caught.value.path == "sweep.fields.training.epochs", caught.value
    assert "2400000000 optimiser steps" in str(caught.value)
    points = ExperimentSpec.model_validate(
        small_spec(sweep={"fields": {"sampling.n_neurons": [16, 40]}})
    )
    with pytest.raises(AdmissionRefused) as caught:
        check_admission(points, 16, Settings(max_neurons=32))
    assert caught.value.path == "sweep.fields.sampling.n_neurons", caught.value
    # The estimate follows each point: 8 runs, the 40-neuron ones cost more.
    cost = check_admission(points, 16, Settings())
    assert cost.n_runs == 8 and sorted({r.n_units for r in cost.runs}) == [16, 40]


def test_pack_peak_for_the_worker_limit() -> None:
    from cortexrnn.services.spec.cost import pack_peak_bytes

    spec = ExperimentSpec.model_validate(small_spec())
    mem = run_memory(spec, spec.tasks[0], spec.conditions["baseline"], 16, n_nulls=0)
    # 3 networks: what they keep, the largest transient (their activations), the pack's priors.
    kept = 3 * (mem.weights + mem.regulariser + mem.priors + mem.history)
    expected = kept + 3 * mem.activations + mem.pack_priors
    assert pack_peak_bytes(spec, 16, 3, n_nulls=0, runtime=False) == expected
    assert pack_peak_bytes(spec, 16, 3, n_nulls=0) == expected + RUNTIME_BYTES
