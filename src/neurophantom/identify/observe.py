"""What a fit compares: a simulated specimen seen through the same instrument.

An :class:`Experiment` is one protocol applied to one specimen and the fluorescence the
microscope recorded in its trials. The prediction simulates the Model under the same
stimulus (``simulate_arrays``, traceable) and passes its voltage through the dynamic
instrument's deterministic observation model with the *nominal* optics (the per-cell
expression level is unknown to the experimenter). Because expression and background are
unknown per cell, the comparison fits each neuron's gain and offset in closed form
(least squares, gain >= 0), so the loss is invariant to what the method cannot know.
The misfit is weighed by the noise of the trial mean (:mod:`.noise`): photon counts are
Poisson, so the trial mean of ``T`` trials has shot-noise variance ``(mean + read_noise^2)
/ T`` per frame, and (``noise="trials"``, the default) the specimen's own trial-to-trial
variability beyond it, estimated from the spread of the repeated trials, is added. The
loss is the mean chi-square per imaged neuron-frame (at most about 1 when the model
explains the data down to its noise; less after smoothing and the per-cell gain and
offset, see :mod:`.identifiability` for its exact expectation), made robust to gross misfits (a mistimed spike) by a
pseudo-Huber transform of the z-scores (:func:`robust_z`). Near the optimum this is the
Gaussian approximation of the Poisson likelihood, which also makes the Fisher matrix of
:mod:`.identifiability` calibrated.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import NeurophantomError

from ..biophysics.model import Model
from ..engine import compile_drive, init_state, integrate, with_transmitter
from ..engine.drive import Drive
from ..instruments.dynamic.forward import Activity, Timing, fluorescence_from_activity
from ..types.stimulus import Noise, Stimulus
from .noise import default_max_lag, excess_autocovariance, mean_covariance, shot_variance, smoothed_excess_variance


#: Gaussian smoothing (in frames) applied to model and data before they are compared.
SMOOTH_FRAMES_DEFAULT = 2.0


@dataclasses.dataclass(frozen=True, eq=False)
class Experiment:
    """One protocol on one specimen: the stimulus, the instrument setup and the data.

    ``measured`` is (trials, frames, N) fluorescence; trials of one protocol differ only by
    their noise (the camera's and the specimen's background input), so their mean is the
    stimulus-locked response. ``noise`` chooses the noise model of that mean: ``"shot"``,
    the camera's alone (``noise_var``), or ``"trials"``, that plus the excess variability
    the trials' own spread shows (:mod:`.noise`; with one trial it is the shot noise).
    """

    stimulus: Stimulus
    measured: np.ndarray
    timing: Timing
    indicator: object  # CalciumParams | VoltageParams pytree
    optics: object  # OpticsParams pytree (nominal)
    source: np.ndarray
    dt_ms: float
    name: str = ""
    weights: np.ndarray | None = None  # (N,) 1 for neurons with an imaged ROI, 0 otherwise
    read_noise_e: float = 0.0
    noise_var: np.ndarray | None = None  # (frames, N) variance of the trial mean; default Poisson
    noise: Literal["shot", "trials"] = "trials"
    #: Lags of the excess-noise autocovariance (0: :func:`~.noise.default_max_lag`).
    noise_lag_frames: int = 0
    smooth_frames: float = SMOOTH_FRAMES_DEFAULT
    #: Per-neuron robust scale of the loss (``chi_square``'s ``neuron_scale``; 0: off).
    neuron_scale: float = 0.0
    #: Teacher forcing (``identify.teacher``): (steps, N) transmitter levels imposed on the
    #: synapses, NaN where a neuron's own voltage drives them; None: closed loop.
    transmitter: np.ndarray | None = None
    #: (N, lags + 1) autocovariance of one trial's noise beyond the shot noise; None:
    #: estimated from this experiment's trials (``noise.pool_trial_noise`` pools a specimen's).
    excess_acov: np.ndarray | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        every = self.timing.sample_dt_ms / self.dt_ms
        if abs(every - round(every)) > 1e-9 or round(every) < 1:
            raise NeurophantomError(
                f"experiment {self.name!r}: the instrument's sample interval {self.timing.sample_dt_ms} ms "
                f"is not a whole number of model steps of {self.dt_ms} ms"
            )
        steps = self.stimulus.duration_ms / self.dt_ms
        if abs(steps - round(steps)) > 1e-6 or round(steps) % round(every):
            raise NeurophantomError(f"experiment {self.name!r}: duration is not a whole number of samples")
        if np.ndim(self.measured) != 3:
            raise NeurophantomError(f"experiment {self.name!r}: measured must be (trials, frames, neurons)")
        n = np.shape(self.measured)[2]
        w = np.ones(n) if self.weights is None else np.asarray(self.weights, dtype=np.float64)
        if w.shape != (n,) or not np.all(w >= 0) or w.sum() <= 0:
            raise NeurophantomError(f"experiment {self.name!r}: weights must be (neurons,), >= 0, not all zero")
        object.__setattr__(self, "weights", w)
        trials, frames = np.shape(self.measured)[:2]
        shot = shot_variance(self.measured, self.read_noise_e)
        if self.noise_var is None:
            object.__setattr__(self, "noise_var", shot / trials)
        elif np.shape(self.noise_var) != np.shape(self.measured)[1:] or not np.all(np.asarray(self.noise_var) > 0):
            raise NeurophantomError(f"experiment {self.name!r}: noise_var must be positive, shaped (frames, neurons)")
        if self.noise not in ("shot", "trials") or self.noise_lag_frames < 0:
            raise NeurophantomError(f"experiment {self.name!r}: noise must be 'shot' or 'trials' and noise_lag_frames >= 0")
        if self.noise == "shot":
            acov = np.zeros((n, 1))
        elif self.excess_acov is None:
            acov = excess_autocovariance(self.measured, shot, self.noise_lag_frames or default_max_lag(frames, self.smooth_frames))
        else:
            acov = np.asarray(self.excess_acov, dtype=np.float64)
            if acov.ndim != 2 or acov.shape[0] != n or acov.shape[1] < 1 or not np.all(np.isfinite(acov)) or np.any(acov[:, 0] < 0):
                raise NeurophantomError(f"experiment {self.name!r}: excess_acov must be finite (neurons, lags + 1), >= 0 at lag 0")
        object.__setattr__(self, "excess_acov", acov)

    @property
    def smoothing(self) -> np.ndarray:
        return smoothing_matrix(np.shape(self.measured)[1], self.smooth_frames)

    @property
    def excess_var(self) -> np.ndarray:
        """(frames, N) excess-noise variance of the smoothed trial mean (zero: shot noise only)."""
        return smoothed_excess_variance(self.smoothing, self.excess_acov, np.shape(self.measured)[0])

    def residual_covariance(self) -> np.ndarray:
        """(N, F, F) covariance of the smoothed trial mean's noise, ``S Sigma_n S^T``."""
        S = self.smoothing
        cov = mean_covariance(self.noise_var, self.excess_acov, np.shape(self.measured)[0])
        return S[None] @ cov @ S.T[None]

    @property
    def mean_measured(self) -> np.ndarray:
        return np.asarray(self.measured).mean(axis=0)

    def drive_for(self, model: Model) -> Drive:
        """The stimulus as engine arrays for ``model``'s neuron order (with the imposed
        presynaptic transmitter when the experiment is teacher-forced).

        Background noise components are left out: their realisation differs in every trial
        and is unknown, so the model predicts the trial mean from the deterministic part of
        the stimulus, and the trials' spread (``noise="trials"``) carries the rest.
        """
        stim = Stimulus(duration_ms=self.stimulus.duration_ms,
                        components=tuple(c for c in self.stimulus.components if not isinstance(c, Noise)))
        drive = compile_drive(stim, model, dt_ms=self.dt_ms, n_steps=int(round(self.stimulus.duration_ms / self.dt_ms)))
        return drive if self.transmitter is None else with_transmitter(drive, self.transmitter)


