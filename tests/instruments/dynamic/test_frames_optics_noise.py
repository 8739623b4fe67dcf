"""Camera frames, bleaching, neuropil and shot noise against analytic forms and statistics.

Frames: frame k is the mean over its exposure ``[k P, k P + E)``. For bleaching alone,
``F0 exp(-t/tau_b)`` averages to ``F0 tau_b/E (exp(-a/tau_b) - exp(-b/tau_b))``; the model
integrates the piecewise-linear interpolant of a grid of step h exactly, whose error on a
smooth signal is at most ``h^2 max|F''| / 8``, i.e. ``F0 h^2/(8 tau_b^2)`` here.
Shot noise: Poisson counts have mean = variance = lambda; Gaussian read noise adds its
variance. The sampling error of a mean of n counts is sqrt(lambda/n), of a variance
sqrt((lambda + 2 lambda^2)/n); the tests allow 5 of those standard errors.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

from neurophantom import NeurophantomError
from neurophantom.instruments.dynamic import (
    INDICATORS,
    OpticsParams,
    Timing,
    activity_from_recording,
    add_noise,
    delta_f_over_f,
    fluorescence_from_activity,
    indicator_params,
    neuropil_weights,
)
from neurophantom.instruments.dynamic.forward import SOURCE_SPIKES, optics


def _optics(n, *, photons=1000.0, neuropil=0.0, weights=None, bleach_tau_ms=None):
    return OpticsParams(
        photons_rest=jnp.full(n, photons), neuropil_fraction=jnp.asarray(neuropil),
        neuropil_weights=jnp.asarray(np.zeros((n, n)) if weights is None else weights),
        bleach_rate_per_ms=jnp.asarray(0.0 if bleach_tau_ms is None else 1.0 / bleach_tau_ms),
    )


@pytest.mark.parametrize("t0_ms", [0.0, 500.0])
def test_bleaching_frames_match_analytic_average(fake_recording, t0_ms):
    h, T, tau_b, F0 = 1.0, 1000, 200.0, 1000.0
    period = 1000.0 / 30.0  # not a whole number of samples: windows cut grid steps
    timing = Timing(sample_dt_ms=h, frame_period_ms=period, exposure_ms=0.8 * period, n_frames=29)
    act = activity_from_recording(fake_recording(T, h))  # a resting, silent cell
    f = np.asarray(fluorescence_from_activity(act, indicator_params(INDICATORS["gcamp6f"]), _optics(1, photons=F0, bleach_tau_ms=tau_b),
                                              jnp.array([SOURCE_SPIKES]), timing=timing, t0_ms=t0_ms))[:, 0]
    a = t0_ms + timing.frame_times_ms()
    b = a + timing.exposure_ms
    ref = F0 * tau_b / timing.exposure_ms * (np.exp(-a / tau_b) - np.exp(-b / tau_b))
    np.testing.assert_allclose(f, ref, rtol=0, atol=F0 * h**2 / (8 * tau_b**2))
    assert np.all(np.diff(f) < 0)


def test_spike_frames_match_quadrature_of_the_kernel(fake_recording):
    """30 Hz frames of a one-spike response against scipy quad of the analytic kernel."""
    ind = INDICATORS["gcamp6f"]
    h, T, t_s, F0 = 1.0, 1000, 47.6, 1000.0
    timing = Timing(sample_dt_ms=h, frame_period_ms=1000 / 30, exposure_ms=1000 / 30, n_frames=30)
    act = activity_from_recording(fake_recording(T, h, spikes=[(t_s, 0)]))
    f = np.asarray(fluorescence_from_activity(act, indicator_params(ind), _optics(1, photons=F0), jnp.array([SOURCE_SPIKES]), timing=timing))[:, 0]
    td, tr, A, c0 = ind.tau_decay_ms, ind.tau_rise_ms, ind.spike_increment_uM, ind.ca_rest_uM
    R = ind.dynamic_range
    hill = lambda c: c**ind.hill / (c**ind.hill + ind.kd_uM**ind.hill)  # noqa: E731

    def F(t):
        s = t - t_s
        cb = c0 + (A * td / (td - tr) * (np.exp(-s / td) - np.exp(-s / tr)) if s > 0 else 0.0)
        return F0 * (1 + (R - 1) * hill(cb)) / (1 + (R - 1) * hill(c0))

    a = timing.frame_times_ms()
    ref = np.array([quad(F, x, x + timing.exposure_ms, points=[t_s] if x < t_s < x + timing.exposure_ms else None, epsabs=1e-10)[0]
                    for x in a]) / timing.exposure_ms
    # Linear interpolation on a 1 ms grid of a kernel whose rise is 15 ms: |F''| h^2/8 <= 2e-4 F0.
    np.testing.assert_allclose(f, ref, rtol=0, atol=2e-4 * F0)
    assert f.max() - F0 > 0.1 * F0  # the frame-averaged transient is still clearly visible


def test_neuropil_mixes_the_neighbourhood_average():
    pos = np.array([[0.0, 0, 0], [10.0, 0, 0], [0.0, 20, 0], [500.0, 0, 0]])
    w = neuropil_weights(pos, radius_um=20.0)
    np.testing.assert_allclose(w.sum(axis=1), [1, 1, 1, 0])  # the far cell has no neighbourhood
    assert np.all(np.diag(w) == 0)
    # Gaussian in distance: cell 0 sees cell 1 (10 um) and cell 2 (20 um) in ratio exp(300/800).
    assert w[0, 1] / w[0, 2] == pytest.approx(np.exp((20**2 - 10**2) / (2 * 20.0**2)))
    bright = jnp.asarray(np.array([[1.0, 1.0, 1.0, 1.0], [1.0, 3.0, 1.0, 1.0]]))  # cell 1 lights up
    o = _optics(4, photons=100.0, neuropil=0.3, weights=w)
    roi = np.asarray(optics(bright, o, sample_dt_ms=1.0))
    cell = np.asarray(bright) * 100.0
    np.testing.assert_allclose(roi, cell + 0.3 * cell @ w.T, rtol=1e-14)
    # The silent cell 0 picks up 0.3 x its weight on cell 1 x cell 1's change (200 photons).
    assert roi[1, 0] - roi[0, 0] == pytest.approx(0.3 * w[0, 1] * 200.0)
    assert roi[1, 3] == roi[0, 3] == 100.0


@pytest.mark.parametrize("read_noise_e", [0.0, 3.0])
def test_shot_noise_statistics_on_a_constant_signal(read_noise_e):
    lam, n = 400.0, 200_000
    x = add_noise(np.full((2000, 100), lam), np.random.default_rng(11), read_noise_e=read_noise_e)
    assert abs(x.mean() - lam) < 5 * np.sqrt((lam + read_noise_e**2) / n)
    var_ref = lam + read_noise_e**2
    assert abs(x.var() - var_ref) < 5 * np.sqrt((var_ref + 2 * var_ref**2) / n)
    if read_noise_e == 0:
        assert np.all(x == np.round(x))  # photon counts are whole numbers


def test_noise_is_seeded_and_rejects_bad_means():
    lam = np.full((50, 3), 20.0)
    a = add_noise(lam, np.random.default_rng(1), read_noise_e=1.0)
    b = add_noise(lam, np.random.default_rng(1), read_noise_e=1.0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, add_noise(lam, np.random.default_rng(2), read_noise_e=1.0))
    with pytest.raises(NeurophantomError, match="finite and >= 0"):
        add_noise(-lam, np.random.default_rng(1), read_noise_e=0.0)


def test_dff_baseline_on_a_bleaching_trace():
    """A running p-th percentile over a window W of ``exp(-t/tau)`` is the value (0.5 - p/100) W
    later, so dF/F away from transients is exp((0.5 - p/100) W/tau) - 1, and a transient
    of x1.5 reads as 1.5 x that factor - 1."""
    t = np.arange(3000) / 30.0  # s, 30 Hz
    f = 1000 * np.exp(-t / 60.0)
    f[1500:1510] *= 1.5
    dff = delta_f_over_f(f[:, None], percentile=10, window_frames=300)[:, 0]
    bias = np.exp(0.4 * 10.0 / 60.0)
    quiet = np.r_[300:1300, 1700:2700]  # away from the edges and from the transient's window
    np.testing.assert_allclose(dff[quiet], bias - 1, atol=2e-3)
    np.testing.assert_allclose(dff[1500:1510], 1.5 * bias - 1, atol=5e-3)
