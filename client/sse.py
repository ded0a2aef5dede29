"""A minimal server-sent-events reader (the WHATWG event-stream format) over text lines."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    event: str
    data: str
    id: str | None = None  # the stream's last event id when this event came (for Last-Event-ID)

    def json(self) -> Any:
        try:
            return json.loads(self.data) if self.data else {}
        except ValueError:
            return {"raw": self.data}


def parse_events(lines: Iterable[str]) -> Iterator[Event]:
    """Yield each complete event; comments (keep-alive pings) are skipped. An `id` field sets
    the stream's last event id, which later events carry until another `id` replaces it."""
    name = ""
    data: list[str] = []
    last_id: str | None = None
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data or name:
                yield Event(name or "message", "\n".join(data), last_id)
            name, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
        elif field == "id" and "\0" not in value:  # the spec ignores an id holding NUL
            last_id = value
    if data:
        yield Event(name or "message", "\n".join(data), last_id)
