"""Run the Alembic migrations shipped inside the package (works from an installed wheel)."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from cortexrnn.shared.db import get_engine
from cortexrnn.shared.settings import get_settings


def alembic_config(url: str | None = None) -> Config:
    url = url or get_settings().database_url
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("cortexrnn.migrations")))
    # '%' is ConfigParser interpolation syntax; URL-encoded passwords contain it.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(revision: str = "head", url: str | None = None) -> str:
    cfg = alembic_config(url)
    command.upgrade(cfg, revision)
    return get_settings().redacted_database_url if url is None else url


def downgrade(revision: str, url: str | None = None) -> None:
    command.downgrade(alembic_config(url), revision)


def revision_of(url: str | None = None) -> str | None:
    with get_engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
