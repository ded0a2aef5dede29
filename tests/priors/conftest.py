from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def field_662(microns_dir: Path):
    """Field 6_6_2, the paper's field (312 neurons), read as a user would (unpickles locally)."""
    from cortexrnn.services.connectome.local import ingest_field_folders

    return ingest_field_folders([microns_dir / "6_6_2"], name="6_6_2")


@pytest.fixture(scope="session")
def synthetic_small():
    from cortexrnn.services.connectome.synthetic import synthesize_cortex

    return synthesize_cortex(120, seed=3)