def _activity(v: jnp.ndarray) -> Activity:
    """Voltage-only activity (calcium from voltage-gated influx needs no spike list)."""
    return Activity(
        v_mV=v,
        ca_uM=jnp.zeros_like(v),
        spike_bin=jnp.full((1,), v.shape[0], jnp.int32),
        spike_col=jnp.zeros((1,), jnp.int32),
        spike_lag_ms=jnp.zeros((1,), v.dtype),
    )


def predict_arrays(model: Model, drive: Drive, indicator, optics, source, key, *, dt_ms: float, timing: Timing) -> jnp.ndarray:
    """Expected photons per frame (frames, N) of ``model`` under a compiled drive (traceable)."""
    every = int(round(timing.sample_dt_ms / dt_ms))
    state = init_state(model, drive)
    _, out = integrate(model, drive, state, key, dt_ms=dt_ms, sample_every=every, record=("v",), spikes=False)
    return fluorescence_from_activity(_activity(out["v"]), indicator, optics, source, timing=timing)


def predict(model: Model, exp: Experiment, key: jax.Array) -> jnp.ndarray:
    """Expected photons per frame (frames, N) of ``model`` under ``exp``'s protocol."""
    return predict_arrays(
        model, exp.drive_for(model), exp.indicator, exp.optics, jnp.asarray(exp.source), key, dt_ms=exp.dt_ms, timing=exp.timing
    )


