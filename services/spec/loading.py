"""Reading a spec from YAML/JSON or a parsed mapping, with every error named by its field
path ('conditions.full.lam', 'tasks[1].name')."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cortexrnn.services.spec.model import ExperimentSpec
from cortexrnn.wire.spec_file import SpecFileError, read_spec_file


class SpecError(ValueError):
    """A spec that cannot be used; `errors` holds (field path, message) pairs."""

    def __init__(self, source: str, errors: list[tuple[str, str]]) -> None:
        self.source = source
        self.errors = errors
        lines = "\n".join(f"  {path or '(top level)'}: {msg}" for path, msg in errors)
        super().__init__(f"{source}: invalid experiment spec\n{lines}")


_BRACKET_TAG = re.compile(r"^(list|dict|literal|function-[a-z-]+|tagged-union)\[.*\]$")
_TYPE_TAG = re.compile(r"^(int|str|float|bool|none)$")
_UNION_FIELDS = {"seeds", "priority"}


def _path_of(loc: tuple[Any, ...]) -> str:
    """'conditions.full.lam', 'tasks[1].name': pydantic's loc without its union-branch tags."""
    parts: list[str] = []
    prev: Any = None
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif _BRACKET_TAG.match(str(item)) or (
            prev in _UNION_FIELDS and _TYPE_TAG.match(str(item))
        ):
            pass
        else:
            parts.append(("." if parts else "") + str(item))
        prev = item
    return "".join(parts)


def validation_errors(exc: ValidationError) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        # A sweep error names its own path (sweep.fields.training.lr), deeper than its loc.
        named = (err.get("ctx") or {}).get("error")
        path = getattr(named, "path", None) or _path_of(tuple(err["loc"]))
        item = (path, msg)
        if item not in out:
            out.append(item)
    return out


def parse_spec(data: Any, source: str = "spec") -> ExperimentSpec:
    """Validate a mapping (e.g. parsed YAML or a JSON request body) into a spec."""
    if not isinstance(data, dict):
        raise SpecError(
            source, [("", f"the spec must be a mapping of fields, got {type(data).__name__}")]
        )
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(source, validation_errors(exc)) from None


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read and validate a YAML (or JSON) spec file; errors name the file and field paths."""
    p = Path(path)
    try:
        data = read_spec_file(p, yaml.safe_load, yaml.YAMLError)
    except SpecFileError as exc:
        raise SpecError(str(p), [("", str(exc))]) from None
    return parse_spec(data, str(p))
