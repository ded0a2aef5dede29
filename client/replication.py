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
    """Succeeded runs' summary values as [condition, task, seed, metric, value] (a sweep's
    runs also `family` and a column per swept field), a `diverged` row of 1 for each run
    whose training diverged (the tables count it as not solved: `load`), and meta."""
    pd = science.pandas("the replication tables")
    paper_switches, corrected_switches = science.fidelity_switch_sets()
    divergence = science.divergence_tools()
    body = client.get_json(f"/v1/experiments/{experiment_id}/results")
    rows = []
    for r in body["runs"]:
        if r["state"] == "succeeded":
            values = r["values"]
        elif r["state"] == "failed" and divergence.is_diverged(r.get("error")):
            values = {divergence.metric: 1.0}
        else:
            continue
        rows += [
            {"condition": r["condition"], "task": r["task"], "seed": r["seed"], "metric": m,
             "value": v, **(r.get("sweep") or {})}
            for m, v in values.items()
        ]  # fmt: skip
    # A sweep's runs add `family` and one column per swept field (dotted path) after these.
    swept = list(
        dict.fromkeys(k for row in rows for k in row if k not in (*KEY, "metric", "value"))
    )
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
        "model": spec.get("model"),
        "training": spec.get("training"),
        "fidelity_switches": switches,
        "fidelity": _fidelity_label(switches, paper_switches, corrected_switches),
        "status": detail.get("status"),
        "counts": detail.get("counts"),
        "wall_s": wall,
        "worker_s": worker_s or None,
        "device": ", ".join(f"{devices.get(n, '?')} ({n})" for n in names) or None,
    }
    return pd.DataFrame(rows, columns=[*KEY, "metric", "value", *swept]), meta


def _fidelity_label(
    switches: dict[str, bool], paper: dict[str, bool], corrected: dict[str, bool]
) -> str:
    if switches == paper:
        return "paper"
    changed = [f"{k} {'on' if v else 'off'}" for k, v in switches.items() if corrected.get(k) != v]
    return "corrected" + (" + " + ", ".join(changed) if changed else "")


# What must agree for two experiments' runs to count as one grid with more seeds.
_SAME_GRID = ("dataset", "sampling", "model", "training", "fidelity_switches")


def merge(
    label: str, parts: list[tuple[pd.DataFrame, dict[str, Any]]]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Several experiments (e.g. seeds 0-4 on one server, 5-9 on another) as one table.

    Refused when they differ in dataset, neuron selection or fidelity, or when a (condition,
    task, seed) appears twice: their runs would not be one sample of one grid."""
    pd = science.pandas("the replication tables")
    first = parts[0][1]
    defaults = science.config_defaults()
    for _, meta in parts[1:]:
        for key in _SAME_GRID:
            if _filled(meta.get(key), defaults.get(key)) != _filled(
                first.get(key), defaults.get(key)
            ):
                raise ValueError(
                    f"{label}: experiment {meta.get('experiment_id')} differs from experiment "
                    f"{first.get('experiment_id')} in {key} ({meta.get(key)!r} vs "
                    f"{first.get(key)!r}); only the seeds may differ"
                )
    df = pd.concat([d for d, _ in parts], ignore_index=True)
    seen = df.drop_duplicates([*KEY, "metric"])
    if len(seen) != len(df):
        dup = df[df.duplicated([*KEY, "metric"], keep=False)][KEY].drop_duplicates().head(3)
        raise ValueError(
            f"{label}: the experiments share runs (condition, task, seed), e.g. "
            f"{dup.to_dict('records')}; give each part its own seeds"
        )
    ids: list[Any] = []
    for _, meta in parts:
        ids += meta.get("experiment_ids") or [meta.get("experiment_id")]
    merged = {**first, "experiment_ids": ids}
    for key in ("wall_s", "worker_s"):
        values = [m.get(key) for _, m in parts]
        merged[key] = sum(v for v in values if v) or None
    devices = [str(m["device"]) for _, m in parts if m.get("device")]
    merged["device"] = "; ".join(dict.fromkeys(devices)) or None
    counts: dict[str, int] = {}
    for _, meta in parts:
        for state, n in (meta.get("counts") or {}).items():
            counts[state] = counts.get(state, 0) + int(n)
    merged["counts"] = counts
    return df, merged


def _filled(value: Any, defaults: dict[str, Any] | None) -> Any:
    """A settings dict with the settings it does not name at their defaults (it was recorded
    before they existed)."""
    if not isinstance(value, dict) or defaults is None:
        return value
    return {**defaults, **value}


def load_label(data_dir: Path, label: str) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """One saved table and its meta, or None when it was never fetched."""
    pd = science.pandas("the replication tables")
    csv = data_dir / f"{label}.csv"
    if not csv.exists():
        return None
    info = csv.with_suffix(".json")
    return pd.read_csv(csv), (json.loads(info.read_text()) if info.exists() else {})


def save(data_dir: Path, label: str, df: pd.DataFrame, meta: dict[str, Any]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    df.to_csv(data_dir / f"{label}.csv", index=False)
    (data_dir / f"{label}.json").write_text(
        json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n"
    )


def load(data_dir: Path) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, Any]]]:
    """Every saved table, ready for the documents: diverged runs scored as not solved."""
    pd = science.pandas("the replication tables")
    score = science.divergence_tools().score
    experiments, meta = {}, {}
    for csv in sorted(data_dir.glob("*.csv")):
        label = csv.stem
        experiments[label] = score(pd.read_csv(csv))
        info = csv.with_suffix(".json")
        meta[label] = json.loads(info.read_text()) if info.exists() else {}
    order = ["paper", "corrected", "positive", "positive-paper"]
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
