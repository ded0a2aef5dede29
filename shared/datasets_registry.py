"""Datasets in the database: one row per stored connectome, named, with its counts and licence.

The arrays live in the content-addressed store (`settings.store_dir`); the row points at them
by sha256.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.store import ConnectomeStore, jsonable
from cortexrnn.services.connectome.synthetic import synthesize_cortex
from cortexrnn.services.connectome.types import Connectome
from cortexrnn.shared.db import session_scope
from cortexrnn.shared.models import Dataset
from cortexrnn.shared.settings import get_settings

DEFAULT_DATASET_NAME = "synthetic-cortex"
DEFAULT_N_NEURONS = 2000
DEFAULT_SEED = 0


def get_store() -> ConnectomeStore:
    """The store of the configured folder; one object per folder, so that datasets it has
    loaded stay in memory (every submission checks its selection against the dataset)."""
    return _store_at(str(get_settings().store_dir))


@functools.lru_cache(maxsize=8)
def _store_at(root: str) -> ConnectomeStore:
    return ConnectomeStore(Path(root))


def get_dataset_by_name(session: Session, name: str) -> Dataset | None:
    return session.scalar(select(Dataset).where(Dataset.name == name))


def register_dataset(
    session: Session, connectome: Connectome, sha: str, owner_id: int | None = None
) -> Dataset:
    """Add the row for a connectome already put in the store under `sha`.

    Registering the same name with the same content again returns the existing row; the same
    name with different content is refused.
    """
    existing = get_dataset_by_name(session, connectome.name)
    if existing is not None:
        if existing.content_sha256 == sha:
            return existing
        raise DatasetError(
            f"dataset name {connectome.name!r} is taken by different content "
            f"({existing.content_sha256[:12]}); choose another --name"
        )
    meta: dict[str, Any] = jsonable(dict(connectome.meta))
    row = Dataset(
        name=connectome.name,
        owner_id=owner_id,
        source=str(meta.get("source", "upload"))[:64],
        content_sha256=sha,
        n_neurons=connectome.n_neurons,
        n_connections=connectome.n_connections,
        n_synapses=connectome.n_synapses,
        fields=connectome.fields,
        license=meta.get("license"),
        citation=meta.get("citation"),
        meta=meta,
    )
    session.add(row)
    session.flush()
    return row


def store_and_register(connectome: Connectome, owner_id: int | None = None) -> Dataset:
    """Put in the store, then register; the store entry is content-addressed and harmless if the
    registration is refused (nothing partial: the row is written in one transaction)."""
    sha = get_store().put(connectome)
    with session_scope() as session:
        return register_dataset(session, connectome, sha, owner_id)


def ensure_default_dataset() -> Dataset:
    """The embedded default synthetic cortex (2000 neurons, seed 0), created on first use."""
    with session_scope() as session:
        row = get_dataset_by_name(session, DEFAULT_DATASET_NAME)
        if row is not None and get_store().has(row.content_sha256):
            return row
    connectome = synthesize_cortex(DEFAULT_N_NEURONS, DEFAULT_SEED, name=DEFAULT_DATASET_NAME)
    sha = get_store().put(connectome)
    try:
        with session_scope() as session:
            return register_dataset(session, connectome, sha)
    except IntegrityError:
        # Another process registered it between our check and insert: same content, use theirs.
        with session_scope() as session:
            row = get_dataset_by_name(session, DEFAULT_DATASET_NAME)
            if row is None:
                raise
            return row
