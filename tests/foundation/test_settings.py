from __future__ import annotations

from pathlib import Path

import pytest

from cortexrnn.shared.settings import DEV_SECRET, Settings, UnsafeSettingsError


def test_embedded_defaults_live_under_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CORTEXRNN_HOME", str(tmp_path / "h"))
    monkeypatch.delenv("CORTEXRNN_DATABASE_URL", raising=False)
    monkeypatch.delenv("CORTEXRNN_BROKER_URL", raising=False)
    s = Settings()
    assert s.database_url == f"sqlite:///{tmp_path / 'h' / 'cortexrnn.db'}"
    assert s.store_dir == tmp_path / "h" / "store"
    assert s.artifacts_dir == tmp_path / "h" / "artifacts"
    assert s.broker_url.startswith("filesystem://")
    assert s.is_embedded


def test_default_home_is_in_the_users_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORTEXRNN_HOME", raising=False)
    assert Settings().home == Path.home() / ".cortexrnn"


def test_lab_deployment_refuses_the_default_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORTEXRNN_DATABASE_URL", "postgresql+psycopg://lab:pw@db/cortexrnn")
    monkeypatch.delenv("CORTEXRNN_SECRET_KEY", raising=False)
    with pytest.raises(UnsafeSettingsError, match="CORTEXRNN_SECRET_KEY") as info:
        Settings().refuse_unsafe()
    assert "pw" not in str(info.value)  # the password is never echoed


def test_lab_deployment_with_a_real_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORTEXRNN_DATABASE_URL", "postgresql+psycopg://lab@db/cortexrnn")
    monkeypatch.setenv("CORTEXRNN_BROKER_URL", "redis://redis:6379/0")
    monkeypatch.setenv("CORTEXRNN_SECRET_KEY", "x" * 40)
    s = Settings().refuse_unsafe()
    assert not s.is_embedded
    assert s.secret_key != DEV_SECRET
    assert s.broker_url == "redis://redis:6379/0"
