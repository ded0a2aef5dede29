"""Learning curves aggregated over seeds on the server: per task and condition, the mean, a
95 % percentile-bootstrap interval of the mean (the statistics' own choice of interval,
services/stats/summary.py: it stays inside the seeds' range, as accuracies must), and every
seed's own line. The browser only draws.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cortexrnn.api.dashboard.sources import RunRef, finished_sources, ordered, succeeded_by_source
from cortexrnn.services.stats import chance
from cortexrnn.shared.models import MetricPoint

MAX_POINTS = 200  # x positions per curve; longer series (per-step ones) are averaged in bins
N_BOOT = 1000
DEFAULT_METRICS = ("test_acc", "eval_test_acc", "train_acc", "train_loss")


def curve_names(session: Session, refs: list[RunRef]) -> list[str]:
    """Series names, read off one finished run per task (every run of a task records the
    same series; a DISTINCT over all points would scan the per-step ones)."""
    names: set[str] = set()
    first: dict[str, int] = {}
    for r in refs:
        if r.state == "succeeded":
            first.setdefault(r.task, r.source_id)
    for source in first.values():
        names.update(
            session.scalars(select(MetricPoint.name).where(MetricPoint.run_id == source).distinct())
        )
    return sorted(names)


def default_metric(names: list[str]) -> str | None:
    return next((m for m in DEFAULT_METRICS if m in names), names[0] if names else None)


def round_sig(values: np.ndarray, digits: int = 5) -> list[float | None]:
    """JSON numbers with `digits` significant digits (null for NaN): a third of the bytes."""
    return [None if not np.isfinite(v) else float(f"{v:.{digits}g}") for v in values.tolist()]


def bootstrap_band(
    m: np.ndarray, n_boot: int = N_BOOT, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Per column of m [seeds, x]: the 2.5 and 97.5 percentiles of the bootstrap mean over
    seeds, missing values ignored. Resampling is a matrix product of resample counts with
    the values, so memory stays [n_boot, x] rather than [n_boot, seeds, x]."""
    s = m.shape[0]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, s, size=(n_boot, s))
    counts = np.bincount((idx + s * np.arange(n_boot)[:, None]).ravel(), minlength=n_boot * s)
    weights = counts.reshape(n_boot, s).astype(float)
    present = np.isfinite(m)
    with np.errstate(invalid="ignore", divide="ignore"):
        boot = (weights @ np.where(present, m, 0.0)) / (weights @ present.astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # columns with no value at all
        low, high = np.nanpercentile(boot, [2.5, 97.5], axis=0)
    few = present.sum(axis=0) < 2
    low[few], high[few] = np.nan, np.nan
    return low, high


@dataclass
class Points:
    run_ids: np.ndarray
    x: np.ndarray  # epoch (step where a point has none); a bin's mean epoch when binned
    values: np.ndarray
    bins: np.ndarray | None  # each point's bin, when the series had too many x positions


def _points(session: Session, experiment_id: int, metric: str) -> Points | None:
    """The series' points for every finished run; a series with more than MAX_POINTS
    distinct steps (the per-step ones: 600 a run, 400,000 for 660 runs) is averaged into
    MAX_POINTS bins of steps by the database, which sends 200 rows a run instead."""
    where = (MetricPoint.run_id.in_(finished_sources(experiment_id)), MetricPoint.name == metric)
    lo, hi, distinct = session.execute(
        select(
            func.min(MetricPoint.step),
            func.max(MetricPoint.step),
            func.count(MetricPoint.step.distinct()),
        ).where(*where)
    ).one()
    if not distinct:
        return None
    x_of = func.coalesce(MetricPoint.epoch, MetricPoint.step)
    if distinct <= MAX_POINTS:
        rows = session.execute(select(MetricPoint.run_id, x_of, MetricPoint.value).where(*where))
        ids, xs, vs = zip(*rows, strict=True)
        bins = None
    else:
        width = math.ceil((hi - lo + 1) / MAX_POINTS)
        bin_of = (MetricPoint.step - lo) // width
        rows = session.execute(
            select(MetricPoint.run_id, bin_of, func.avg(x_of), func.avg(MetricPoint.value))
            .where(*where)
            .group_by(MetricPoint.run_id, bin_of)
        )
        ids, bin_list, xs, vs = zip(*rows, strict=True)
        bins = np.array(bin_list, dtype=int)
    return Points(
        np.array(ids),
        np.array(xs, dtype=float),
        np.array([np.nan if v is None else v for v in vs], dtype=float),
        bins,
    )


def _grid(x: np.ndarray, bins: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(positions, index of each point's position): the distinct x, or each bin's mean x."""
    if bins is None:
        distinct = np.unique(x)
        return distinct, np.searchsorted(distinct, x)
    _, where = np.unique(bins, return_inverse=True)
    positions = np.bincount(where, weights=x) / np.bincount(where)
    return positions, where


def _seed_key(task: str, condition: str) -> int:
    # The same band for the same data on every load: the seed follows the group, not time.
    return int.from_bytes(hashlib.sha256(f"{task}|{condition}".encode()).digest()[:4], "big")


def aggregate_curves(session: Session, experiment_id: int, refs: list[RunRef], metric: str) -> dict:
    by_source = succeeded_by_source(refs)
    tasks: list[dict[str, Any]] = []
    points = _points(session, experiment_id, metric)
    if points is None:
        return {"metric": metric, "tasks": tasks}
    known = np.isin(points.run_ids, list(by_source))
    run_ids, x, v = points.run_ids[known], points.x[known], points.values[known]
    bins = None if points.bins is None else points.bins[known]
    groups: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for source in ordered(int(i) for i in np.unique(run_ids)):
        ref = by_source[source]
        groups[ref.task][ref.condition].append(source)
    for task, conditions in groups.items():
        in_task = np.isin(run_ids, [s for ss in conditions.values() for s in ss])
        positions, where = _grid(x[in_task], None if bins is None else bins[in_task])
        ids, values = run_ids[in_task], v[in_task]
        tasks.append(
            {
                "task": task,
                "chance": chance(task) if metric.endswith("acc") else None,
                "x": round_sig(positions, 6),
                "binned": bins is not None,
                "conditions": [
                    _condition(task, name, sources, by_source, ids, where, values, len(positions))
                    for name, sources in conditions.items()
                ],
            }
        )
    return {"metric": metric, "tasks": tasks}


def _condition(
    task: str,
    name: str,
    sources: list[int],
    by_source: dict[int, RunRef],
    run_ids: np.ndarray,
    where: np.ndarray,
    values: np.ndarray,
    width: int,
) -> dict[str, Any]:
    row_of = {s: i for i, s in enumerate(sources)}
    mine = np.isin(run_ids, sources)
    rows = np.array([row_of[int(i)] for i in run_ids[mine]], dtype=int)
    total = np.zeros((len(sources), width))
    count = np.zeros((len(sources), width))
    ok = np.isfinite(values[mine])
    np.add.at(total, (rows[ok], where[mine][ok]), values[mine][ok])
    np.add.at(count, (rows[ok], where[mine][ok]), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        m = total / count  # a bin's mean per seed; NaN where a seed has no point
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(m, axis=0)
    low, high = bootstrap_band(m, seed=_seed_key(task, name))
    return {
        "name": name,
        "n": len(sources),
        "mean": round_sig(mean),
        "low": round_sig(low),
        "high": round_sig(high),
        "seeds": [
            {"seed": by_source[s].seed, "run": by_source[s].id, "y": round_sig(m[i], 4)}
            for i, s in enumerate(sources)
        ],
    }
