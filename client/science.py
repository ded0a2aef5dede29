"""The one door from the client to the science (`cortexrnn.services`, numpy, torch, pandas).

A scientist may install the client alone (`pip install 'cortexrnn[client]'`: httpx,
pydantic, typer, rich, pyyaml). Everything the client does on the user's machine with the
science goes through this module, which imports it only when asked:

- validating a spec locally (without it the server validates: POST /v1/experiments/validate),
- converting pickled field folders before an upload,
- the replication document and DataFrames (`Experiment.summary()`, `results()`).

When the science is missing, each entry point raises ScienceMissing (a UsageError, exit
code 2) naming the command that installs it. Only a missing *science* package is turned into
that message (`exc.name` is checked): a broken import inside the project stays a traceback.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from cortexrnn.client.errors import SpecInvalid, UsageError
from cortexrnn.wire.schemas import SpecCheck

if TYPE_CHECKING:
    from cortexrnn.services.spec import ExperimentSpec

INSTALL_SCIENCE = "pip install 'cortexrnn[science]'"
# The distributions of the `science` extra, by import name.
SCIENCE_PACKAGES = frozenset(
    {"numpy", "scipy", "torch", "pandas", "pyarrow", "matplotlib", "networkx"}
)


class ScienceMissing(UsageError):
    """The client was installed without the science, and this feature needs it."""


def missing_science(exc: ModuleNotFoundError, what: str) -> ScienceMissing | None:
    """The user-facing error for `exc` when it is a science package that is not installed;
    None when it is anything else (a genuine bug: let it propagate)."""
    top = (exc.name or "").partition(".")[0]
    if top not in SCIENCE_PACKAGES:
        return None
    return ScienceMissing(
        f"{what}: this needs the science: {INSTALL_SCIENCE} ({top} is not installed here)"
    )


def load(module: str, what: str) -> Any:
    """Import `module`, turning a missing science package into ScienceMissing."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        error = missing_science(exc, what)
        if error is None:
            raise
        raise error from None


@functools.cache
def available() -> bool:
    """Whether the science is installed here (then specs are validated locally)."""
    try:
        load("cortexrnn.services.spec", "spec validation")
    except ScienceMissing:
        return False
    return True


# -- specs ----------------------------------------------------------------------------------
def _spec() -> Any:
    return load("cortexrnn.services.spec", "local spec validation")


def validate(spec: Any, source: str | None = None) -> ExperimentSpec:
    """The spec as a validated ExperimentSpec, from a model, a mapping or a YAML/JSON path.
    Raises SpecInvalid listing every wrong field path."""
    mod = _spec()
    try:
        if isinstance(spec, mod.ExperimentSpec):
            return spec
        if isinstance(spec, str | Path):
            return mod.load_spec(spec)
        return mod.parse_spec(spec, source or "spec")
    except mod.SpecError as exc:
        fields = [{"path": path, "message": msg} for path, msg in exc.errors]
        raise SpecInvalid(f"{exc.source}: invalid experiment spec", fields=fields) from None


def check(model: ExperimentSpec) -> SpecCheck:
    """What a validated spec expands to, in the server's answer format."""
    return SpecCheck.of(model)


def is_spec_model(spec: Any) -> bool:
    """True for an ExperimentSpec (without importing the science to find out)."""
    return (
        type(spec).__name__ == "ExperimentSpec"
        and type(spec).__module__ == "cortexrnn.services.spec"
    )


# -- datasets -------------------------------------------------------------------------------
def dataset_error_type() -> type[Exception]:
    return load("cortexrnn.services.connectome.errors", "converting a dataset").DatasetError


def detect_format(paths: list[Path]) -> str:
    return load(
        "cortexrnn.services.connectome.formats", "recognising a dataset's format"
    ).detect_format(paths)


def convert_field_folder(source: Path, target: Path) -> list[Path]:
    """Rewrite a field folder's pickled arrays as safe numeric files (reads pickles: the
    user's own files, on the user's machine)."""
    local = load(
        "cortexrnn.services.connectome.local", "converting pickled field folders before an upload"
    )
    return local.convert_field_folder_local(source, target)


# -- tables and the replication document ----------------------------------------------------
def pandas(what: str = "DataFrames") -> Any:
    return load("pandas", what)


def fidelity_switch_sets() -> tuple[dict[str, bool], dict[str, bool]]:
    """(the paper's fidelity switches, the corrected ones)."""
    conditions = load("cortexrnn.services.priors.conditions", "the replication document")
    return conditions.PAPER_SWITCHES, conditions.CORRECTED_SWITCHES


def replication_tools() -> Any:
    """The document's renderer, its statistics and its figures, as one namespace."""
    what = "the replication document"
    figures = load("cortexrnn.services.report.figures", what)
    replication = load("cortexrnn.services.report.replication", what)
    stats = load("cortexrnn.services.report.replication_stats", what)
    return SimpleNamespace(
        render=replication.render,
        variant_points=figures.variant_points,
        accuracy=stats.ACCURACY,
        paper_order=stats.PAPER_ORDER,
        classify=stats.classify,
    )
