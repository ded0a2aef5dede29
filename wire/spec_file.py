"""Reading an experiment spec file, with the errors the client and the science both report
for a file that cannot be read or parsed (field errors come later, from validation).
Standard library only: the caller passes the parser (`yaml.safe_load`; YAML is a superset
of JSON) and its error type, so the wire does not import PyYAML."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


class SpecFileError(ValueError):
    """The spec file cannot be used as a whole; the message says why (no field path)."""


def read_spec_file(
    path: str | Path, parse: Callable[[str], Any], parse_error: type[Exception]
) -> Any:
    """The parsed content of the file at `path`, not yet checked as a spec. Raises
    SpecFileError: file not found, cannot read the file, not valid YAML (with the line and
    column where the parser reports them), the file is empty."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecFileError("file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecFileError(f"cannot read the file ({exc})") from None
    try:
        data = parse(text)
    except parse_error as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise SpecFileError(f"not valid YAML: {where}{problem}") from None
    if data is None:
        raise SpecFileError("the file is empty")
    return data
