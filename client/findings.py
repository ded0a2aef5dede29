"""Fetching the controls' and sweeps' results as tidy tables and writing docs/findings.md from
them: the same tables and meta as the replication document's (`client/replication.py`, whose
fetching, merging and saving this reuses), in their own folder; the document and its figures
are rendered by services/report/findings.py from the saved tables alone."""

from __future__ import annotations

from pathlib import Path

from cortexrnn.client import science
from cortexrnn.client.replication import load


def render_from(data_dir: Path, figures_dir: Path | None = None) -> str:
    """The document from the saved tables (an empty or missing folder gives the document that
    says what has not been run); with `figures_dir`, also its figures, linked relative to the
    document's folder, which is taken to be `figures_dir`'s parent."""
    tools = science.findings_tools()
    experiments, meta = load(data_dir) if data_dir.is_dir() else ({}, {})
    links: dict[str, str] = {}
    if figures_dir is not None and experiments:
        pngs = tools.figures(experiments, meta)
        if pngs:
            figures_dir.mkdir(parents=True, exist_ok=True)
        for name, png in pngs.items():
            (figures_dir / name).write_bytes(png)
            links[name] = f"{figures_dir.name}/{name}"
    return str(tools.render(experiments, meta, links))
