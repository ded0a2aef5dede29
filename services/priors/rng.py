"""Independent, named random streams per seed, so that each part of a prior is reproducible
on its own (W! uses exactly the lognormal draw of W* for the same seed, plus a permutation
from its own stream)."""

from __future__ import annotations

import zlib

import numpy as np


def stream(seed: int, name: str) -> np.random.Generator:
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(name.encode())]))
