"""Per condition × task × metric: n, mean, sd, 95 % t and bootstrap confidence intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sst

REQUIRED = ("condition", "task", "seed", "metric", "value")
GROUP = ["task", "metric", "condition"]


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


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    n = len(values)
    if n < 2:
        return float("nan"), float("nan")
    mean = float(np.mean(values))
    sem = float(np.std(values, ddof=1)) / np.sqrt(n)
    if sem == 0:
        return mean, mean
    half = float(sst.t.ppf(0.5 + level / 2, n - 1)) * sem
    return mean - half, mean + half


def bootstrap_interval(
    values: np.ndarray,
    rng: np.random.Generator,
    n_boot: int = 10_000,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap of the mean (resampling seeds with replacement)."""
    n = len(values)
    if n < 2:
        return float("nan"), float("nan")
    idx = rng.integers(0, n, size=(n_boot, n))
    means = values[idx].mean(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(means, [alpha, 1 - alpha])
    return float(lo), float(hi)


def describe(
    df: pd.DataFrame, *, level: float = 0.95, n_boot: int = 10_000, seed: int = 0
) -> pd.DataFrame:
    """Tidy summary: task, metric, condition, n, mean, sd, sem, t_low, t_high, boot_low,
    boot_high. Each group's bootstrap uses its own generator seeded from (seed, group), so a
    group's interval does not change when other groups are added."""
    data = check_tidy(df)
    rows = []
    for (task, metric, cond), g in data.groupby(GROUP, sort=True):
        v = g["value"].to_numpy(dtype=float)
        n = len(v)
        key = f"{task}|{metric}|{cond}".encode()
        rng = np.random.default_rng(
            [seed, int.from_bytes(key[:8].ljust(8, b"\0"), "little"), len(key)]
        )
        t_lo, t_hi = t_interval(v, level)
        b_lo, b_hi = bootstrap_interval(v, rng, n_boot, level)
        sd = float(np.std(v, ddof=1)) if n > 1 else float("nan")
        rows.append({
            "task": task, "metric": metric, "condition": cond, "n": n,
            "mean": float(np.mean(v)), "sd": sd, "sem": sd / np.sqrt(n) if n > 1 else float("nan"),
            "t_low": t_lo, "t_high": t_hi, "boot_low": b_lo, "boot_high": b_hi,
        })  # fmt: skip
    return pd.DataFrame(rows, columns=[
        "task", "metric", "condition", "n", "mean", "sd", "sem", "t_low", "t_high", "boot_low",
        "boot_high"])  # fmt: skip
