"""`download ID -o DIR`: everything an experiment produced, as plain files.

DIR/runs.csv            one row per run: condition, seed, task, state, final measures
DIR/curves.csv          every metric time series, long format (run_id, name, step, epoch, value)
DIR/summary.json        the stats tables (when the server has them)
DIR/report.html         the HTML report (when the server has it)
DIR/weights/run-<id>-weights.npz   weights of each finished run
DIR/manifest.json       what was written and what was missing, and why
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cortexrnn.client.errors import ClientError, NotFound
from cortexrnn.client.tables import result_rows

if TYPE_CHECKING:
    from cortexrnn.client.api import Client


def download_experiment(
    client: Client, experiment_id: int, out: Path, on_step: Callable[[str], None] | None = None
) -> dict[str, Any]:
    say = on_step or (lambda _msg: None)
    out.mkdir(parents=True, exist_ok=True)
    detail = client.get_experiment(experiment_id)
    manifest: dict[str, Any] = {
        "experiment": experiment_id,
        "status": detail.status,
        "server": client.url,
        "files": [],
        "missing": [],
    }
    (out / "spec.json").write_text(json.dumps(detail.spec, indent=2) + "\n")
    manifest["files"].append("spec.json")

    rows, columns = result_rows(client, experiment_id)
    _write_csv(out / "runs.csv", rows, columns)
    manifest["files"].append("runs.csv")
    say(f"runs.csv: {len(rows)} runs")

    finished = [r for r in rows if r["state"] == "succeeded"]
    n_points = 0
    with open(out / "curves.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["run_id", "condition", "seed", "task", "name", "step", "epoch", "value"])
        for r in finished:
            for series in client.metrics(r["run_id"]).series:
                for step, epoch, value in zip(
                    series.steps, series.epochs, series.values, strict=True
                ):
                    writer.writerow(
                        [
                            r["run_id"],
                            r["condition"],
                            r["seed"],
                            r["task"],
                            series.name,
                            step,
                            "" if epoch is None else epoch,
                            "" if value is None else value,
                        ]
                    )
                    n_points += 1
    manifest["files"].append("curves.csv")
    say(f"curves.csv: {n_points} points")

    for name, fetch in (
        ("summary.json", lambda: json.dumps(client.summary_json(experiment_id), indent=2) + "\n"),
        ("report.html", lambda: client.report_html(experiment_id)),
    ):
        try:
            content = fetch()
        except ClientError as exc:  # e.g. nothing finished yet, or an older server
            manifest["missing"].append({"file": name, "reason": exc.message})
            continue
        path = out / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        manifest["files"].append(name)
        say(name)

    n_weights = 0
    for r in finished:
        target = out / "weights" / f"run-{r['run_id']}-weights.npz"
        try:
            client.download_weights(r["run_id"], target)
        except NotFound as exc:
            manifest["missing"].append({"file": f"weights/{target.name}", "reason": exc.message})
            continue
        manifest["files"].append(f"weights/{target.name}")
        n_weights += 1
    say(f"weights: {n_weights} of {len(finished)} finished runs")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _write_csv(path: Path, rows: list[dict[str, Any]], columns: list[str]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
