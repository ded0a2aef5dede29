"""What an experiment's owner may change after submission: its tags (what listing and search
use) and its notes. The submitted spec is kept as it was; neither is part of any hash. One
rule for the API (PATCH /v1/experiments/{id}) and the dashboard's forms."""

from __future__ import annotations

from pydantic import ValidationError

from cortexrnn.services.spec import ExperimentSpec
from cortexrnn.shared.models import Experiment

MAX_NOTES = 10_000
# Text a person types: newlines and tabs, no other control characters (Postgres refuses NUL).
_ALLOWED_CONTROLS = {"\n", "\r", "\t"}


class LabelError(ValueError):
    """A refused edit; `path` is the field to fix."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


def check_tags(experiment: Experiment, tags: list[str]) -> list[str]:
    """`tags` under the spec's own rule for tags (count, length, characters), duplicates
    dropped in order."""
    wanted = list(dict.fromkeys(tags))
    try:
        ExperimentSpec.model_validate({**experiment.spec, "tags": wanted})
    except ValidationError as exc:
        problems = [e for e in exc.errors() if e["loc"][:1] == ("tags",)]
        if problems:
            raise LabelError(
                "tags", f"tags: {problems[0]['msg'].removeprefix('Value error, ')}"
            ) from None
    return wanted


def check_notes(notes: str) -> str | None:
    """The notes to store (None for empty)."""
    if len(notes) > MAX_NOTES:
        raise LabelError("notes", f"notes are {len(notes)} characters, above {MAX_NOTES}")
    bad = sorted({repr(c) for c in notes if not c.isprintable() and c not in _ALLOWED_CONTROLS})
    if bad:
        raise LabelError("notes", f"notes hold control characters {', '.join(bad)}; remove them")
    return notes if notes.strip() else None


def edit_labels(experiment: Experiment, tags: list[str] | None, notes: str | None) -> None:
    """Set what is given (None: unchanged), after checking all of it: a refused edit changes
    nothing."""
    new_tags = check_tags(experiment, tags) if tags is not None else None
    new_notes = check_notes(notes) if notes is not None else experiment.notes
    if new_tags is not None:
        experiment.tags = new_tags
    experiment.notes = new_notes
