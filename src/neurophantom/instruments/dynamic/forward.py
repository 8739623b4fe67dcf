"""The deterministic observation model: activity -> expected photons per frame, in pure JAX.

Every function here is pure and differentiable with respect to its array inputs (activity
and parameters), so system identification can take gradients through the engine *and*
the instrument. Noise is added afterwards (:mod:`.noise`) from an explicit seed.

Calcium imaging (per neuron, on the fine grid ``t_i = i h``):

1. free calcium ``c`` (uM): ``dc/dt = (c_rest - c)/tau_d + A sum_k delta(t - t_k)`` for
   spiking neurons (Vogelstein et al. 2010; Deneux et al. 2016), ``dc/dt = (c_rest - c)/tau_d
   + J sigma((V - V_half)/k)`` (voltage-gated influx) for graded neurons, or the engine's
   own calcium pool for neurons with calcium channels;
2. indicator binding with rise time ``tau_r``: ``dc_b/dt = (c - c_b)/tau_r`` (first-order
   binding at low occupancy); for one spike this gives the difference of exponentials
   ``c_b - c_rest = A tau_d/(tau_d - tau_r) (exp(-s/tau_d) - exp(-s/tau_r))``;
3. Hill occupancy ``b = c_b^n / (c_b^n + K_d^n)`` and brightness ``1 + (R_f - 1) b``
   relative to rest (Chen et al. 2013; Wei et al. 2020);

every stage is advanced exactly between grid points (exponential integrators of the linear
ODEs; spikes enter at their exact sub-step time; voltage and engine calcium are held over
a grid step). Voltage imaging: ``F/F_ref = 1 + s (V - V_ref)/100`` through a first-order
response ``tau_v``. Then the optics: per-cell brightness ``F0_i`` (photons per frame at
rest), exponential photobleaching, neuropil contamination ``F_i + r sum_j W_ij F_j``, and
integration over each camera exposure window (exact for the piecewise-linear interpolant
of the fine grid).

References
----------
Chen T-W et al. (2013) Nature 499:295-300.
Deneux T et al. (2016) Accurate spike estimation from noisy calcium signals for ultrafast
three-dimensional imaging of large neuronal populations in vivo. Nat Commun 7:12190.
Vogelstein JT et al. (2010) Fast nonnegative deconvolution for spike train inference from
population calcium imaging. J Neurophysiol 104:3691-3704.
Wei Z et al. (2020) A comparison of neuronal population dynamics measured with calcium
imaging and electrophysiology. PLoS Comput Biol 16:e1008198.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .config import CalciumIndicator, ImagingConfig, VoltageIndicator

SOURCE_SPIKES, SOURCE_VOLTAGE, SOURCE_ENGINE = 0, 1, 2
SOURCE_NAMES = ("spikes", "voltage", "engine")


class Activity(NamedTuple):
    """Simulated activity on the fine grid (``T`` samples of ``h`` ms, ``N`` neurons).

    ``v_mV[j]`` and ``ca_uM[j]`` hold over ``[j h, (j+1) h)``. Spikes are a padded list:
    spike ``k`` of column ``spike_col[k]`` lies in bin ``spike_bin[k]`` (``T`` = padding,
    ignored), ``spike_lag_ms[k]`` before that bin's end.
    """

    v_mV: jnp.ndarray
    ca_uM: jnp.ndarray
    spike_bin: jnp.ndarray
    spike_col: jnp.ndarray
    spike_lag_ms: jnp.ndarray


class CalciumParams(NamedTuple):
    ca_rest_uM: jnp.ndarray
    spike_increment_uM: jnp.ndarray
    tau_decay_ms: jnp.ndarray
    tau_rise_ms: jnp.ndarray
    kd_uM: jnp.ndarray
    hill: jnp.ndarray
    dynamic_range: jnp.ndarray
    influx_uM_per_ms: jnp.ndarray
    influx_vhalf_mV: jnp.ndarray
    influx_slope_mV: jnp.ndarray


class VoltageParams(NamedTuple):
    sensitivity_per_100mV: jnp.ndarray
    v_ref_mV: jnp.ndarray
    tau_ms: jnp.ndarray


class OpticsParams(NamedTuple):
    """``photons_rest`` (N,), ``neuropil_fraction``, ``neuropil_weights`` (N, N) with rows
    summing to 1 (or 0 for an isolated cell), ``bleach_rate_per_ms`` (0: no bleaching)."""

    photons_rest: jnp.ndarray
    neuropil_fraction: jnp.ndarray
    neuropil_weights: jnp.ndarray
    bleach_rate_per_ms: jnp.ndarray


@dataclasses.dataclass(frozen=True)
class Timing:
    """Static time grid: fine samples, frame period, exposure and frame count."""

    sample_dt_ms: float
    frame_period_ms: float
    exposure_ms: float
    n_frames: int

    @classmethod
    def of(cls, config: ImagingConfig, duration_ms: float) -> "Timing":
        return cls(float(config.sample_dt_ms), float(config.frame_period_ms), float(config.exposure_ms), config.n_frames(duration_ms))

    def frame_times_ms(self) -> np.ndarray:
        """Start of each frame's exposure (ms from the trial start)."""
        return np.arange(self.n_frames) * self.frame_period_ms


