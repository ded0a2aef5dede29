"""Functional matrices (correlation, STTC, precision) from spike trains.

The same code serves real recordings and the synthetic cortex, so that a prior derived from
either means the same thing. Silent neurons make correlation and STTC undefined; those entries
are set to 0 (diagonal 1) rather than NaN because priors must be finite — `functional_from_spikes`
reports which neurons were silent.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from cortexrnn.services.connectome.errors import DatasetError
from cortexrnn.services.connectome.types import SpikeTrains

# Beyond this many grid frames x neurons the binary-matrix STTC path would need too much memory.
_GRID_CELLS_LIMIT = 400_000_000


def spike_trains_from_list(
    trains: list[np.ndarray], duration_s: float | None = None
) -> SpikeTrains:
    """Pack per-neuron spike time arrays (seconds) into the flat CSR form, each sorted."""
    arrays = [np.sort(np.asarray(t, dtype=np.float64).ravel()) for t in trains]
    lengths = np.array([len(a) for a in arrays], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    times = np.concatenate(arrays) if arrays else np.zeros(0)
    if times.size and not np.isfinite(times).all():
        raise DatasetError("spike times: NaN or infinite values")
    if times.size and times.min() < 0:
        raise DatasetError("spike times: negative times")
    if duration_s is None:
        # Recordings here carry no explicit length: the last spike is the best lower bound.
        duration_s = float(times.max()) if times.size else 0.0
    return SpikeTrains(times=times, offsets=offsets, duration_s=float(duration_s))


def _owner(spikes: SpikeTrains) -> np.ndarray:
    return np.repeat(np.arange(spikes.n_neurons), np.diff(spikes.offsets))


def binned_counts(spikes: SpikeTrains, bin_s: float) -> np.ndarray:
    """(N, n_bins) spike counts in bins of `bin_s` seconds covering [0, duration]."""
    if not bin_s > 0:
        raise DatasetError(f"bin width must be positive, got {bin_s}")
    n_bins = max(1, int(np.ceil(spikes.duration_s / bin_s - 1e-9)))
    idx = np.minimum((spikes.times / bin_s).astype(np.int64), n_bins - 1)
    flat = _owner(spikes) * n_bins + idx
    counts = np.bincount(flat, minlength=spikes.n_neurons * n_bins)
    return counts.reshape(spikes.n_neurons, n_bins).astype(np.float64)


def correlation(counts: np.ndarray) -> np.ndarray:
    """Pearson correlation between rows; constant rows give 0 off the diagonal."""
    x = counts - counts.mean(axis=1, keepdims=True)
    norm = np.sqrt((x * x).sum(axis=1))
    ok = norm > 0
    x[ok] /= norm[ok, None]
    c = x @ x.T
    c = np.clip((c + c.T) / 2, -1.0, 1.0)
    np.fill_diagonal(c, 1.0)
    return c


def ledoit_wolf_covariance(counts: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit & Wolf (2004) shrinkage towards a scaled identity; returns (covariance, shrinkage)."""
    x = counts - counts.mean(axis=1, keepdims=True)
    n_features, n_samples = x.shape
    s = x @ x.T / n_samples  # maximum-likelihood covariance, as Ledoit & Wolf define it
    mu = np.trace(s) / n_features
    delta = ((s - mu * np.eye(n_features)) ** 2).sum() / n_features
    x2 = x * x
    beta = ((x2 @ x2.T).sum() / n_samples - (s * s).sum()) / (n_features * n_samples)
    shrinkage = 0.0 if delta == 0 else float(min(beta / delta, 1.0))
    cov = (1 - shrinkage) * s + shrinkage * mu * np.eye(n_features)
    return cov, shrinkage


