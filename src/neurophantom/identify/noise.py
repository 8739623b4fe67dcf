"""How much of a recorded trial mean is noise: the instrument's and the specimen's own.

Repeated trials of one protocol differ by two things the deterministic map cannot
reproduce: the camera's shot and read noise (Poisson photon counts, independent from frame
to frame, known from the counts themselves) and whatever stochastic input the specimen
received (its background drive, channel noise), which is correlated over the membrane's
and the input's time constants. The second is measured from the recordings' own
trial-to-trial spread, as in the signal/noise decomposition of repeated trials (Sahani &
Linden 2003): the deviations of each trial from the trial mean give, pooled over frames,
each neuron's single-trial noise autocovariance; subtracting the shot-noise variance at
lag zero leaves the *excess* autocovariance ``gamma_n(k)``. The estimate is tapered with
Bartlett's window, which keeps the implied Toeplitz covariance positive semi-definite
(Bartlett 1946; Priestley 1981, section 5.4). It is kept only where its lag-zero value
exceeds ``min_z`` standard errors of what shot noise alone would give (``sqrt(2 sum_f
shot_f^2 / (T - 1)) / F``, a pre-test estimator): with two trials the lag-zero estimate of
a neuron without excess noise scatters by tens of percent of the shot noise, and keeping
its positive half would inflate the noise and deflate the chi-square. With a single trial
only the shot noise is known. Pooling over
frames assumes the excess noise is stationary within a trial: with two or three trials per
protocol a per-frame estimate would rest on one or two degrees of freedom. For the same
reason the estimate is pooled over all protocols of a specimen (:func:`pool_trial_noise`):
the excess noise is the specimen's, and its correlation time leaves one protocol only a
few independent samples of it.

The covariance of the trial mean of ``T`` trials of neuron ``n`` is then
``diag(shot_n) / T + Toeplitz(gamma_n) / T``; after the comparison's Gaussian smoothing
``S`` it is ``S Sigma_n S^T``, whose diagonal weighs the chi-square
(:func:`~.observe.chi_square`) and whose full form gives the residual covariance that the
goodness of fit and the intervals of :mod:`.identifiability` use.

References
----------
Bartlett MS (1946) On the theoretical specification and sampling properties of
autocorrelated time-series. J R Stat Soc Suppl 8:27-41.
Priestley MB (1981) Spectral Analysis and Time Series. Academic Press.
Sahani M, Linden JF (2003) How linear are auditory cortical responses? Adv Neural Inf
Process Syst 15:125-132.
"""

from __future__ import annotations

import numpy as np


def shot_variance(measured: np.ndarray, read_noise_e: float) -> np.ndarray:
    """Single-trial variance per frame (frames, N) of Poisson counts plus read noise,
    estimated by the trial-mean count (at least one photon)."""
    return np.maximum(np.asarray(measured, dtype=np.float64).mean(axis=0), 1.0) + float(read_noise_e) ** 2


