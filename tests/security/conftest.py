"""Fixtures for the security tests: the real app on an embedded database shared by a whole
module (migrations and the default dataset are built once), and a snapshot of everything a
refused request must leave untouched."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tests.api.conftest import Api, api, assert_error, small_spec, tiny_dataset  # noqa: F401 - fixtures re-exported
from tests.conftest import seeded_app


@dataclass(frozen=True)
class StoreSnapshot:
    experiments: int
    runs: int
    datasets: int
    users: int
    tokens: int
    files: tuple[tuple[str, int], ...]  # (path under the store or artifacts folder, size)


def snapshot() -> StoreSnapshot:
    """Row counts and the files of the store and artifact folders, as a user's admin would check."""
    from cortexrnn.shared.db import session_scope
    from cortexrnn.shared.models import ApiToken, Dataset, Experiment, Run, User
    from cortexrnn.shared.settings import get_settings

    settings = get_settings()
    files = []
    for root in (Path(settings.store_dir), Path(settings.artifacts_dir)):
        if root.exists():
            files += [
                (str(p.relative_to(root.parent)), p.stat().st_size)
                for p in root.rglob("*")
                if p.is_file()
            ]
    with session_scope() as s:
        count = lambda model: s.scalar(select(func.count()).select_from(model))  # noqa: E731
        return StoreSnapshot(
            count(Experiment),
            count(Run),
            count(Dataset),
            count(User),
            count(ApiToken),
            tuple(sorted(files)),
        )


@dataclass
class ModuleApi(Api):
    tmp_uploads: Path  # where the API unpacks uploads (tempfile.tempdir during the module)


@pytest.fixture(scope="module")
def module_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleApi]:
    """One app for a whole module, with users alice, bob and root (admin), the `tiny` dataset
    and an experiment of alice's, so that refusals are checked against a store with content."""
    from cortexrnn.shared.db import get_engine, get_sessionmaker
    from cortexrnn.shared.settings import reset_settings_cache

    home = tmp_path_factory.mktemp("security-home")
    uploads = tmp_path_factory.mktemp("security-uploads")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CORTEXRNN_HOME", str(home))
        for var in (
            "CORTEXRNN_DATABASE_URL",
            "CORTEXRNN_BROKER_URL",
            "CORTEXRNN_STORE_DIR",
            "CORTEXRNN_ARTIFACTS_DIR",
        ):
            mp.delenv(var, raising=False)
        mp.setattr(tempfile, "tempdir", str(uploads))
        reset_settings_cache()
        get_sessionmaker.cache_clear()
        get_engine.cache_clear()
        app, tokens = seeded_app()
        with TestClient(app) as client:
            api_ = ModuleApi(client, tokens, uploads)
            r = api_.post("/v1/experiments", json=small_spec(name="alice-first"))
            assert r.status_code == 201, r.text
            yield api_
        reset_settings_cache()
        get_sessionmaker.cache_clear()
        get_engine.cache_clear()