def indicator_params(indicator: CalciumIndicator | VoltageIndicator, dtype=jnp.float64) -> CalciumParams | VoltageParams:
    """The indicator's numbers as a differentiable pytree."""
    cls = CalciumParams if isinstance(indicator, CalciumIndicator) else VoltageParams
    return cls(*(jnp.asarray(getattr(indicator, f), dtype) for f in cls._fields))


def neuropil_weights(positions_um: np.ndarray, radius_um: float) -> np.ndarray:
    """Row-normalised Gaussian neighbourhood weights (self excluded, cut at 3 radii)."""
    pos = np.asarray(positions_um, dtype=np.float64)
    d2 = ((pos[:, None, :] - pos[None, :, :]) ** 2).sum(-1)
    w = np.exp(-d2 / (2.0 * radius_um**2)) * (d2 <= (3.0 * radius_um) ** 2)
    np.fill_diagonal(w, 0.0)
    s = w.sum(axis=1, keepdims=True)
    return np.divide(w, s, out=np.zeros_like(w), where=s > 0)


def _dexp(s, tau_d, tau_r):
    """Response of the binding stage to a unit calcium jump ``s`` ms earlier:
    ``tau_d/(tau_d - tau_r) (exp(-s/tau_d) - exp(-s/tau_r))``."""
    return tau_d / (tau_d - tau_r) * (jnp.exp(-s / tau_d) - jnp.exp(-s / tau_r))


def calcium_from_activity(activity: Activity, p: CalciumParams, source: jnp.ndarray, *, sample_dt_ms: float):
    """Free calcium and indicator-equilibrated calcium (uM), each (T + 1, N) on the grid.

    ``source`` (N,) picks each neuron's calcium: 0 spikes, 1 voltage-gated influx, 2 the
    engine's ``ca``. Exact between grid points (see the module docstring).
    """
    h = sample_dt_ms
    T, N = activity.v_mV.shape
    td, tr = p.tau_decay_ms, p.tau_rise_ms
    dec, rise, g_h = jnp.exp(-h / td), jnp.exp(-h / tr), _dexp(h, td, tr)
    is_spk, is_eng = source == SOURCE_SPIKES, source == SOURCE_ENGINE
    lag, col = activity.spike_lag_ms, activity.spike_col
    keep = is_spk[jnp.clip(col, 0, N - 1)]
    amp = jnp.where(keep, p.spike_increment_uM, 0.0)
    u_in = jnp.zeros((T, N), td.dtype).at[activity.spike_bin, col].add(amp * jnp.exp(-lag / td), mode="drop")
    w_in = jnp.zeros((T, N), td.dtype).at[activity.spike_bin, col].add(amp * _dexp(lag, td, tr), mode="drop")
    gate = jax.nn.sigmoid((activity.v_mV - p.influx_vhalf_mV) / p.influx_slope_mV)
    u_inf = jnp.where(source == SOURCE_VOLTAGE, p.influx_uM_per_ms * td * gate, 0.0)  # influx steady state
    eng = activity.ca_uM - p.ca_rest_uM
    u0 = jnp.where(is_eng, eng[0], u_inf[0])

    def step(carry, x):
        u, w = carry
        ui, wi, uf, e = x
        u_new = uf + (u - uf) * dec + ui
        w_new = w * rise + uf * (1.0 - rise) + (u - uf) * g_h + wi
        w_new = jnp.where(is_eng, w * rise + e * (1.0 - rise), w_new)
        return (u_new, w_new), (u_new, w_new)

    _, (u, w) = jax.lax.scan(step, (u0, u0), (u_in, w_in, u_inf, eng))
    e_next = jnp.concatenate([eng[1:], eng[-1:]], axis=0)
    u = jnp.where(is_eng, e_next, u)
    c = p.ca_rest_uM + jnp.concatenate([u0[None], u], axis=0)
    cb = p.ca_rest_uM + jnp.concatenate([u0[None], w], axis=0)
    return c, cb


