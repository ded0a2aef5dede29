"""Draw the released code's reshape geometry of one field (docs/replication.md, §5.1):

    python examples/replication/reshape_geometry.py ../shared/data/microns/6_6_2 \\
        docs/replication-figures/reshape-geometry.png

Runs on the user's own machine: the field's positions are a pickled array."""

from __future__ import annotations

import sys
from pathlib import Path

from cortexrnn.services.connectome.local import ingest_field_folders
from cortexrnn.services.report.geometry import geometry_figure


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python examples/replication/reshape_geometry.py FIELD_FOLDER OUT.png")
        return 2
    folder, out = Path(args[0]), Path(args[1])
    field = ingest_field_folders([folder], name=folder.name)
    png, stats = geometry_figure(field.positions_nm, f"field {folder.name}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png)
    for key, value in stats.items():
        print(f"{key}: {value:.4f}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
