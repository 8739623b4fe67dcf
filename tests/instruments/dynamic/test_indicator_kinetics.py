"""Indicator kinetics against analytic solutions and scipy's solve_ivp.

The calcium model is ``dc/dt = (c0 - c)/tau_d + A delta(t - t_s)``, ``dc_b/dt = (c - c_b)/tau_r``,
brightness ``(1 + (R - 1) h(c_b)) / (1 + (R - 1) h(c0))`` with ``h`` the Hill function. For
one spike at ``t_s`` (s = t - t_s > 0):

    c   = c0 + A exp(-s/tau_d)
    c_b = c0 + A tau_d/(tau_d - tau_r) (exp(-s/tau_d) - exp(-s/tau_r))

(difference of exponentials through the Hill function), peaking at
``t_p = tau_r tau_d/(tau_d - tau_r) ln(tau_d/tau_r)``. At low occupancy and small A the
dF/F kernel is that difference of exponentials times the Hill slope
``S = (R - 1) h'(c0) / (1 + (R - 1) h(c0))``.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from neurophantom.instruments.dynamic import (
    INDICATORS,
    activity_from_recording,
    calcium_brightness,
    calcium_from_activity,
    indicator_params,
    voltage_brightness,
)
from neurophantom.instruments.dynamic.forward import SOURCE_ENGINE, SOURCE_SPIKES, SOURCE_VOLTAGE


def hill(c, ind):
    return c**ind.hill / (c**ind.hill + ind.kd_uM**ind.hill)


def brightness(cb, ind):
    R = ind.dynamic_range
    return (1 + (R - 1) * hill(cb, ind)) / (1 + (R - 1) * hill(ind.ca_rest_uM, ind))


def analytic_spike(t, t_s, ind, A):
    s = np.clip(t - t_s, 0.0, None)
    td, tr = ind.tau_decay_ms, ind.tau_rise_ms
    on = t > t_s
    c = ind.ca_rest_uM + np.where(on, A * np.exp(-s / td), 0.0)
    cb = ind.ca_rest_uM + np.where(on, A * td / (td - tr) * (np.exp(-s / td) - np.exp(-s / tr)), 0.0)
    return c, cb


def run_spike(fake_recording, ind, t_s, T=1500, h=1.0):
    rec = fake_recording(T, h, spikes=[(t_s, 0)])
    c, cb = calcium_from_activity(activity_from_recording(rec), indicator_params(ind), jnp.array([SOURCE_SPIKES]), sample_dt_ms=h)
    return np.arange(T + 1) * h, np.asarray(c)[:, 0], np.asarray(cb)[:, 0]


@pytest.mark.parametrize("name", ["gcamp6f", "gcamp6s"])
def test_single_spike_matches_analytic_kernel(fake_recording, name):
    ind = INDICATORS[name]
    t_s = 12.3  # off the 1 ms grid: the spike enters at its exact sub-step time
    t, c, cb = run_spike(fake_recording, ind, t_s)
    c_ref, cb_ref = analytic_spike(t, t_s, ind, ind.spike_increment_uM)
    # The integrator is exact between grid points: only rounding remains.
    np.testing.assert_allclose(c, c_ref, rtol=0, atol=1e-13)
    np.testing.assert_allclose(cb, cb_ref, rtol=0, atol=1e-13)
    F = np.asarray(calcium_brightness(jnp.asarray(cb), indicator_params(ind)))
    np.testing.assert_allclose(F, brightness(cb_ref, ind), rtol=1e-12)
    # Peak time of the difference of exponentials (F is monotone in c_b), within one sample.
    td, tr = ind.tau_decay_ms, ind.tau_rise_ms
    t_peak = tr * td / (td - tr) * np.log(td / tr)
    assert abs(t[np.argmax(F)] - (t_s + t_peak)) <= 1.0
    # Calibration claim of the presets: one AP gives a peak dF/F of ~0.2 (6f) / ~0.25 (6s).
    target = {"gcamp6f": 0.20, "gcamp6s": 0.25}[name]
    assert F.max() - 1 == pytest.approx(target, abs=0.01)


def test_analytic_kernel_solves_the_ode():
    """The closed form itself, against solve_ivp of the two-stage ODE after the jump."""
    ind = INDICATORS["gcamp6f"]
    A, c0 = ind.spike_increment_uM, ind.ca_rest_uM
    td, tr = ind.tau_decay_ms, ind.tau_rise_ms
    s = np.linspace(0, 800, 401)
    sol = solve_ivp(lambda _, y: [(c0 - y[0]) / td, (y[0] - y[1]) / tr], (0, 800), [c0 + A, c0], t_eval=s, rtol=1e-11, atol=1e-14, method="DOP853")
    c_ref, cb_ref = analytic_spike(s, -1e-12, ind, A)
    np.testing.assert_allclose(sol.y[0], c_ref, atol=1e-11)
    np.testing.assert_allclose(sol.y[1], cb_ref, atol=1e-11)


def test_low_occupancy_kernel_is_a_difference_of_exponentials(fake_recording):
    """Small increments: dF/F = S x A x (difference of exponentials), error O(A)."""
    ind = INDICATORS["gcamp6f"].model_copy(update={"spike_increment_uM": 1e-5})
    t, _, cb = run_spike(fake_recording, ind, 5.0)
    dff = np.asarray(calcium_brightness(jnp.asarray(cb), indicator_params(ind))) - 1
    c0, K, n, R = ind.ca_rest_uM, ind.kd_uM, ind.hill, ind.dynamic_range
    slope = n * c0 ** (n - 1) * K**n / (c0**n + K**n) ** 2
    S = (R - 1) * slope / (1 + (R - 1) * hill(c0, ind))
    _, cb_ref = analytic_spike(t, 5.0, ind, ind.spike_increment_uM)
    lin = S * (cb_ref - c0)
    # Second-order term relative to the first: ~ |h''/h'| A/2 = (n - 1)/(2 c0) A ~ 1.3e-4 here.
    assert np.max(np.abs(dff - lin)) < 5e-4 * np.max(lin)


def test_voltage_gated_influx_matches_solve_ivp(fake_recording):
    """Graded neuron: V steps -65 -> -25 -> -65 mV; calcium and indicator against solve_ivp."""
    ind = INDICATORS["gcamp6f"]
    h, T = 1.0, 600
    t = np.arange(T) * h
    v = np.where((t >= 50) & (t < 250), -25.0, -65.0)[:, None]
    c, cb = calcium_from_activity(activity_from_recording(fake_recording(T, h, v=v)), indicator_params(ind),
                                  jnp.array([SOURCE_VOLTAGE]), sample_dt_ms=h)
    J, td, tr, c0 = ind.influx_uM_per_ms, ind.tau_decay_ms, ind.tau_rise_ms, ind.ca_rest_uM
    gate = lambda V: 1 / (1 + np.exp(-(V - ind.influx_vhalf_mV) / ind.influx_slope_mV))  # noqa: E731
    y = np.array([c0 + J * td * gate(-65.0)] * 2)
    out = [y]
    for a, b, V in ((0, 50, -65.0), (50, 250, -25.0), (250, T, -65.0)):
        ev = np.arange(a, b + 1) * h
        sol = solve_ivp(lambda _, y: [(c0 - y[0]) / td + J * gate(V), (y[0] - y[1]) / tr], (a, b), y, t_eval=ev, rtol=1e-11, atol=1e-14, method="DOP853")
        out.extend(sol.y.T[1:])
        y = sol.y[:, -1]
    ref = np.array(out)
    np.testing.assert_allclose(np.asarray(c)[:, 0], ref[:, 0], atol=1e-10)
    np.testing.assert_allclose(np.asarray(cb)[:, 0], ref[:, 1], atol=1e-10)
    assert ref[250, 1] > 2 * c0, "a 40 mV depolarisation must raise calcium well above rest"


def test_engine_calcium_is_low_passed_by_binding(fake_recording):
    """Engine source: a calcium step of 0.5 uM at t = 100 ms (held from that sample on)
    reaches the indicator as 0.5 (1 - exp(-(t - 100)/tau_r))."""
    ind = INDICATORS["gcamp6s"]
    h, T = 1.0, 400
    t = np.arange(T) * h
    ca = np.where(t >= 100, ind.ca_rest_uM + 0.5, ind.ca_rest_uM)[:, None]
    c, cb = calcium_from_activity(activity_from_recording(fake_recording(T, h, ca=ca)), indicator_params(ind),
                                  jnp.array([SOURCE_ENGINE]), sample_dt_ms=h)
    tg = np.arange(T + 1) * h
    ref = ind.ca_rest_uM + np.where(tg >= 100, 0.5 * (1 - np.exp(-(tg - 100) / ind.tau_rise_ms)), 0.0)
    np.testing.assert_allclose(np.asarray(cb)[:, 0], ref, atol=1e-13)
    np.testing.assert_allclose(np.asarray(c)[:-1, 0], ca[:, 0], atol=0)


def test_voltage_indicator_step_response():
    """ASAP-like: V steps -70 -> +30 mV at t = 20 ms; F = 1 + s (1 - exp(-(t - 20)/tau))."""
    ind = INDICATORS["voltage"]
    h, T = 0.1, 100 * 10
    t = np.arange(T) * h
    v = np.where(t >= 20 - 1e-9, 30.0, -70.0)[:, None]
    F = np.asarray(voltage_brightness(jnp.asarray(v), indicator_params(ind), sample_dt_ms=h))[:, 0]
    tg = np.arange(T + 1) * h
    ref = 1 + ind.sensitivity_per_100mV * np.where(tg > 20 + 1e-9, 1 - np.exp(-(tg - 20) / ind.tau_ms), 0.0)
    np.testing.assert_allclose(F, ref, atol=1e-12)
    assert F[-1] == pytest.approx(1 - 0.51, abs=1e-12)  # -51 % per +100 mV (Villette et al. 2019)


def test_voltage_indicator_brightness_never_negative():
    """The linear F-V map is cut at zero: light cannot be negative (a 250 mV swing would
    otherwise give 1 - 0.51 x 3.2 < 0)."""
    p = indicator_params(INDICATORS["voltage"])
    v = jnp.asarray(np.array([[-70.0], [250.0], [250.0]]))
    F = np.asarray(voltage_brightness(v, p._replace(tau_ms=jnp.asarray(1e-3)), sample_dt_ms=1.0))[:, 0]
    assert F[0] == 1.0 and F[-1] == 0.0