def hill_occupancy(c_uM, kd_uM, hill):
    """``c^n / (c^n + K_d^n)``, written as a sigmoid of ``n log(c/K_d)`` (stable, smooth)."""
    return jax.nn.sigmoid(hill * (jnp.log(jnp.maximum(c_uM, 1e-12)) - jnp.log(kd_uM)))


def calcium_brightness(cb_uM, p: CalciumParams):
    """Indicator brightness relative to rest: ``(1 + (R_f - 1) b(c_b)) / (1 + (R_f - 1) b(c_rest))``."""
    b = hill_occupancy(cb_uM, p.kd_uM, p.hill)
    b0 = hill_occupancy(p.ca_rest_uM, p.kd_uM, p.hill)
    return (1.0 + (p.dynamic_range - 1.0) * b) / (1.0 + (p.dynamic_range - 1.0) * b0)


def voltage_brightness(v_mV, p: VoltageParams, *, sample_dt_ms: float):
    """Voltage-indicator brightness (T + 1, N): ``1 + s (V - V_ref)/100`` (never below 0)
    through a first-order response ``tau_ms`` (exact for V held over each grid step)."""
    target = jnp.maximum(1.0 + p.sensitivity_per_100mV * (v_mV - p.v_ref_mV) / 100.0, 0.0)
    a = jnp.exp(-sample_dt_ms / p.tau_ms)

    def step(y, x):
        y = y * a + x * (1.0 - a)
        return y, y

    _, ys = jax.lax.scan(step, target[0], target)
    return jnp.concatenate([target[:1], ys], axis=0)


def optics(brightness, o: OpticsParams, *, sample_dt_ms: float, t0_ms=0.0):
    """Photon rate per ROI on the grid (photons per exposure): brightness x expression x
    bleaching, plus ``neuropil_fraction`` of the neighbourhood average."""
    n_t = brightness.shape[0]
    t = t0_ms + sample_dt_ms * jnp.arange(n_t, dtype=brightness.dtype)
    cell = brightness * o.photons_rest[None, :] * jnp.exp(-o.bleach_rate_per_ms * t)[:, None]
    return cell + o.neuropil_fraction * cell @ o.neuropil_weights.T


def frame_average(f, timing: Timing):
    """Mean of ``f`` (T + 1, N) over each exposure window ``[k P, k P + E)``.

    ``f`` is taken as piecewise linear between grid points; the window integral is exact
    for that interpolant (cumulative trapezoid plus the partial steps at both ends).
    """
    h = timing.sample_dt_ms
    n_last = f.shape[0] - 1
    cum = jnp.concatenate([jnp.zeros_like(f[:1]), jnp.cumsum(0.5 * h * (f[1:] + f[:-1]), axis=0)], axis=0)

    def integral_to(t_ms: np.ndarray):
        j = np.clip(np.floor(t_ms / h + 1e-9).astype(np.int64), 0, n_last - 1)
        s = np.clip(t_ms - j * h, 0.0, h)[:, None]
        fj, fj1 = f[j], f[j + 1]
        return cum[j] + fj * s + (fj1 - fj) * s**2 / (2.0 * h)

    a = timing.frame_times_ms()
    b = a + timing.exposure_ms
    return (integral_to(b) - integral_to(a)) / timing.exposure_ms


@functools.partial(jax.jit, static_argnames=("timing",))
def fluorescence_from_activity(
    activity: Activity,
    indicator: CalciumParams | VoltageParams,
    optics_params: OpticsParams,
    source: jnp.ndarray,
    *,
    timing: Timing,
    t0_ms=0.0,
):
    """Expected photons per frame per ROI, shape (n_frames, N): pure, jitted, differentiable.

    Parameters
    ----------
    activity
        Fine-grid activity (:func:`~neurophantom.instruments.dynamic.activity_from_recording`
        builds it from an engine Recording; a traced ``simulate_arrays`` output works too).
    indicator
        :class:`CalciumParams` or :class:`VoltageParams` (:func:`indicator_params`).
    optics_params
        Expression, neuropil and bleaching (:class:`OpticsParams`).
    source
        Calcium source per neuron (0 spikes, 1 voltage, 2 engine; ignored for voltage
        indicators).
    timing
        Static grid and camera timing (:class:`Timing`).
    t0_ms
        Time since imaging began at the trial start (bleaching accumulates over trials).
    """
    h = timing.sample_dt_ms
    if isinstance(indicator, CalciumParams):
        _, cb = calcium_from_activity(activity, indicator, source, sample_dt_ms=h)
        bright = calcium_brightness(cb, indicator)
    else:
        bright = voltage_brightness(activity.v_mV, indicator, sample_dt_ms=h)
    return frame_average(optics(bright, optics_params, sample_dt_ms=h, t0_ms=t0_ms), timing)
