"""The one exception every refusal of malformed connectome input raises."""

from __future__ import annotations


class DatasetError(ValueError):
    """Input that cannot become a dataset. The message names the file, column and problem."""
