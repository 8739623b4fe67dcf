"""The trial-spread noise estimator against noise of known statistics.

Oracle: synthetic recordings whose noise is known exactly: Poisson photon counts around a
fixed mean (shot noise) plus, per neuron, a stationary AR(1) excess of known variance
``s^2`` and lag-one correlation ``a`` (autocovariance ``s^2 a^k``). The estimator must
return, for the excess alone, ``s^2`` at lag zero (within 20%: with 40 trials of 200
frames the lag-zero estimate of a neuron with correlation 0.8 has about 0.1 relative
sd), the Bartlett-tapered ``s^2 a (1 - 1 / (L + 1))`` at lag one (within 25%), and nothing
for a neuron whose trials differ only by shot noise. Pooling two protocols of a specimen
must be the frame-pair-weighted mean of their raw estimates, tested before the taper with
the pooled standard error.
"""

from __future__ import annotations

import numpy as np

from neurophantom.identify.noise import (excess_autocovariance, pooled_excess, raw_autocovariance, shot_variance,
                                         smoothed_excess_variance, tapered_excess, toeplitz_stack)
from neurophantom.identify.observe import smoothing_matrix

MEAN = 1e4
SD = np.array([0.0, 60.0, 200.0])  # excess sd per neuron, photons (shot sd is 100)
AR = 0.8
LAGS = 10


def _trials(trials: int, frames: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    x = np.zeros((trials, frames, SD.size))
    x[:, 0] = rng.standard_normal((trials, SD.size)) * SD
    for f in range(1, frames):
        x[:, f] = AR * x[:, f - 1] + np.sqrt(1 - AR**2) * SD * rng.standard_normal((trials, SD.size))
    return rng.poisson(MEAN, size=x.shape) + x


def test_excess_autocovariance_recovers_a_known_ar1_excess():
    m = _trials(40, 200, 1)
    acov = excess_autocovariance(m, shot_variance(m, 0.0), LAGS)
    assert np.all(acov[0] == 0.0)  # shot noise only: no excess
    np.testing.assert_allclose(acov[1:, 0], SD[1:] ** 2, rtol=0.2)
    np.testing.assert_allclose(acov[1:, 1], SD[1:] ** 2 * AR * (1 - 1 / (LAGS + 1)), rtol=0.25)


def test_pooling_weighs_protocols_by_their_frame_pairs():
    class _Exp:  # the fields pooled_excess reads from an Experiment
        def __init__(self, measured):
            self.measured, self.read_noise_e, self.noise_lag_frames, self.smooth_frames = measured, 0.0, LAGS, 1.0

    a, b = _trials(3, 150, 2), _trials(3, 150, 3)
    pooled = pooled_excess([_Exp(a), _Exp(b)])
    ra, wa, sa = raw_autocovariance(a, shot_variance(a, 0.0), LAGS)
    rb, wb, sb = raw_autocovariance(b, shot_variance(b, 0.0), LAGS)
    assert wa == wb == 2 * 150
    expect = tapered_excess((ra + rb) / 2, np.sqrt(sa**2 + sb**2) / 2)
    np.testing.assert_allclose(pooled, expect, rtol=1e-12, atol=1e-9)


def test_smoothed_variance_is_the_diagonal_of_the_smoothed_covariance():
    acov = np.array([[4.0, 3.0, 1.0], [0.0, 0.0, 0.0]])
    S = smoothing_matrix(30, 2.0)
    direct = np.stack([np.diag(S @ C @ S.T) for C in toeplitz_stack(acov, 30)], axis=1) / 3
    np.testing.assert_allclose(smoothed_excess_variance(S, acov, 3), direct, rtol=1e-12, atol=1e-12)
