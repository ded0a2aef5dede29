"""Structure of the tasks' input noise, by seeded statistical tests (scipy.stats) on residuals
computed independently of the generators: the noiseless trial is rebuilt here from SCIENCE.md
§3 (and the batch's labels / coherences), and the noise is what is left.

- perceptual decision making: the two evidence channels carry independent N(0, σ) noise
  (correlation ≈ 0: a generator sharing one draw between them gives r = 1), independent across
  time steps, mean 0, std σ (default σ = 1 / sqrt(dt) with NeuroGym's σ = 1, dt = 100 ms, i.e.
  0.1), Gaussian (Kolmogorov–Smirnov);
- go/no-go: N(0, σ) on every input channel at every step, channels independent;
- for both: variance ∝ σ² — doubling σ quadruples the variance (not 16×, as scaling the noise
  by σ² would give).

Neither task takes dt as a parameter (their timings are in steps; dt = 100 ms is fixed), so
dt enters only through the default σ, checked against NeuroGym itself where it is installed.
Sample sizes give standard errors ≥ 5× smaller than every margin, and the seeds are fixed.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.stats
import torch

from cortexrnn.services.tasks import batch_generator, get_task

torch.set_num_threads(1)

B = 4000  # trials per batch


def pdm_residuals(sigma: float, seed: int = 0, batch: int = B) -> np.ndarray:
    """[stimulus, B, 2] noise of the two evidence channels."""
    task = get_task("perceptual_decision_making", sigma=sigma)
    b = task.generate(batch, batch_generator(seed, 0))
    x = b.inputs.double().numpy()
    labels = b.labels.numpy()
    coh = b.meta["coherence"].double().numpy()
    stim = slice(task.fixation, task.fixation + task.stimulus)
    # Channel 1 + k is evidence for direction k (θ = 0, π): 0.5 + cos(θ_k - θ_gt) coh / 200.
    evidence = np.stack(
        [0.5 + np.where(labels == k, 1.0, -1.0) * coh / 200.0 for k in (0, 1)], axis=-1
    )
    res = x[stim, :, 1:] - evidence[None]
    # Outside the stimulus the evidence channels are exactly 0 (no noise there).
    assert (
        not x[: task.fixation, :, 1:].any() and not x[task.fixation + task.stimulus :, :, 1:].any()
    )
    return res


def gonogo_residuals(sigma: float, seed: int = 0, batch: int = B) -> np.ndarray:
    """[T, B, 3] noise of every channel; templates rebuilt from SCIENCE.md §3."""
    task = get_task("go_no_go", sigma=sigma)
    b = task.generate(batch, batch_generator(seed, 0))
    x = b.inputs.double().numpy()
    go = b.labels.numpy() == 1
    f, s, d = task.fixation, task.stimulus, task.delay
    clean = np.zeros_like(x)
    clean[:f, :, 0] = 1.0
    clean[f + s : f + s + d, :, 0] = 1.0
    clean[f : f + s, ~go, 1] = 1.0
    clean[f : f + s, go, 2] = 1.0
    return x - clean


def _var_ratio_ci_ok(a: np.ndarray, b: np.ndarray, expected: float) -> bool:
    """F test: var(a) / var(b) is consistent with `expected` (two-sided p > 1e-4)."""
    f = np.var(a, ddof=1) / np.var(b, ddof=1) / expected
    cdf = scipy.stats.f.cdf(f, a.size - 1, b.size - 1)
    return min(cdf, 1 - cdf) * 2 > 1e-4


# ----- perceptual decision making --------------------------------------------------------------


def test_pdm_evidence_channels_have_independent_noise() -> None:
    res = pdm_residuals(0.1)
    a, b = res[..., 0].ravel(), res[..., 1].ravel()
    assert a.size == 30 * B
    r, p = scipy.stats.pearsonr(a, b)
    # SE of r is 1/sqrt(120000) ≈ 0.003: shared noise gives r = 1, any real coupling > 0.02.
    assert abs(r) < 0.015 and p > 1e-4, r
    assert not np.allclose(a, b)
    # Also no coupling through time: lag-1 autocorrelation ≈ 0 in each channel.
    for k in (0, 1):
        x0, x1 = res[:-1, :, k].ravel(), res[1:, :, k].ravel()
        assert abs(scipy.stats.pearsonr(x0, x1)[0]) < 0.015


def test_pdm_noise_is_gaussian_with_std_sigma_and_mean_zero() -> None:
    sigma = 0.1
    res = pdm_residuals(sigma, seed=1).ravel()
    n = res.size
    assert abs(res.mean()) < 5 * sigma / math.sqrt(n)
    # chi-square interval for the variance at 1e-6 two-sided.
    s2 = res.var(ddof=1)
    lo, hi = scipy.stats.chi2.ppf([5e-7, 1 - 5e-7], n - 1) / (n - 1) * sigma**2
    assert lo < s2 < hi, (s2, lo, hi)
    assert scipy.stats.kstest(res[:20000] / sigma, "norm").pvalue > 1e-3


def test_pdm_default_sigma_is_neurogym_one_over_sqrt_dt() -> None:
    task = get_task("perceptual_decision_making")
    assert task.sigma == pytest.approx(1.0 / math.sqrt(100.0))
    res = pdm_residuals(task.sigma, seed=2, batch=2000)
    assert np.std(res) == pytest.approx(0.1, rel=0.02)


def test_pdm_noise_std_matches_neurogym_at_dt_100() -> None:
    ngym = pytest.importorskip(
        "neurogym", reason="neurogym not installed (see tests/tasks/test_tasks_neurogym.py)"
    )
    del ngym
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from neurogym.envs.native.perceptualdecisionmaking import PerceptualDecisionMaking

        env = PerceptualDecisionMaking(
            dt=100,
            timing={"fixation": 100, "stimulus": 3000, "delay": 1000, "decision": 100},
            sigma=1.0,
        )
        env.seed(0)
        clean = PerceptualDecisionMaking(
            dt=100,
            timing={"fixation": 100, "stimulus": 3000, "delay": 1000, "decision": 100},
            sigma=0.0,
        )
        ref = []
        for i in range(300):
            gt, coh = i % 2, (0.0, 12.8, 51.2)[i % 3]
            env.new_trial(ground_truth=gt, coh=coh)
            clean.new_trial(ground_truth=gt, coh=coh)
            st = slice(env.start_ind["stimulus"], env.end_ind["stimulus"])
            ref.append(
                (np.asarray(env.ob, float)[st, 1:] - np.asarray(clean.ob, float)[st, 1:]).ravel()
            )
    ref = np.concatenate(ref)  # 18,000 samples
    ours = pdm_residuals(get_task("perceptual_decision_making").sigma, seed=3, batch=600).ravel()
    assert _var_ratio_ci_ok(ours, ref, 1.0), (np.std(ours), np.std(ref))


@pytest.mark.parametrize("sigma", [0.05, 0.2])
def test_pdm_variance_scales_with_sigma_squared(sigma: float) -> None:
    small = pdm_residuals(sigma, seed=4).ravel()
    big = pdm_residuals(2 * sigma, seed=5).ravel()
    ratio = big.var() / small.var()
    assert ratio == pytest.approx(4.0, rel=0.03), ratio
    assert _var_ratio_ci_ok(big, small, 4.0)
    assert small.std() == pytest.approx(sigma, rel=0.015)
    assert np.abs(pdm_residuals(0.0, seed=4)).max() < 1e-6  # float32 rounding only


# ----- go/no-go ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sigma", [0.05, 0.3, 2.0])
def test_gonogo_noise_std_is_sigma_on_every_channel(sigma: float) -> None:
    """σ ∈ {0.05, 0.3, 2}: a σ² scaling would give std 0.0025, 0.09, 4."""
    res = gonogo_residuals(sigma, seed=6, batch=1000)
    for k in range(3):
        r = res[..., k].ravel()
        n = r.size
        lo, hi = scipy.stats.chi2.ppf([5e-7, 1 - 5e-7], n - 1) / (n - 1) * sigma**2
        assert lo < r.var(ddof=1) < hi, (k, r.std(), sigma)
        assert abs(r.mean()) < 5 * sigma / math.sqrt(n)
    assert scipy.stats.kstest(res.ravel()[:20000] / sigma, "norm").pvalue > 1e-3


def test_gonogo_channels_have_independent_noise() -> None:
    res = gonogo_residuals(0.3, seed=7, batch=2000)
    flat = res.reshape(-1, 3)  # 80,000 samples per channel
    for i, j in ((0, 1), (0, 2), (1, 2)):
        assert abs(scipy.stats.pearsonr(flat[:, i], flat[:, j])[0]) < 0.02


@pytest.mark.parametrize("sigma", [0.1, 0.5])
def test_gonogo_variance_scales_with_sigma_squared(sigma: float) -> None:
    small = gonogo_residuals(sigma, seed=8, batch=2000).ravel()
    big = gonogo_residuals(2 * sigma, seed=9, batch=2000).ravel()
    ratio = big.var() / small.var()
    assert ratio == pytest.approx(4.0, rel=0.03), ratio  # σ² scaling would give 16
    assert _var_ratio_ci_ok(big, small, 4.0)
    assert np.all(gonogo_residuals(0.0, seed=8, batch=100) == 0.0)
