"""Experiment specs on the client, with or without the science installed.

With the science (`cortexrnn[science]`), a spec is validated here, completely, before anything
is sent: a wrong field never reaches the server. Without it, the spec travels as the plain
mapping read from its YAML/JSON file (with the command line's overrides applied) and the
server validates it: its 422 lists the same field paths and becomes SpecInvalid (exit 2).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import yaml

from cortexrnn.client import science
from cortexrnn.client.errors import SpecInvalid, UsageError
from cortexrnn.wire.spec_file import SpecFileError, read_spec_file

# A spec: an ExperimentSpec, a mapping, or the path of a YAML/JSON file.
SpecLike = Any


def read_mapping(path: str | Path) -> dict[str, Any]:
    """The spec file as a mapping (YAML is a superset of JSON); no field is checked here.
    Errors are SpecInvalid with the same wording as the science's `load_spec`."""
    p = Path(path)

    def invalid(message: str) -> SpecInvalid:
        return SpecInvalid(
            f"{p}: invalid experiment spec", fields=[{"path": "", "message": message}]
        )

    try:
        data = read_spec_file(p, yaml.safe_load, yaml.YAMLError)
    except SpecFileError as exc:
        raise invalid(str(exc)) from None
    if not isinstance(data, dict):
        raise invalid(f"the spec must be a mapping of fields, got {type(data).__name__}")
    return data


def source_of(spec: SpecLike) -> str:
    """How errors name the spec: its file, else `spec`."""
    return str(spec) if isinstance(spec, str | Path) else "spec"


def as_mapping(spec: SpecLike) -> dict[str, Any]:
    """The spec as a plain mapping, fields as the user wrote them (defaults left to the server)."""
    if isinstance(spec, str | Path):
        return read_mapping(spec)
    if isinstance(spec, dict):
        return dict(spec)
    if hasattr(spec, "model_dump"):  # an ExperimentSpec built by the caller
        return spec.model_dump(mode="json", exclude_unset=True)
    raise UsageError(
        "a spec is a mapping, a YAML/JSON file path or an ExperimentSpec, "
        f"not {type(spec).__name__}"
    )


def priority_value(priority: str | int) -> str | int:
    """`--priority 5` arrives as the string '5': the spec wants the integer."""
    if isinstance(priority, str) and priority.lstrip("-").isdigit():
        return int(priority)
    return priority


class SpecChanges(TypedDict, total=False):
    """The fields a submission or validation replaces in the spec (see `overrides`)."""

    name: str | None
    priority: str | int | None
    force: bool | None
    seeds: int | list[int] | None
    dataset: str | None


def overrides(
    *,
    name: str | None = None,
    priority: str | int | None = None,
    force: bool | None = None,
    seeds: int | list[int] | None = None,
    dataset: str | None = None,
) -> dict[str, Any]:
    """The fields the command line (or the caller) replaces in the spec; None leaves one alone."""
    out: dict[str, Any] = {}
    for key, value in (("name", name), ("seeds", seeds), ("dataset", dataset), ("force", force)):
        if value is not None:
            out[key] = value
    if priority is not None:
        out["priority"] = priority_value(priority)
    return out


def validate_locally(spec: SpecLike, changes: dict[str, Any] | None = None) -> Any:
    """The validated ExperimentSpec with `changes` applied (needs the science)."""
    model = science.validate(spec)
    if changes:
        model = science.validate(
            {**model.model_dump(mode="json", exclude_unset=True), **changes}, source_of(spec)
        )
    return model


def request_body(
    spec: SpecLike, changes: dict[str, Any] | None = None, *, local: bool | None = None
) -> dict[str, Any]:
    """The JSON body of a submission or a validation request. `local` (default: whether the
    science is installed) validates here first; otherwise the mapping goes as it is."""
    if local is None:
        local = science.available() or science.is_spec_model(spec)
    if local:
        return validate_locally(spec, changes).model_dump(mode="json", exclude_unset=True)
    # YAML can hold values JSON cannot (an unquoted date): send their text; the server judges them.
    body = json.loads(json.dumps({**as_mapping(spec), **(changes or {})}, default=str))
    # Except .inf and .nan, which strict JSON cannot carry at all (httpx refuses to send them):
    # named here as the server would name them.
    bad = list(_non_finite(body))
    if bad:
        raise SpecInvalid(
            f"{source_of(spec)}: invalid experiment spec",
            fields=[
                {"path": path, "message": f"{value} is not a finite number"} for path, value in bad
            ],
        )
    return dict(body)


def _non_finite(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """(field path, value) of every NaN or infinite number in a parsed spec."""
    if isinstance(value, float) and not math.isfinite(value):
        yield path or "(top level)", value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _non_finite(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _non_finite(item, f"{path}.{i}")


def refused_spec(exc: UsageError, source: str) -> UsageError:
    """The server's 422 about a spec, worded like a local validation error (field paths)."""
    if exc.status == 422 and exc.fields:
        return SpecInvalid(
            f"{source}: invalid experiment spec", fields=exc.fields, status=exc.status
        )
    return exc