def default_max_lag(n_frames: int, smooth_frames: float) -> int:
    """Autocovariance lags estimated: four smoothing widths or 16 frames, whichever is
    more, and at most a quarter of the trial (beyond that the estimate is mostly noise)."""
    return int(max(1, min(n_frames // 4, max(16, int(np.ceil(4 * smooth_frames))))))


def raw_autocovariance(measured: np.ndarray, shot_single: np.ndarray, max_lag: int) -> tuple[np.ndarray, float, np.ndarray]:
    """Untapered excess autocovariance (N, L + 1) of one trial's noise from the spread of
    ``measured`` (trials, frames, N) about its trial mean, its weight ``(T - 1) F`` (the
    frame-pairs behind lag zero) and the standard error (N,) its lag-zero value would have
    under shot noise alone, ``sqrt(2 sum_f shot_f^2 / (T - 1)) / F``.

    ``sum_t d_t(f) d_t(f + k) / (T - 1)`` is unbiased for the single-trial autocovariance
    at lag ``k``; it is averaged over the ``F - k`` frame pairs and the shot noise (white)
    is subtracted at lag zero.
    """
    x = np.asarray(measured, dtype=np.float64)
    T, F, N = x.shape
    L = int(min(max_lag, F - 1))
    out = np.zeros((N, L + 1))
    if T < 2 or F < 2:
        return out, 0.0, np.full(N, np.inf)
    d = x - x.mean(axis=0)
    for k in range(L + 1):
        out[:, k] = (d[:, : F - k, :] * d[:, k:, :]).sum(axis=(0, 1)) / ((T - 1) * (F - k))
    shot = np.asarray(shot_single, dtype=np.float64)
    out[:, 0] -= shot.mean(axis=0)
    return out, float((T - 1) * F), np.sqrt(2.0 * (shot**2).sum(axis=0) / (T - 1)) / F


def tapered_excess(raw: np.ndarray, se0: np.ndarray, min_z: float = 2.0) -> np.ndarray:
    """Bartlett taper ``1 - k / (L + 1)``; neurons whose lag-zero excess is below ``min_z``
    standard errors get none."""
    L1 = raw.shape[1]
    out = raw * (1.0 - np.arange(L1) / L1)
    out[out[:, 0] <= min_z * se0] = 0.0
    return out


def excess_autocovariance(measured: np.ndarray, shot_single: np.ndarray, max_lag: int, min_z: float = 2.0) -> np.ndarray:
    """Tapered, pre-tested excess autocovariance (N, max_lag + 1) of one protocol's trials."""
    raw, _, se0 = raw_autocovariance(measured, shot_single, max_lag)
    return tapered_excess(raw, se0, min_z)


def pooled_excess(experiments, min_z: float = 2.0) -> np.ndarray:
    """Excess autocovariance (N, L + 1) pooled over protocols of one specimen (weights: the
    frame pairs of each), up to the shortest protocol's lags.

    The excess noise is the specimen's (its background input, its channels), not the
    protocol's, while the correlation time of that noise leaves one protocol's few trials
    only a few independent samples of it: per protocol the estimate of one neuron
    scattered from 0 to 47 times the shot noise in a measured case."""
    parts = []
    for e in experiments:
        trials, frames = np.shape(e.measured)[:2]
        lags = e.noise_lag_frames or default_max_lag(frames, e.smooth_frames)
        parts.append(raw_autocovariance(e.measured, shot_variance(e.measured, e.read_noise_e), lags))
    L1 = min(p[0].shape[1] for p in parts)
    w = np.array([p[1] for p in parts])
    if w.sum() <= 0:
        return np.zeros((parts[0][0].shape[0], L1))
    raw = sum(wi * p[0][:, :L1] for wi, p in zip(w, parts)) / w.sum()
    se0 = np.sqrt(sum((wi * p[2]) ** 2 for wi, p in zip(w, parts) if wi > 0)) / w.sum()
    return tapered_excess(raw, se0, min_z)


def pool_trial_noise(experiments) -> list:
    """``experiments`` of one specimen (same neurons) with the excess noise pooled over
    them (:func:`pooled_excess`); shot-noise-only experiments are returned unchanged."""
    import dataclasses

    pool = [e for e in experiments if e.noise == "trials"]
    if len(pool) < 2:
        return list(experiments)
    acov = pooled_excess(pool)
    return [dataclasses.replace(e, excess_acov=acov) if e.noise == "trials" else e for e in experiments]


def _lag_products(smooth: np.ndarray, max_lag: int) -> np.ndarray:
    """``c[f, k] = sum_i S[f, i] (S[f, i + k] + S[f, i - k])`` (lag zero counted once), so
    that ``diag(S Toeplitz(g) S^T) = c @ g``."""
    S = np.asarray(smooth, dtype=np.float64)
    F = S.shape[0]
    c = np.zeros((F, max_lag + 1))
    c[:, 0] = (S**2).sum(axis=1)
    for k in range(1, min(max_lag, F - 1) + 1):
        c[:, k] = 2.0 * (S[:, :-k] * S[:, k:]).sum(axis=1)
    return c


def smoothed_excess_variance(smooth: np.ndarray, acov: np.ndarray, trials: int) -> np.ndarray:
    """Diagonal (frames, N) of ``S Toeplitz(gamma_n) S^T / T``: the excess noise's share of
    the variance of the smoothed trial mean."""
    if not np.any(acov):
        return np.zeros((np.shape(smooth)[0], acov.shape[0]))
    return _lag_products(smooth, acov.shape[1] - 1) @ acov.T / max(int(trials), 1)


def toeplitz_stack(acov: np.ndarray, n_frames: int) -> np.ndarray:
    """(N, F, F) symmetric Toeplitz matrices of the autocovariances ``acov`` (N, L + 1)."""
    N, L1 = acov.shape
    lag = np.abs(np.arange(n_frames)[:, None] - np.arange(n_frames)[None, :])
    g = np.concatenate([acov, np.zeros((N, max(n_frames - L1, 0)))], axis=1)[:, :n_frames]
    return g[:, lag]


def mean_covariance(noise_var: np.ndarray, acov: np.ndarray, trials: int) -> np.ndarray:
    """(N, F, F) covariance of the (unsmoothed) trial mean: the shot noise's diagonal
    ``noise_var`` (frames, N; already divided by the trials) plus the excess."""
    F = np.shape(noise_var)[0]
    cov = toeplitz_stack(acov, F) / max(int(trials), 1)
    idx = np.arange(F)
    cov[:, idx, idx] += np.asarray(noise_var, dtype=np.float64).T
    return cov