ROBUST_DELTA = 3.0


def robust_z(z: jnp.ndarray, delta: float = ROBUST_DELTA) -> jnp.ndarray:
    """``sign(z) sqrt(rho(z))`` with the pseudo-Huber ``rho(z) = 2 d^2 (sqrt(1 + (z/d)^2) - 1)``
    (Charbonnier et al. 1997): equal to ``z`` for small z-scores, growing like sqrt(|z|) for
    large ones, so that a spike the model puts a few ms off (z ~ 50 in voltage imaging)
    cannot drown the subthreshold responses that carry most of the synaptic information.
    Its square sums to the robust loss, so Gauss-Newton works on it unchanged."""
    rho = 2.0 * delta**2 * (jnp.sqrt(1.0 + (z / delta) ** 2) - 1.0)
    return jnp.sign(z) * jnp.sqrt(rho + 1e-300)


def smoothing_matrix(n_frames: int, sigma_frames: float) -> np.ndarray:
    """Row-normalised Gaussian smoothing over frames (edges renormalised)."""
    if sigma_frames <= 0:
        return np.eye(n_frames)
    t = np.arange(n_frames)
    k = np.exp(-0.5 * ((t[:, None] - t[None, :]) / sigma_frames) ** 2)
    k[np.abs(t[:, None] - t[None, :]) > 4 * sigma_frames] = 0.0
    return k / k.sum(axis=1, keepdims=True)


def chi_square(pred: jnp.ndarray, meas: jnp.ndarray, var: jnp.ndarray, roi_w: jnp.ndarray, smooth: jnp.ndarray | None = None,
               neuron_scale: float = 0.0, extra_var: jnp.ndarray | None = None) -> tuple[jnp.ndarray, jnp.ndarray]:
    """(mean robust chi-square per imaged neuron-frame, residual vector whose squared sum
    is it) after each neuron's best gain and offset.

    With ``smooth`` (a frames x frames smoothing matrix), model and data are compared after
    the same low-pass filter and the noise variance is propagated through it (diagonal
    only): a spike the model places a fraction of a millisecond off then costs in
    proportion to the shift, instead of a cliff in the loss. ``extra_var`` (frames, N) is
    variance added after the smoothing (the correlated excess noise, ``Experiment.excess_var``).
    """
    if smooth is not None:
        pred = smooth @ pred
        meas = smooth @ meas
        var = (smooth**2) @ var
    if extra_var is not None:
        var = var + extra_var
    _, fit = affine_residual(pred, meas)
    z = robust_z((meas - fit) / jnp.sqrt(var))
    if neuron_scale > 0:
        # Per-neuron robustness: a cell's mean chi-square x enters as c log(1 + x / c), so a
        # few cells the reconstruction got wrong (a missed input, a merged neighbour)
        # cannot pull the shared constants away from what the other cells agree on
        # (a Cauchy M-estimator over neurons; Huber & Ronchetti 2009).
        x = (z**2).mean(axis=0)
        w = jnp.sqrt(jnp.where(x > 1e-12, neuron_scale * jnp.log1p(x / neuron_scale) / jnp.maximum(x, 1e-12), 1.0))
        z = z * w[None, :]
    n = meas.shape[0] * roi_w.sum()
    return ((z**2).sum(axis=0) * roi_w).sum() / n, (z * jnp.sqrt(roi_w / n)).ravel()


def affine_residual(pred: jnp.ndarray, meas: jnp.ndarray, eps: float = 1e-9) -> tuple[jnp.ndarray, jnp.ndarray]:
    """Per-neuron unexplained variance fraction after the best gain (>= 0) and offset.

    Returns (fraction (N,), fitted prediction (frames, N)).
    """
    xm = pred - pred.mean(axis=0)
    ym = meas - meas.mean(axis=0)
    var_x = (xm**2).mean(axis=0)
    cov = (xm * ym).mean(axis=0)
    gain = jnp.maximum(cov, 0.0) / (var_x + eps * (1.0 + var_x))
    fit = gain * xm + meas.mean(axis=0)
    res = ((meas - fit) ** 2).mean(axis=0)
    var_y = (ym**2).mean(axis=0)
    return res / (var_y + eps), fit


def correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation per column (NaN where a column is constant)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    am, bm = a - a.mean(axis=0), b - b.mean(axis=0)
    den = np.sqrt((am**2).sum(axis=0) * (bm**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (am * bm).sum(axis=0) / den, np.nan)
