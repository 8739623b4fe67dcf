"""Temporal-kernel agreement between predicted responses and the atlas's measured kernels.

Randi et al. (2023) describe each measured pair by a kernel ``k_ij(t)``: the responding
neuron's activity is ``k_ij`` convolved with the stimulated neuron's activity
(:meth:`~neurophantom.sources.celegans_atlas.SignalPropagation.kernel`). A predictor with
time courses (the emulation's imaged traces, or the steady-state fit's quasi-static
course, :func:`quasi_static_traces`) is scored per pair by the Pearson correlation
between its predicted time course of the responder, ``r(t)``, and the measured kernel
applied to its own predicted time course of the stimulated neuron, ``(k_ij * d)(t)``:

    kernel_correlation = corr_t( r(t), sum_{m <= n} k_ij(t_m) d(t_{n-m}) dt ).

A prediction shaped as the measured kernel says scores 1; one of opposite sign -1. A
pair is undefined (NaN) when the atlas fitted no kernel for it or either time course is
flat. The atlas summary is the median over significant held-out pairs
(:mod:`neurophantom.validate.atlas`). Anatomy baselines predict no time course: their
kernel correlation is undefined (null in JSON).

References
----------
Randi F, Sharma AK, Dvali S, Leifer AM (2023) Neural signal propagation atlas of
Caenorhabditis elegans. Nature 623:406-414.
Chen TW et al. (2013) Ultrasensitive fluorescent proteins for imaging neuronal activity.
Nature 499:295-300 (GCaMP6s kinetics).
"""

from __future__ import annotations

import numpy as np

#: GCaMP6s fluorescence kinetics (Chen et al. 2013: rise half-time ~0.18 s, decay
#: half-time ~1.8 s after a train of action potentials; time constants = half-time / ln 2)
#: and the stimulation the steady-state fit's quasi-static course assumes.
QUASI_STATIC = {"tau_rise_s": 0.26, "tau_decay_s": 2.6, "stimulus_s": 1.0, "window_s": 30.0, "dt_s": 0.1}


def convolve_causal(kernel: np.ndarray, drive: np.ndarray, dt_s: float) -> np.ndarray:
    """``(k * d)(t_n) = sum_{m <= n} k(t_m) d(t_{n-m}) dt`` on one time grid."""
    k, d = np.asarray(kernel, float), np.asarray(drive, float)
    return np.convolve(k, d)[: d.size] * float(dt_s)


def kernel_correlation(response: np.ndarray, drive: np.ndarray, kernel: np.ndarray, dt_s: float) -> float:
    """Pearson correlation of ``response(t)`` with ``(kernel * drive)(t)`` (module
    docstring); NaN when either is flat or not finite."""
    r = np.asarray(response, float)
    m = convolve_causal(kernel, drive, dt_s)
    if r.shape != m.shape or not (np.all(np.isfinite(r)) and np.all(np.isfinite(m))):
        return float("nan")
    if np.ptp(r) <= 0 or np.ptp(m) <= 0:
        return float("nan")
    return float(np.corrcoef(r, m)[0, 1])


def kernel_correlations(atlas, stimulated, holdout, time_s: np.ndarray, traces: np.ndarray) -> np.ndarray:
    """Per-pair kernel correlations, (atlas N x len(stimulated)), NaN where undefined.

    ``traces[s, t, k]`` is the predicted time course (on ``time_s``, uniform, starting
    at the stimulus onset) of atlas neuron ``k`` when ``stimulated[s]`` is stimulated;
    NaN columns for neurons the predictor lacks. Only the ``holdout`` columns are filled.
    """
    t = np.asarray(time_s, float)
    dt = float(t[1] - t[0]) if t.size > 1 else 1.0
    out = np.full((len(atlas.names), len(stimulated)), np.nan)
    col = {n: s for s, n in enumerate(stimulated)}
    for name in holdout:
        s, j = col[name], int(atlas.index([name])[0])
        drive = traces[s, :, j]
        if not np.all(np.isfinite(drive)):
            continue
        for k in range(len(atlas.names)):
            if k == j or (k, j) not in atlas.kernel_terms or not np.isfinite(atlas.dff[k, j]):
                continue
            out[k, s] = kernel_correlation(traces[s, :, k], drive, atlas.kernel(k, j, t - t[0]), dt)
    return out


def quasi_static_traces(predicted: np.ndarray, settings: dict = QUASI_STATIC):
    """Time courses of a steady-state predictor: every neuron follows its steady dF/F
    ``predicted[k, s]`` through one shared course, the GCaMP6s rise during a stimulus of
    ``stimulus_s`` and its decay after. The stimulated neuron's own course is
    ``predicted[j, s]`` times the same shape, so the kernel correlation of such a
    predictor reflects the signs it predicts and the measured kernel's shape only.

    ``predicted`` is (atlas N x S); returns ``(time_s, traces)`` with ``traces`` (S, T, N).
    """
    t = np.arange(0.0, settings["window_s"], settings["dt_s"])
    on = t < settings["stimulus_s"]
    rise = 1.0 - np.exp(-t / settings["tau_rise_s"])
    peak = 1.0 - np.exp(-settings["stimulus_s"] / settings["tau_rise_s"])
    g = np.where(on, rise, peak * np.exp(-(t - settings["stimulus_s"]) / settings["tau_decay_s"]))
    p = np.asarray(predicted, float)  # (N, S)
    return t, p.T[:, None, :] * g[None, :, None]
