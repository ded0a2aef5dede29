"""How the replication document writes its numbers: fixed digits, p-values, a mean with its
percentile-bootstrap interval, a solved fraction with its exact interval."""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from ..stats.summary import mean_interval


def num(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{digits}f}"


def pval(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:.2g}" if x >= 1e-4 else f"{x:.1e}"


def mean_ci(values: object) -> str:
    """'mean [low, high]': the mean over seeds and its 95 % percentile-bootstrap interval."""
    v = np.asarray(values, float)
    if not len(v):
        return "–"
    mean, lo, hi = mean_interval(v)
    return f"{num(mean)} [{num(lo)}, {num(hi)}]"


def solved_change(first: str | None, second: str | None, p: float, p_holm: float) -> str:
    """'3/5 → 5/5 (p = 0.25, Holm 0.5)' for a change of the solved count; '–' without one."""
    if first is None or second is None or (isinstance(first, float) and math.isnan(first)):
        return "–"
    return f"{first} → {second} (p = {pval(p)}, Holm {pval(p_holm)})"


def experiment_ids(meta: dict[str, Any]) -> str:
    """'1+3+1': every experiment a label merges, by its id on the server that ran it."""
    ids = meta.get("experiment_ids") or [meta.get("experiment_id")]
    return "+".join(str(i) for i in ids if i is not None) or "–"


_WORKER = re.compile(r"([^\s,;()]+) \(([^()]+)\)")


def devices(meta: dict[str, Any]) -> str:
    """'cpu (7 workers on 4 hosts)' from the fetched 'kind (worker@host), ...' list.

    A worker no longer live when the results were fetched has no recorded kind ('?')."""
    hosts: dict[str, set[str]] = {}
    workers: dict[str, set[str]] = {}
    for kind, worker in _WORKER.findall(str(meta.get("device") or "")):
        kind = "not recorded" if kind == "?" else kind
        workers.setdefault(kind, set()).add(worker)
        hosts.setdefault(kind, set()).update([worker.rpartition("@")[2]] if "@" in worker else [])
    parts = []
    for kind in sorted(workers):
        w, h = len(workers[kind]), len(hosts[kind])
        on = f" on {h} host{'s' * (h != 1)}" if h else ""  # names without @host say no host
        parts.append(f"{kind} ({w} worker{'s' * (w != 1)}{on})")
    return ", ".join(parts) or "–"
