"""Fetching experiments' results as tidy tables and writing docs/replication.md from them.

The tables are saved beside the document (CSV + meta JSON) so that it can be regenerated
without the server; the document itself is rendered by services/report/replication.py.
Tables, statistics and figures are the science's (`cortexrnn[science]`), reached through
cortexrnn.client.science."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cortexrnn.client import science

if TYPE_CHECKING:
    import pandas as pd

KEY = ["condition", "task", "seed"]


def fetch_tidy(client: Any, experiment_id: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Succeeded runs' summary values as [condition, task, seed, metric, value], and meta."""
    pd = science.pandas("the replication tables")
    paper_switches, corrected_switches = science.fidelity_switch_sets()
    body = client.get_json(f"/v1/experiments/{experiment_id}/results")
    rows = [
        {"condition": r["condition"], "task": r["task"], "seed": r["seed"], "metric": m, "value": v}
        for r in body["runs"]
        if r["state"] == "succeeded"
        for m, v in r["values"].items()
    ]
    detail = client.get_json(f"/v1/experiments/{experiment_id}")
    spec = detail["spec"]
    switches = {k: bool(v) for k, v in spec.get("fidelity", {}).items()}
    runs = client.get_json(f"/v1/experiments/{experiment_id}/runs")
    started = [r["started_at"] for r in runs if r.get("started_at")]
    finished = [r["finished_at"] for r in runs if r.get("finished_at")]
    wall = None
    if started and finished:
        wall = (pd.Timestamp(max(finished)) - pd.Timestamp(min(started))).total_seconds()
    # A pack's runs share one start: the sum of distinct (worker, start) spans is the worker
    # time the experiment used, where wall time also counts other experiments sharing workers.
    packs = {
        (r.get("worker"), r["started_at"]): r["finished_at"]
        for r in runs
        if r.get("started_at") and r.get("finished_at")
    }
    worker_s = sum(
        (pd.Timestamp(end) - pd.Timestamp(start)).total_seconds()
        for (_, start), end in packs.items()
    )
    names = sorted({r["worker"] for r in runs if r.get("worker")})
    devices = {w["name"]: w["device"] for w in client.get_json("/v1/queue").get("workers", [])}
    meta = {
        "experiment_id": experiment_id,
        "name": detail.get("name"),
        "dataset": spec.get("dataset"),
        "sampling": spec.get("sampling"),
        "fidelity_switches": switches,
        "fidelity": _fidelity_label(switches, paper_switches, corrected_switches),
        "status": detail.get("status"),
        "counts": detail.get("counts"),
        "wall_s": wall,
        "worker_s": worker_s or None,
        "device": ", ".join(f"{devices.get(n, '?')} ({n})" for n in names) or None,
    }
    return pd.DataFrame(rows, columns=[*KEY, "metric", "value"]), meta


def _fidelity_label(
    switches: dict[str, bool], paper: dict[str, bool], corrected: dict[str, bool]
) -> str:
    if switches == paper:
        return "paper"
    changed = [f"{k} {'on' if v else 'off'}" for k, v in switches.items() if corrected.get(k) != v]
    return "corrected" + (" + " + ", ".join(changed) if changed else "")


def save(data_dir: Path, label: str, df: pd.DataFrame, meta: dict[str, Any]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    df.to_csv(data_dir / f"{label}.csv", index=False)
    (data_dir / f"{label}.json").write_text(
        json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n"
    )


def load(data_dir: Path) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, Any]]]:
    pd = science.pandas("the replication tables")
    experiments, meta = {}, {}
    for csv in sorted(data_dir.glob("*.csv")):
        label = csv.stem
        experiments[label] = pd.read_csv(csv)
        info = csv.with_suffix(".json")
        meta[label] = json.loads(info.read_text()) if info.exists() else {}
    order = ["paper", "corrected", "positive"]
    labels = sorted(experiments, key=lambda k: (order.index(k) if k in order else len(order), k))
    return {k: experiments[k] for k in labels}, meta


def render_from(data_dir: Path, figures_dir: Path | None = None) -> str:
    """The document from the saved tables; with `figures_dir`, also one PNG per full grid
    (held-out accuracy per variant and seed), linked relative to the document's folder,
    which is taken to be `figures_dir`'s parent."""
    tools = science.replication_tools()
    experiments, meta = load(data_dir)
    if not experiments:
        raise ValueError(
            f"{data_dir} holds no results (<label>.csv); fetch them with --experiment LABEL=ID"
        )
    links: dict[str, str] = {}
    if figures_dir is not None:
        figures_dir.mkdir(parents=True, exist_ok=True)
        for label in tools.classify(experiments, meta)["grid"]:
            group = {label: experiments[label]}
            if label == "corrected" and "paper" in experiments:
                group = {"paper": experiments["paper"], "corrected": experiments["corrected"]}
            png = tools.variant_points(
                group,
                tools.accuracy,
                tools.paper_order,
                f"Held-out accuracy per variant — {' vs '.join(group)} "
                "(seeds as dots, mean ± 95 % CI)",
            )
            (figures_dir / f"{label}-accuracy.png").write_bytes(png)
            links[label] = f"{figures_dir.name}/{label}-accuracy.png"
    return tools.render(experiments, meta, links)
