"""Fetching experiments' results as tidy tables and writing docs/replication.md from them.

The tables are saved beside the document (CSV + meta JSON) so that it can be regenerated
without the server; the document itself is rendered by services/report/replication.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

KEY = ["condition", "task", "seed"]


def fetch_tidy(client: Any, experiment_id: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Succeeded runs' summary values as [condition, task, seed, metric, value], and meta."""
    body = client.get_json(f"/v1/experiments/{experiment_id}/results")
    rows = [
        {"condition": r["condition"], "task": r["task"], "seed": r["seed"], "metric": m, "value": v}
        for r in body["runs"] if r["state"] == "succeeded" for m, v in r["values"].items()
    ]
    detail = client.get_json(f"/v1/experiments/{experiment_id}")
    spec = detail["spec"]
    fidelity = spec.get("fidelity", {})
    on = [k for k, v in fidelity.items() if v]
    runs = client.get_json(f"/v1/experiments/{experiment_id}/runs")
    started = [r["started_at"] for r in runs if r.get("started_at")]
    finished = [r["finished_at"] for r in runs if r.get("finished_at")]
    wall = None
    if started and finished:
        wall = (pd.Timestamp(max(finished)) - pd.Timestamp(min(started))).total_seconds()
    workers = sorted({r["worker"] for r in runs if r.get("worker")})
    meta = {"experiment_id": experiment_id, "name": detail.get("name"), "dataset": spec.get("dataset"),
            "fidelity": "paper" if len(on) == len(fidelity) else ("corrected" if on == ["keep_functional_diagonal"] else ",".join(on)),
            "status": detail.get("status"), "counts": detail.get("counts"), "wall_s": wall,
            "device": ", ".join(workers) or None}
    return pd.DataFrame(rows, columns=[*KEY, "metric", "value"]), meta


def save(data_dir: Path, label: str, df: pd.DataFrame, meta: dict[str, Any]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    df.to_csv(data_dir / f"{label}.csv", index=False)
    (data_dir / f"{label}.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")


def load(data_dir: Path) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, Any]]]:
    experiments, meta = {}, {}
    for csv in sorted(data_dir.glob("*.csv")):
        label = csv.stem
        experiments[label] = pd.read_csv(csv)
        info = csv.with_suffix(".json")
        meta[label] = json.loads(info.read_text()) if info.exists() else {}
    order = ["paper", "corrected", "positive"]
    labels = sorted(experiments, key=lambda k: (order.index(k) if k in order else len(order), k))
    return {k: experiments[k] for k in labels}, meta


def render_from(data_dir: Path) -> str:
    from cortexrnn.services.report.replication import render

    experiments, meta = load(data_dir)
    if not experiments:
        raise ValueError(f"{data_dir} holds no results (<label>.csv); fetch them with --experiment LABEL=ID")
    return render(experiments, meta)