def _inv_spd(m: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite matrix via Cholesky (about half LU's cost)."""
    c, info = scipy.linalg.lapack.dpotrf(m, lower=True)
    if info != 0:
        return np.linalg.inv(m)
    inv, info = scipy.linalg.lapack.dpotri(c, lower=True)
    if info != 0:
        return np.linalg.inv(m)
    return np.tril(inv) + np.tril(inv, -1).T


def precision(
    counts: np.ndarray, method: str = "auto", max_condition: float = 1e10
) -> tuple[np.ndarray, dict]:
    """Inverse covariance of binned counts.

    method: 'inverse' (plain inverse of the sample covariance, refused when singular),
    'ledoit_wolf' (always shrink), or 'auto': the plain inverse when the sample covariance is
    well conditioned (condition number below `max_condition`), otherwise Ledoit-Wolf shrinkage.
    Returns the matrix and a record of what was done.
    """
    n = counts.shape[0]
    cov = np.cov(counts) if counts.shape[1] > 1 else np.zeros((n, n))
    cov = np.atleast_2d(cov)
    if method not in ("auto", "inverse", "ledoit_wolf"):
        raise DatasetError(f"precision method must be auto, inverse or ledoit_wolf, got {method!r}")
    if counts.shape[1] - 1 < n:
        cond = float("inf")  # fewer samples than neurons: the sample covariance is singular
    elif n:
        ev = np.linalg.eigvalsh(cov)
        cond = float(ev[-1] / ev[0]) if ev[0] > 0 else float("inf")
    else:
        cond = 1.0
    if method == "inverse" or (method == "auto" and np.isfinite(cond) and cond < max_condition):
        if not (np.isfinite(cond) and cond < max_condition):
            raise DatasetError(
                f"precision: covariance is singular (condition number {cond:.3g}); use "
                "method='ledoit_wolf'"
            )
        p = _inv_spd(cov)
        info = {"method": "inverse", "condition_number": cond}
    else:
        shrunk, shrinkage = ledoit_wolf_covariance(counts)
        if not np.all(np.diag(shrunk) > 0):
            # Silent neurons have zero variance even after shrinkage towards the mean variance 0.
            shrunk = shrunk + 1e-12 * np.eye(n)
        p = _inv_spd(shrunk)
        # None for a singular covariance: metadata must stay JSON (no inf).
        info = {
            "method": "ledoit_wolf",
            "shrinkage": shrinkage,
            "condition_number": cond if np.isfinite(cond) else None,
        }
    return (p + p.T) / 2, info


def tiling_fraction(spikes: SpikeTrains, dt_s: float) -> np.ndarray:
    """T_A of Cutts & Eglen: the fraction of [0, duration] within ±dt of any spike of each
    neuron."""
    n = spikes.n_neurons
    duration = spikes.duration_s
    if duration <= 0:
        return np.zeros(n)
    lo = np.clip(spikes.times - dt_s, 0.0, duration)
    hi = np.clip(spikes.times + dt_s, 0.0, duration)
    # Within one neuron the times are sorted, so hi is non-decreasing and the union length is the
    # sum of each interval's part beyond the previous interval's end.
    prev_hi = np.concatenate([[-np.inf], hi[:-1]])
    first = np.zeros(len(hi), dtype=bool)
    starts = spikes.offsets[:-1][np.diff(spikes.offsets) > 0]
    first[starts] = True
    prev_hi[first] = -np.inf
    part = np.maximum(hi - np.maximum(lo, prev_hi), 0.0)
    covered = np.bincount(_owner(spikes), weights=part, minlength=n)
    return covered / duration


def _detect_grid(times: np.ndarray) -> float | None:
    """The frame period if every spike time is an integer multiple of it (imaging data)."""
    if times.size < 2:
        return None
    u = np.unique(times)
    d = np.diff(u)
    d = d[d > 0]
    if d.size == 0:
        return None
    tau = float(d.min())
    k = times / tau
    if np.abs(k - np.round(k)).max() > 1e-4:
        return None
    return tau


def _check_grid(times: np.ndarray, tau: float) -> float | None:
    k = times / tau
    return tau if times.size == 0 or np.abs(k - np.round(k)).max() <= 1e-4 else None


def _proportions_grid(spikes: SpikeTrains, dt_s: float, tau: float) -> np.ndarray:
    """P[a, b] = fraction of a's spikes within ±dt of some spike of b, exact for gridded times."""
    n = spikes.n_neurons
    frames = np.round(spikes.times / tau).astype(np.int64)
    n_frames = int(frames.max()) + 1 if frames.size else 1
    # Tolerance keeps dt = k * tau inclusive despite floating-point frame periods.
    k = int(np.floor(dt_s / tau + 1e-6))
    owner = _owner(spikes)
    counts = np.bincount(owner * n_frames + frames, minlength=n * n_frames)
    counts = counts.reshape(n, n_frames).astype(np.float32)
    occupied = (counts > 0).astype(np.float32)
    # Dilate each neuron's occupied frames by ±k frames with a cumulative-sum window.
    c = np.cumsum(np.pad(occupied, ((0, 0), (k + 1, k))), axis=1, dtype=np.float64)
    near = ((c[:, 2 * k + 1 :] - c[:, : -2 * k - 1]) > 0).astype(np.float32)
    hits = counts @ near.T  # hits[a, b]: spikes of a with a b spike within ±dt
    n_spikes = np.diff(spikes.offsets).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_spikes[:, None] > 0, hits / n_spikes[:, None], 0.0)


def _proportions_sorted(spikes: SpikeTrains, dt_s: float) -> np.ndarray:
    """The same proportions for arbitrary times: per b, one searchsorted of all spikes."""
    n = spikes.n_neurons
    owner = _owner(spikes)
    times = spikes.times
    n_spikes = np.diff(spikes.offsets).astype(np.float64)
    p = np.zeros((n, n))
    for b in range(n):
        tb = spikes.neuron(b)
        if tb.size == 0:
            continue
        pos = np.searchsorted(tb, times)
        left = tb[np.clip(pos - 1, 0, tb.size - 1)]
        right = tb[np.clip(pos, 0, tb.size - 1)]
        near = np.minimum(np.abs(times - left), np.abs(right - times)) <= dt_s
        p[:, b] = np.bincount(owner, weights=near, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_spikes[:, None] > 0, p / n_spikes[:, None], 0.0)


def sttc(
    spikes: SpikeTrains, dt_s: float, method: str = "auto", frame_s: float | None = None
) -> np.ndarray:
    """Spike time tiling coefficient (Cutts & Eglen 2014) for every pair, symmetric, diagonal 1.

    method: 'grid' (spike times on a frame grid: one binary matrix product, exact), 'sorted'
    (any times: a searchsorted per neuron), or 'auto' (grid when the times lie on one).
    `frame_s` gives the frame period; by default it is guessed as the smallest gap between
    distinct spike times.
    Pairs involving a silent neuron, or a neuron whose ±dt tiles cover the whole recording,
    are undefined and set to 0.
    """
    if not dt_s > 0:
        raise DatasetError(f"STTC window dt must be positive, got {dt_s}")
    n = spikes.n_neurons
    tau = None
    if method in ("auto", "grid"):
        tau = _detect_grid(spikes.times) if frame_s is None else _check_grid(spikes.times, frame_s)
        if tau is not None and (spikes.times.max() / tau) * n > _GRID_CELLS_LIMIT:
            tau = None
        if method == "grid" and tau is None:
            raise DatasetError("STTC method 'grid': spike times do not lie on a common frame grid")
    elif method != "sorted":
        raise DatasetError(f"STTC method must be auto, grid or sorted, got {method!r}")
    p = (
        _proportions_grid(spikes, dt_s, tau)
        if tau is not None
        else _proportions_sorted(spikes, dt_s)
    )
    t = tiling_fraction(spikes, dt_s)
    pa, tb = p, t[None, :]  # (P_A - T_B) / (1 - P_A T_B) for rows a, columns b
    with np.errstate(invalid="ignore", divide="ignore"):
        term = (pa - tb) / (1.0 - pa * tb)
    term[~np.isfinite(term)] = 0.0
    s = 0.5 * (term + term.T)
    silent = np.diff(spikes.offsets) == 0
    s[silent, :] = 0.0
    s[:, silent] = 0.0
    np.fill_diagonal(s, 1.0)
    return s


def functional_from_spikes(
    spikes: SpikeTrains,
    bin_s: float = 0.5,
    sttc_dt_s: float = 0.5,
    precision_method: str = "auto",
) -> tuple[dict[str, np.ndarray], dict]:
    """Correlation and precision of counts in `bin_s` bins, STTC with window `sttc_dt_s`."""
    counts = binned_counts(spikes, bin_s)
    prec, prec_info = precision(counts, method=precision_method)
    matrices = {
        "correlation": correlation(counts),
        "sttc": sttc(spikes, sttc_dt_s),
        "precision": prec,
    }
    silent = np.flatnonzero(np.diff(spikes.offsets) == 0).tolist()
    info = {
        "bin_s": bin_s,
        "sttc_dt_s": sttc_dt_s,
        "precision": prec_info,
        "silent_neurons": silent,
        "undefined_entries": "correlation and STTC of silent neurons set to 0 (diagonal 1)",
    }
    return matrices, info
