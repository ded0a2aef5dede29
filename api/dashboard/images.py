"""Matrices as small images for the browser: reduced on the server to at most MAX_SIDE pixels a
side (block means), quantised to one byte per pixel, and sent with their value range; the
page paints them with a colour map. A 2,000-neuron matrix is 32 MB as float64 and 64 kB here.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import numpy as np
import scipy.sparse as sp

MAX_SIDE = 256
NAN_CODE = 255  # codes 0..254 carry values; 255 paints as "undefined"


def block_mean(m: np.ndarray, side: int = MAX_SIDE) -> np.ndarray:
    n0, n1 = m.shape
    b0, b1 = max(1, math.ceil(n0 / side)), max(1, math.ceil(n1 / side))
    if b0 == b1 == 1:
        return m.astype(float)
    padded = np.full((math.ceil(n0 / b0) * b0, math.ceil(n1 / b1) * b1), np.nan)
    padded[:n0, :n1] = m
    blocks = padded.reshape(padded.shape[0] // b0, b0, padded.shape[1] // b1, b1)
    with np.errstate(invalid="ignore"):
        total = np.nansum(blocks, axis=(1, 3))
        count = np.isfinite(blocks).sum(axis=(1, 3))
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def sparse_block_sum(m: sp.spmatrix, side: int = MAX_SIDE) -> np.ndarray:
    """Block sums of a sparse matrix without making it dense."""
    coo = sp.coo_matrix(m)
    n0, n1 = coo.shape
    b0, b1 = max(1, math.ceil(n0 / side)), max(1, math.ceil(n1 / side))
    out = np.zeros((math.ceil(n0 / b0), math.ceil(n1 / b1)))
    np.add.at(out, (coo.row // b0, coo.col // b1), coo.data.astype(float))
    return out


def encode(
    m: np.ndarray,
    *,
    title: str,
    n: int,
    log: bool = False,
    diverging: bool = False,
    unit: str = "",
) -> dict[str, Any]:
    """The image payload: codes as base64, with the range the colour bar shows.

    `log` shows log10(1 + value) (synapse counts span orders of magnitude); `diverging` centres
    the scale on zero (signed weights)."""
    shown = np.log10(1.0 + np.clip(m, 0, None)) if log else m.astype(float)
    finite = shown[np.isfinite(shown)]
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
    else:
        lo, hi = 0.0, 1.0
    if diverging:
        lo, hi = -max(abs(lo), abs(hi)), max(abs(lo), abs(hi))
    span = hi - lo or 1.0
    with np.errstate(invalid="ignore"):
        codes = np.clip(np.round((shown - lo) / span * 254), 0, 254)
    codes = np.where(np.isfinite(shown), codes, NAN_CODE).astype(np.uint8)
    return {
        "title": title,
        "n": n,
        "rows": int(codes.shape[0]),
        "cols": int(codes.shape[1]),
        "min": lo,
        "max": hi,
        "log": log,
        "diverging": diverging,
        "unit": unit,
        "data": base64.b64encode(codes.tobytes()).decode(),
    }
