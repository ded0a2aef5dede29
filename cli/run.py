"""`cortexrnn run spec.yaml [--out DIR]`: a whole experiment in this process, no server.

The dataset named by the spec is resolved here (the runner itself never touches the
database): the embedded default `synthetic-cortex` is created on first use; other names are
looked up among the registered datasets; a path to one of the paper's field folders is read
directly (this is the user's own machine, so its pickled arrays may be loaded).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, cast

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.local import ingest_field_folders
from cortexrnn.shared.datasets_registry import (
    DEFAULT_DATASET_NAME,
    ensure_default_dataset,
    get_dataset_by_name,
    get_store,
)
from cortexrnn.shared.db import session_scope
from cortexrnn.shared.migrate import upgrade

if TYPE_CHECKING:
    from cortexrnn.services.connectome.types import Connectome
    from cortexrnn.services.priors.builder import Cache


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def resolve_dataset(name: str) -> tuple[Connectome, str | None, Cache | None]:
    """The connectome a spec's `dataset` names, its content hash and the store's cache."""
    path = Path(name).expanduser()
    if path.is_dir():
        try:
            return ingest_field_folders([path], name=path.name), None, None
        except DatasetError as exc:
            _fail(str(exc))
    upgrade()
    if name == DEFAULT_DATASET_NAME:
        sha = ensure_default_dataset().content_sha256
    else:
        with session_scope() as session:
            row = get_dataset_by_name(session, name)
            if row is None:
                _fail(
                    f"no dataset named {name!r}: ingest it with `cortexrnn datasets ingest`, see "
                    "`cortexrnn datasets list`, or give the path of a field folder"
                )
            sha = row.content_sha256
    store = get_store()
    return store.get(sha), sha, store.cached


def run(
    spec_path: Path = typer.Argument(..., help="Experiment spec (YAML)."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output folder (default: ./out/<spec name or hash>)."
    ),
    device: str = typer.Option("cpu", help="Torch device: cpu, cuda, cuda:1, ..."),
    nulls: int = typer.Option(
        1000, min=0, help="Null graphs per final matrix for small-worldness (the paper: 1000)."
    ),
    epoch_metrics: bool = typer.Option(
        False, "--epoch-metrics/--no-epoch-metrics", help="Topology of every epoch's snapshot."
    ),
    max_pack: int = typer.Option(32, min=1, help="Most networks trained together in one pack."),
    threads: int | None = typer.Option(
        None, min=1, help="Torch CPU threads (default: torch's choice)."
    ),
    overwrite: bool = typer.Option(
        False, help="Empty the output folder first if it holds another spec's results."
    ),
) -> None:
    """Run an experiment locally and write curves, metrics, weights and a summary to --out."""
    from cortexrnn.services.runner import (  # noqa: PLC0415 - fast startup: science for `run` only
        OutputFolderInUse,
        RunnerEvent,
        run_experiment,
    )
    from cortexrnn.services.spec import SpecError, load_spec  # noqa: PLC0415 - fast startup

    console = Console(stderr=True)
    try:
        spec = load_spec(spec_path)
    except SpecError as exc:
        _fail(str(exc))
    if threads is not None:
        import torch  # noqa: PLC0415 - torch loads only when its threads are set

        torch.set_num_threads(threads)
    out_dir = out or Path("out") / (spec.name or spec.canonical_hash()[:12])
    if overwrite and out_dir.exists():
        shutil.rmtree(out_dir)
    connectome, sha, cache = resolve_dataset(spec.dataset)
    console.print(
        f"dataset {connectome.name} ({connectome.n_neurons} neurons), {spec.n_runs} runs -> "
        f"{out_dir}"
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("net-steps"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        job = bar.add_task("starting", total=1)

        def on_event(e: RunnerEvent) -> None:
            desc = e.message or None
            if e.kind == "step" and e.rows:
                # The trainer's rows hold floats (or None) under test_acc.
                accs = cast(
                    "list[float]",
                    [r["test_acc"] for r in e.rows if r.get("test_acc") is not None],
                )
                if accs:
                    desc = f"training, mean held-out acc {sum(accs) / len(accs):.3f}"
            # description=None keeps the bar's description.
            bar.update(job, total=max(e.total, 1), completed=e.done, description=desc)

        try:
            result = run_experiment(
                spec,
                connectome,
                out_dir,
                device=device,
                cache=cache,
                on_event=on_event,
                n_nulls=nulls,
                epoch_metrics=epoch_metrics,
                max_pack=max_pack,
                dataset_sha=sha,
            )
        except OutputFolderInUse as exc:
            _fail(str(exc))
        except ValueError as exc:
            _fail(str(exc))
    cols = [c for c in ("condition", "task") if c in result.summary.columns]
    acc = (
        result.summary[result.summary["measure"] == "accuracy"]
        if len(result.summary)
        else result.summary
    )
    if len(acc):
        console.print(acc[[*cols, "n", "mean", "ci95_low", "ci95_high"]].to_string(index=False))
    console.print(
        f"done in {result.wall_s:.1f} s: {out_dir}/runs.csv, summary.csv, weights/"
        + (", report.html" if result.report else "")
    )


def register(app: typer.Typer) -> None:
    app.command("run")(run)
