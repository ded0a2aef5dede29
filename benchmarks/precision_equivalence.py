"""Is bf16-mixed training equivalent to fp32? The paired TOST (issue 19) of one grid trained in
both `training.precision`s: per task x variant, held-out accuracy within ±0.03 and modularity
within ±0.02, runs with the same condition, task and seed paired. Prints the markdown table for
docs/benchmarks.md (the statistics: services/stats/equivalence.py).

    # two experiments already on a server, or two local result folders (`cortexrnn run --out`,
    # `cortexrnn-client download -o`), fp32 and bf16-mixed of the same spec:
    python benchmarks/precision_equivalence.py --fp32 41 --bf16 42 [--url URL] [--token T]
    python benchmarks/precision_equivalence.py --fp32 out/eq/fp32 --bf16 out/eq/bf16-mixed
    # per-seed experiments merged (ids joined by +), or saved tables (a tidy <label>.csv with its
    # <label>.json, e.g. docs/replication-data/paper.csv, written by `cortexrnn-client
    # replication --append`); only the seeds both sides ran are compared:
    python benchmarks/precision_equivalence.py --fp32 docs/replication-data/paper.csv \
        --bf16 12+13+14+15+16
    # submit a spec twice (precision overridden) through the client, wait, then the table:
    python benchmarks/precision_equivalence.py --submit examples/paper-2026.yaml --seeds 5
    # no server (e.g. a bare GPU host): train both locally with `cortexrnn run`, then the table:
    python benchmarks/precision_equivalence.py --run examples/paper-2026.yaml --seeds 5 \\
        --dataset path/to/microns/6_6_2 --out out/eq --device cuda

Options for every mode: --margin METRIC=VALUE (repeat; replaces the default margins
test_acc=0.03, modularity_cnm=0.02, modularity_louvain=0.02), --alpha 0.05, --csv PATH (the
full table: n, means, difference, 90 % CI, both one-sided p-values, verdict).
The two sides must differ only in their precision (dataset, neurons, model, fidelity and the
rest of training equal); they are refused otherwise. --run computes no null graphs by default
(`--nulls 0`: neither modularity needs them), which saves most of the metrics' time.
"""

from __future__ import annotations

import argparse
import copy
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd
import yaml

from cortexrnn.client import science
from cortexrnn.client.api import Client
from cortexrnn.client.replication import fetch_tidy, load_label, merge
from cortexrnn.services.report.equivalence import equivalence_markdown
from cortexrnn.services.stats.equivalence import ALPHA, tost_table

MARGINS = {"test_acc": 0.03, "modularity_cnm": 0.02, "modularity_louvain": 0.02}
PRECISIONS = ("fp32", "bf16-mixed")
# A local run's network statuses that the server records as a succeeded run (diverged: failed).
FINISHED = ("completed", "stopped")
# What must agree for the two sides to be one grid in two precisions.
SAME = ("dataset", "sampling", "model", "fidelity", "tasks", "conditions", "seeds")


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def precision_of(spec: dict[str, Any]) -> str:
    return str((spec.get("training") or {}).get("precision", "fp32"))


def check_same_grid(fp32: dict[str, Any], bf16: dict[str, Any]) -> None:
    """Refuse two specs that differ in anything but training.precision."""
    if precision_of(fp32) != "fp32" or precision_of(bf16) != "bf16-mixed":
        fail(
            f"--fp32 was trained in {precision_of(fp32)} and --bf16 in {precision_of(bf16)}; "
            "expected fp32 and bf16-mixed"
        )
    train_a = {k: v for k, v in (fp32.get("training") or {}).items() if k != "precision"}
    train_b = {k: v for k, v in (bf16.get("training") or {}).items() if k != "precision"}
    if train_a != train_b:
        diff = sorted(
            k for k in train_a.keys() | train_b.keys() if train_a.get(k) != train_b.get(k)
        )
        fail(f"the two sides differ in training settings {diff}, not only in precision")
    for key in SAME:
        if key in fp32 and key in bf16 and fp32[key] != bf16[key]:
            fail(f"the two sides differ in {key}: {fp32[key]!r} vs {bf16[key]!r}")


