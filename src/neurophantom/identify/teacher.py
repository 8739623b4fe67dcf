"""Teacher forcing: presynaptic activity read off the recording, for fitting.

Fitting a recurrent spiking network by simulating it closed-loop compounds every error:
a neuron the model fires a few milliseconds late delays every cell it drives, and the
loss of the whole network becomes rough in every parameter (chaos). With the presynaptic
activity *imposed* from the recording, each neuron's simulated response depends only on
its own membrane, its synapses and the recorded spikes of its inputs, and the fit becomes
a set of coupled single-cell problems sharing the map's constants (teacher forcing;
Williams & Zipser 1989; for spiking circuit models, Abbott, DePasquale & Memmesheimer
2016). The emulation itself always runs closed-loop.

:func:`transmitter_from_imaging` detects spikes in the trial-mean fluorescence of every
imaged spiking neuron (a voltage indicator shows a spike as a transient of a frame or two
above the running baseline; detection is a z-score threshold against the instrument's
shot noise, at local maxima) and turns each into a transmitter pulse of the kinetic
synapse (``T = 1`` for ``pulse_ms``: a model spike's transmitter, :data:`PULSE_MS`) where the spike most likely fell in its frame. Neurons without an imaged ROI, graded
neurons and calcium recordings are not forced (NaN): their own simulated voltage drives
their synapses.

References
----------
Williams RJ, Zipser D (1989) A learning algorithm for continually running fully recurrent
neural networks. Neural Comput 1:270-280.
Abbott LF, DePasquale B, Memmesheimer RM (2016) Building functional networks of spiking
model neurons. Nat Neurosci 19:350-355.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.ndimage import median_filter

from .observe import Experiment

#: Transmitter released per spike, as ms at T = 1: the integral of the kinetic synapse's
#: ``T = sigmoid((V - 2 mV) / 5 mV)`` over a Traub-Miles spike of the library (measured on
#: the organoid's three cell types: 0.48-0.52 ms).
PULSE_MS = 0.5


def detect_spike_frames(trace: np.ndarray, noise_var: np.ndarray, *, sign: float = 1.0, threshold_z: float = 6.0,
                        baseline_frames: int = 15) -> np.ndarray:
    """Frames holding a spike: local maxima of the signed z-score against the running
    median baseline that exceed ``threshold_z`` (one frame per spike). ``sign`` is the
    sign of the indicator's response to depolarisation (negative for indicators that dim,
    such as ASAP-family sensors)."""
    f = np.asarray(trace, dtype=np.float64)
    base = median_filter(f, size=2 * baseline_frames + 1, mode="nearest")
    z = np.sign(sign) * (f - base) / np.sqrt(np.maximum(np.asarray(noise_var, dtype=np.float64), 1e-12))
    peak = np.ones_like(z, dtype=bool)
    peak[1:] &= z[1:] >= z[:-1]
    peak[:-1] &= z[:-1] > z[1:]
    return np.flatnonzero(peak & (z > threshold_z))


def transmitter_from_imaging(exp: Experiment, spiking: np.ndarray, *, pulse_ms: float = PULSE_MS, threshold_z: float = 5.0) -> np.ndarray:
    """(steps, N) transmitter levels for teacher forcing (NaN: not forced); see module doc.

    ``spiking`` (N,) marks neurons that release on spikes (the template's ``index["spiking"]``)."""
    n_steps = int(round(exp.stimulus.duration_ms / exp.dt_ms))
    n = np.shape(exp.measured)[2]
    out = np.full((n_steps, n), np.nan)
    if getattr(exp.indicator, "__class__", type(None)).__name__ != "VoltageParams":
        return out
    mean, var = exp.mean_measured, np.asarray(exp.noise_var)
    starts = exp.timing.frame_times_ms()
    width = max(int(round(pulse_ms / exp.dt_ms)), 1)
    sign = float(np.asarray(exp.indicator.sensitivity_per_100mV))
    # The frame whose exposure shows the largest response holds a spike about half an
    # exposure minus the indicator's time constant after its start (measured: -0.04 +/-
    # 0.84 ms for 2 ms frames and a 1 ms indicator on the default run's specimens).
    lag_ms = max(0.5 * exp.timing.exposure_ms - float(np.asarray(exp.indicator.tau_ms)), 0.0)
    for i in np.flatnonzero((np.asarray(exp.weights) > 0) & np.asarray(spiking, dtype=bool)):
        col = np.zeros(n_steps)
        for f in detect_spike_frames(mean[:, i], var[:, i], sign=sign, threshold_z=threshold_z):
            k = int(round((starts[f] + lag_ms) / exp.dt_ms))
            col[max(k, 0):min(k + width, n_steps)] = 1.0
        out[:, i] = col
    return out


def teacher_forced(exp: Experiment, spiking: np.ndarray, **kwargs) -> Experiment:
    """``exp`` whose simulations take presynaptic activity from its own recording."""
    return dataclasses.replace(exp, transmitter=transmitter_from_imaging(exp, spiking, **kwargs))
