"""Per condition × task × metric: n, mean, sd and a 95 % percentile-bootstrap interval of the
mean over seeds.

Why not t intervals: accuracies are bounded and bimodal (a seed learns the task or stays at
chance), entropies and losses are bounded below, and t intervals crossed those bounds (upper
limits above 1, negative entropies). A percentile-bootstrap interval of the mean lies within
[min, max] of the seeds, hence inside any range the values respect. It has zero width when
every seed agrees (e.g. 5 of 5 at accuracy 1.0): how often a task is solved, and how sure that
is, is the solved fraction's exact interval (`outcomes.py`)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

REQUIRED = ("condition", "task", "seed", "metric", "value")
GROUP = ["task", "metric", "condition"]
LEVEL = 0.95
N_BOOT = 10_000
SUMMARY_COLUMNS = ["task", "metric", "condition", "n", "mean", "sd", "boot_low", "boot_high"]


def check_tidy(df: pd.DataFrame, what: str = "metrics table") -> pd.DataFrame:
    """The tidy input: one row per run × metric; NaN/None values (undefined metrics) dropped."""
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; expected columns {list(REQUIRED)}")
    out = df.loc[:, list(REQUIRED)].copy()
    out["value"] = pd.to_numeric(out["value"], errors="coerce")
    out = out[np.isfinite(out["value"].to_numpy(dtype=float))]
    dup = out.duplicated(["condition", "task", "seed", "metric"])
    if dup.any():
        first = out[dup].iloc[0]
        raise ValueError(
            f"{what} has {int(dup.sum())} duplicate (condition, task, seed, metric) rows, e.g. "
            f"{first['condition']!r}/{first['task']!r}/seed {first['seed']}/{first['metric']!r}"
        )
    for col in ("condition", "task", "metric"):
        out[col] = out[col].astype(str)
    return out


def bootstrap_interval(
    values: np.ndarray,
    rng: np.random.Generator,
    n_boot: int = N_BOOT,
    level: float = LEVEL,
) -> tuple[float, float]:
    """Percentile bootstrap of the mean (resampling seeds with replacement); NaN below 2."""
    n = len(values)
    if n < 2:
        return float("nan"), float("nan")
    idx = rng.integers(0, n, size=(n_boot, n))
    means = values[idx].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    # Float rounding of a mean of equal values can step a hair outside [min, max].
    return float(max(lo, values.min())), float(min(hi, values.max()))


def values_rng(values: np.ndarray, seed: int = 0) -> np.random.Generator:
    """A generator seeded by `seed` and the values themselves (sorted): the same seeds' values
    always get the same interval, wherever and in whatever order they are summarised."""
    digest = hashlib.sha256(np.sort(np.asarray(values, float)).tobytes()).digest()
    return np.random.default_rng([seed, *np.frombuffer(digest[:16], dtype=np.uint32).tolist()])


def mean_interval(
    values: np.ndarray, *, seed: int = 0, n_boot: int = N_BOOT, level: float = LEVEL
) -> tuple[float, float, float]:
    """(mean, low, high): the mean over seeds and its percentile-bootstrap interval, seeded by
    the values (deterministic). NaN mean for no values; NaN bounds below two."""
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    if not len(v):
        return float("nan"), float("nan"), float("nan")
    lo, hi = bootstrap_interval(v, values_rng(v, seed), n_boot, level)
    # Rounding can put a mean of equal values a hair outside them (3 × 0.95 / 3 < 0.95), the
    # resamples' means too: min <= low <= mean <= high <= max, as exact arithmetic has it.
    vmin, vmax = float(v.min()), float(v.max())
    mean = float(np.clip(v.mean(), vmin, vmax))
    if np.isfinite(lo) and np.isfinite(hi):
        lo, hi = float(np.clip(lo, vmin, mean)), float(np.clip(hi, mean, vmax))
    return mean, lo, hi


def describe(
    df: pd.DataFrame, *, level: float = LEVEL, n_boot: int = N_BOOT, seed: int = 0
) -> pd.DataFrame:
    """Tidy summary (SUMMARY_COLUMNS): n, mean, sd and the percentile-bootstrap interval of the
    mean over seeds, per task × metric × condition."""
    data = check_tidy(df)
    rows = []
    for (task, metric, cond), g in data.groupby(GROUP, sort=True):
        v = g["value"].to_numpy(dtype=float)
        mean, lo, hi = mean_interval(v, seed=seed, n_boot=n_boot, level=level)
        sd = float(np.std(v, ddof=1)) if len(v) > 1 else float("nan")
        rows.append({"task": task, "metric": metric, "condition": cond, "n": len(v),
                     "mean": mean, "sd": sd, "boot_low": lo, "boot_high": hi})  # fmt: skip
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