def folder_results(folder: Path, metrics: list[str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A result folder's finished runs as tidy [condition, task, seed, metric, value], and its
    spec: `cortexrnn run --out` (runs.csv with `status`, spec.yaml) or `cortexrnn-client
    download -o` (runs.csv with `state`, spec.json)."""
    runs_csv = folder / "runs.csv"
    if not runs_csv.exists():
        fail(f"{folder} holds no runs.csv: not a result folder")
    runs = pd.read_csv(runs_csv)
    if "status" in runs.columns:
        runs = runs[runs["status"].isin(FINISHED)]
    elif "state" in runs.columns:
        runs = runs[runs["state"] == "succeeded"]
    spec_file = folder / "spec.yaml" if (folder / "spec.yaml").exists() else folder / "spec.json"
    spec = yaml.safe_load(spec_file.read_text()) if spec_file.exists() else {}
    present = [m for m in metrics if m in runs.columns]
    tidy = runs.melt(["condition", "task", "seed"], present, "metric", "value")
    return tidy, spec


def _grid_of(meta: dict[str, Any]) -> dict[str, Any]:
    """What `check_same_grid` compares, from a fetched table's metadata; model and training
    settings it does not name (recorded before they existed, training.precision among them)
    at their defaults."""
    defaults = science.config_defaults()
    grid = {k: meta[k] for k in ("dataset", "sampling") if meta.get(k) is not None}
    for key in ("model", "training"):
        grid[key] = {**defaults[key], **(meta.get(key) or {})}
    return {**grid, "fidelity": meta.get("fidelity_switches")}


def server_results(client: Client, ids: list[int]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One or several experiments of one grid (e.g. one per seed) as one table."""
    tidy, meta = merge("+".join(map(str, ids)), [fetch_tidy(client, i) for i in ids])
    return tidy, _grid_of(meta)


def table_results(csv: Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A saved tidy table (<label>.csv) and its metadata (<label>.json)."""
    saved = load_label(csv.parent, csv.stem)
    if saved is None or not csv.with_suffix(".json").exists():
        fail(f"{csv}: a saved table needs {csv.name} and {csv.stem}.json beside it")
    tidy, meta = saved
    return tidy, _grid_of(meta)


def results(source: str, client: Client | None, metrics: list[str]) -> tuple[pd.DataFrame, dict]:
    if all(part.isdigit() for part in source.split("+")):
        return server_results(client or Client(None, None), [int(i) for i in source.split("+")])
    if source.endswith(".csv"):
        return table_results(Path(source))
    return folder_results(Path(source), metrics)


def common_seeds(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both sides cut to the seeds each ran at all, so that a side with more seeds (a
    replication table of 10 against 5 new ones) does not count its extra seeds as unpaired."""
    shared = set(a["seed"]) & set(b["seed"])
    if not shared:
        fail("the two sides share no seed: nothing to pair")
    return a[a["seed"].isin(shared)], b[b["seed"].isin(shared)]


def variants(
    spec_path: Path, seeds: int | None, dataset: str | None = None
) -> dict[str, dict[str, Any]]:
    """The spec once per precision (name suffixed), `seeds` and `dataset` replacing its own
    if given."""
    base = yaml.safe_load(spec_path.read_text())
    if not isinstance(base, dict):
        fail(f"{spec_path}: not a YAML mapping")
    out = {}
    for precision in PRECISIONS:
        spec = copy.deepcopy(base)
        spec.setdefault("training", {})["precision"] = precision
        spec["name"] = f"{base.get('name') or spec_path.stem}-{precision}"
        if seeds is not None:
            spec["seeds"] = seeds
        if dataset is not None:
            spec["dataset"] = dataset
        out[precision] = spec
    return out


def submit_both(client: Client, specs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Submit each precision's spec, wait for both; their experiment ids."""
    experiments = {p: client.submit(spec) for p, spec in specs.items()}
    for precision, experiment in experiments.items():
        print(f"{precision}: experiment {experiment.id}", file=sys.stderr)
    for precision, experiment in experiments.items():
        final = experiment.wait(raise_on_failure=False)  # diverged runs are part of the answer
        print(f"{precision}: experiment {experiment.id} {final.status}", file=sys.stderr)
    return {p: str(e.id) for p, e in experiments.items()}


def run_both(specs: dict[str, dict[str, Any]], out: Path, args: argparse.Namespace) -> dict:
    """Train each precision's spec locally with `cortexrnn run` into OUT/<precision>; a rerun
    resumes (finished packs are skipped)."""
    out.mkdir(parents=True, exist_ok=True)
    folders = {}
    for precision, spec in specs.items():
        spec_path = out / f"spec-{precision}.yaml"
        spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
        folders[precision] = str(out / precision)
        cmd = [sys.executable, "-m", "cortexrnn.cli.main", "run", str(spec_path)]
        cmd += ["--out", folders[precision], "--device", args.device, "--nulls", str(args.nulls)]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        print("$ " + " ".join(cmd), file=sys.stderr)
        subprocess.run(cmd, check=True)
    return folders


def parse_margins(items: list[str] | None) -> dict[str, float]:
    if not items:
        return dict(MARGINS)
    margins = {}
    for item in items:
        name, _, value = item.partition("=")
        try:
            margins[name] = float(value)
        except ValueError:
            fail(f"--margin: expected METRIC=VALUE, got {item!r}")
        if not name or not margins[name] > 0:
            fail(f"--margin: expected METRIC=VALUE with a positive VALUE, got {item!r}")
    return margins


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--fp32", help="fp32 side: experiment id(s) 1+2, saved table (.csv) or result folder"
    )
    mode.add_argument("--submit", type=Path, metavar="SPEC", help="submit SPEC in both precisions")
    mode.add_argument("--run", type=Path, metavar="SPEC", help="train SPEC locally in both")
    ap.add_argument("--bf16", help="bf16-mixed side: as --fp32")
    ap.add_argument("--url", help="server (default: the client's configuration)")
    ap.add_argument("--token")
    ap.add_argument("--seeds", type=int, help="--submit/--run: replace the spec's seeds")
    ap.add_argument(
        "--dataset", help="--submit/--run: replace the spec's dataset (--run: a field folder)"
    )
    ap.add_argument("--out", type=Path, help="--run: output folder (OUT/fp32, OUT/bf16-mixed)")
    ap.add_argument("--device", default="cpu", help="--run: torch device")
    ap.add_argument("--nulls", type=int, default=0, help="--run: null graphs per network")
    ap.add_argument("--threads", type=int, help="--run: torch CPU threads")
    ap.add_argument("--margin", action="append", metavar="METRIC=VALUE")
    ap.add_argument("--alpha", type=float, default=ALPHA)
    ap.add_argument("--csv", type=Path, help="write the full table here")
    args = ap.parse_args()
    margins = parse_margins(args.margin)

    client = Client(args.url, args.token) if args.url or args.token else None
    if args.fp32 is not None:
        if args.bf16 is None:
            fail("--fp32 needs --bf16")
        sources = {"fp32": args.fp32, "bf16-mixed": args.bf16}
    elif args.submit is not None:
        sources = submit_both(
            client or Client(None, None), variants(args.submit, args.seeds, args.dataset)
        )
    else:
        if args.out is None:
            fail("--run needs --out")
        sources = run_both(variants(args.run, args.seeds, args.dataset), args.out, args)

    fp32, fp32_spec = results(sources["fp32"], client, list(margins))
    bf16, bf16_spec = results(sources["bf16-mixed"], client, list(margins))
    check_same_grid(fp32_spec, bf16_spec)
    bf16, fp32 = common_seeds(bf16, fp32)
    table = tost_table(bf16, fp32, margins, args.alpha)
    if args.csv is not None:
        table.to_csv(args.csv, index=False)
    print(
        f"fp32: {sources['fp32']}, bf16-mixed: {sources['bf16-mixed']} "
        f"(dataset {fp32_spec.get('dataset')})\n"
    )
    print(equivalence_markdown(table, alpha=args.alpha), end="")


if __name__ == "__main__":
    main()
