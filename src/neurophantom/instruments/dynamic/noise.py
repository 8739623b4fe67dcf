"""The random part of the instrument, and dF/F as a lab computes it.

``add_noise``: photon shot noise (a Poisson count per frame with the expected photons as
its mean) plus Gaussian camera read noise, from an explicit numpy Generator, so the
deterministic model (:mod:`.forward`) stays separate and differentiable.

``delta_f_over_f``: ``(F - F0) / F0`` with ``F0`` a running low percentile of the measured
trace (the usual baseline of calcium imaging pipelines, e.g. Chen et al. 2013 and
Suite2p), which also follows slow photobleaching.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import percentile_filter

from ..._errors import NeurophantomError


def add_noise(expected_photons: np.ndarray, rng: np.random.Generator, *, read_noise_e: float) -> np.ndarray:
    """Measured photo-electrons per frame: ``Poisson(expected) + Normal(0, read_noise_e)``."""
    lam = np.asarray(expected_photons, dtype=np.float64)
    if not np.all(np.isfinite(lam)) or np.any(lam < 0):
        raise NeurophantomError("expected photon counts must be finite and >= 0")
    if read_noise_e < 0:
        raise NeurophantomError(f"read_noise_e must be >= 0, got {read_noise_e}")
    counts = rng.poisson(lam).astype(np.float64)
    if read_noise_e > 0:
        counts += rng.normal(0.0, read_noise_e, size=lam.shape)
    return counts


def delta_f_over_f(f: np.ndarray, *, percentile: float, window_frames: int) -> np.ndarray:
    """dF/F of traces ``f`` (frames, N) against a running ``percentile`` baseline.

    The window (frames) is clipped to the trace length; edges repeat the nearest frame.
    """
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] == 0:
        raise NeurophantomError(f"dF/F needs traces of shape (frames, neurons), got {f.shape}")
    w = int(max(1, min(window_frames, f.shape[0])))
    f0 = percentile_filter(f, percentile=percentile, size=(w, 1), mode="nearest")
    f0 = np.maximum(f0, 1e-9)  # a dark ROI has no meaningful dF/F; avoid dividing by zero
    return (f - f0) / f0
