"""Alembic environment and versions, shipped inside the package so that an installed
wheel can run ``cortexrnn db upgrade``."""
