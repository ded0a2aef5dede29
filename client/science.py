"""The one door from the client to the science (`cortexrnn.services`, numpy, torch, pandas).

A scientist may install the client alone (`pip install 'cortexrnn[client]'`: httpx,
pydantic, typer, rich, pyyaml). Everything the client does on the user's machine with the
science goes through this module, which imports it only when asked:

- validating a spec locally (without it the server validates: POST /v1/experiments/validate),
- converting pickled field folders before an upload,
- the replication and findings documents and DataFrames (`Experiment.summary()`, `results()`).

When the science is missing, each entry point raises ScienceMissing (a UsageError, exit
code 2) naming the command that installs it. Only a missing *science* package is turned into
that message (`exc.name` is checked): a broken import inside the project stays a traceback.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import TYPE_CHECKING, Any

from cortexrnn.client.errors import SpecInvalid, UsageError
from cortexrnn.wire.installs import SCIENCE_PACKAGES, missing_package
from cortexrnn.wire.schemas import SpecCheck

if TYPE_CHECKING:
    from cortexrnn.services.spec import ExperimentSpec

# The science is optional here, so its imports sit inside the functions below, each under
# `needs_science` (written out, not as strings, so that the layering test sees them).
# ruff: noqa: PLC0415

INSTALL_SCIENCE = "pip install 'cortexrnn[science]'"


class ScienceMissing(UsageError):
    """The client was installed without the science, and this feature needs it."""


def missing_science(exc: ModuleNotFoundError, what: str) -> ScienceMissing | None:
    """The user-facing error for `exc` when it is a science package that is not installed;
    None when it is anything else (a genuine bug: let it propagate)."""
    top = missing_package(exc, SCIENCE_PACKAGES)
    if top is None:
        return None
    return ScienceMissing(
        f"{what}: this needs the science: {INSTALL_SCIENCE} ({top} is not installed here)"
    )


@contextmanager
def needs_science(what: str) -> Iterator[None]:
    """Around an import of the science: a missing science package becomes ScienceMissing."""
    try:
        yield
    except ModuleNotFoundError as exc:
        error = missing_science(exc, what)
        if error is None:
            raise
        raise error from None


@functools.cache
def available() -> bool:
    """Whether the science is installed here (then specs are validated locally)."""
    try:
        _spec("spec validation")
    except ScienceMissing:
        return False
    return True


# -- specs ----------------------------------------------------------------------------------
def _spec(what: str = "local spec validation") -> ModuleType:
    with needs_science(what):
        from cortexrnn.services import spec
    return spec


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
    with needs_science("converting a dataset"):
        from cortexrnn.services.connectome.errors import DatasetError
    return DatasetError


def detect_format(paths: list[Path]) -> str:
    with needs_science("recognising a dataset's format"):
        from cortexrnn.services.connectome.formats import detect_format as detect
    return detect(paths)


def convert_field_folder(source: Path, target: Path) -> list[Path]:
    """Rewrite a field folder's pickled arrays as safe numeric files (reads pickles: the
    user's own files, on the user's machine)."""
    with needs_science("converting pickled field folders before an upload"):
        from cortexrnn.services.connectome.local import convert_field_folder_local
    return convert_field_folder_local(source, target)


# -- tables and the replication document ----------------------------------------------------
def pandas(what: str = "DataFrames") -> ModuleType:
    with needs_science(what):
        import pandas
    return pandas


def fidelity_switch_sets() -> tuple[dict[str, bool], dict[str, bool]]:
    """(the paper's fidelity switches, the corrected ones)."""
    with needs_science("the replication document"):
        from cortexrnn.services.priors.conditions import CORRECTED_SWITCHES, PAPER_SWITCHES
    return PAPER_SWITCHES, CORRECTED_SWITCHES


def replication_tools() -> Any:
    """The document's renderer, its statistics and its figures, as one namespace."""
    with needs_science("the replication document"):
        from cortexrnn.services.report.figures import variant_points
        from cortexrnn.services.report.replication import render
        from cortexrnn.services.report.replication_stats import ACCURACY, PAPER_ORDER, classify
    return SimpleNamespace(
        render=render,
        variant_points=variant_points,
        accuracy=ACCURACY,
        paper_order=PAPER_ORDER,
        classify=classify,
    )


def divergence_tools() -> Any:
    """How the tables mark and score runs whose training diverged, as one namespace."""
    with needs_science("the replication tables"):
        from cortexrnn.services.stats.outcomes import DIVERGED_METRIC, score_diverged
        from cortexrnn.services.training.results import is_diverged
    return SimpleNamespace(metric=DIVERGED_METRIC, score=score_diverged, is_diverged=is_diverged)


def findings_tools() -> Any:
    """The findings document's renderer and figures, as one namespace."""
    with needs_science("the findings document"):
        from cortexrnn.services.report.findings import figures, render
    return SimpleNamespace(render=render, figures=figures)


def config_defaults() -> dict[str, dict[str, Any]]:
    """The defaults of the model and training settings, by their meta key: a table fetched
    before a setting existed ran with its default."""
    with needs_science("the replication tables"):
        from cortexrnn.services.model.config import ModelConfig
        from cortexrnn.services.training.config import TrainingConfig
    return {
        "model": ModelConfig().model_dump(mode="json"),
        "training": TrainingConfig().model_dump(mode="json"),
    }
