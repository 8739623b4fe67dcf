"""What a fit compares: a simulated specimen seen through the same instrument.

An :class:`Experiment` is one protocol applied to one specimen and the fluorescence the
microscope recorded in its trials. The prediction simulates the Model under the same
stimulus (``simulate_arrays``, traceable) and passes its voltage through the dynamic
instrument's deterministic observation model with the *nominal* optics (the per-cell
expression level is unknown to the experimenter). Because expression and background are
unknown per cell, the comparison fits each neuron's gain and offset in closed form
(least squares, gain >= 0) and scores the unexplained fraction of variance: the loss is
invariant to what the method cannot know and sensitive to everything else.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import NeurophantomError

from ..biophysics.model import Model
from ..engine import compile_drive, init_state, integrate
from ..engine.drive import Drive
from ..instruments.dynamic.forward import Activity, Timing, fluorescence_from_activity
from ..types.stimulus import Stimulus


@dataclasses.dataclass(frozen=True, eq=False)
class Experiment:
    """One protocol on one specimen: the stimulus, the instrument setup and the data.

    ``measured`` is (trials, frames, N) fluorescence; trials of one protocol differ only by
    their background-noise realisation, so their mean is the stimulus-locked response.
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

    @property
    def mean_measured(self) -> np.ndarray:
        return np.asarray(self.measured).mean(axis=0)

    def drive_for(self, model: Model) -> Drive:
        """The stimulus as engine arrays for ``model``'s neuron order."""
        return compile_drive(self.stimulus, model, dt_ms=self.dt_ms, n_steps=int(round(self.stimulus.duration_ms / self.dt_ms)))


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
