"""Activity metrics: how well predicted traces and spikes match what was recorded.

Traces
    :func:`trace_correlation` (per-neuron Pearson r) and :func:`explained_variance`
    (per-neuron ``1 - SSE/SST``, which is negative when the prediction is worse than the
    recording's own mean) compare arrays of shape ``(time, neuron)`` or
    ``(trials, time, neuron)``; trial arrays are averaged over trials first (the
    trial-averaged response is what a model driven by the same protocol should predict,
    the trial-to-trial noise is not). A score that is undefined (a constant trace, a
    non-finite sample) is NaN and :func:`median_score` leaves it out.
    :func:`compare_traces` returns both with their medians.

Spikes
    :func:`coincidence_factor` is the coincidence factor Gamma of Kistler et al. (1997) as
    used by Jolivet et al. (2008): the number of recorded spikes that have a predicted
    spike within ``+/- delta_ms``, minus the number expected by chance from a Poisson
    train at the predicted rate, normalised so that identical trains give exactly 1 and
    independent trains about 0. :func:`spike_coincidence` applies it per neuron.

References
----------
Kistler WM, Gerstner W, van Hemmen JL (1997) Reduction of the Hodgkin-Huxley equations to
a single-variable threshold model. Neural Comput 9:1015-1045.
Jolivet R, Kobayashi R, Rauch A, Naud R, Shinomoto S, Gerstner W (2008) A benchmark test
for a quantitative assessment of simple neuron models. J Neurosci Methods 169:417-424.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import numpy as np

from .._errors import NeurophantomError


def _trial_mean(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 3:
        if a.shape[0] == 0:
            raise NeurophantomError(f"{name} has no trials")
        return a.mean(axis=0)
    if a.ndim != 2:
        raise NeurophantomError(f"{name} must have shape (time, neuron) or (trials, time, neuron), got {a.shape}")
    return a


def _pair(predicted, recorded) -> tuple[np.ndarray, np.ndarray]:
    p, r = _trial_mean(predicted, "predicted"), _trial_mean(recorded, "recorded")
    if p.shape != r.shape:
        raise NeurophantomError(f"predicted (time, neuron) {p.shape} != recorded {r.shape} after averaging trials")
    if p.shape[0] < 2:
        raise NeurophantomError(f"traces need at least 2 time points, got {p.shape[0]}")
    return p, r


def _defined(*arrays: np.ndarray) -> np.ndarray:
    """Neurons whose traces are all finite and, for each array given, not constant."""
    ok = np.ones(arrays[0].shape[1], dtype=bool)
    for a in arrays:
        finite = np.isfinite(a).all(axis=0)
        ok &= finite
        # Exact test for constancy: a centred sum of squares can be a rounding residue.
        ok &= np.where(finite, np.ptp(np.where(finite, a, 0.0), axis=0) > 0, False)
    return ok


def trace_correlation(predicted, recorded) -> np.ndarray:
    """Per-neuron Pearson correlation between predicted and recorded traces.

    Parameters
    ----------
    predicted, recorded
        Arrays ``(time, neuron)`` or ``(trials, time, neuron)`` (averaged over trials
        first; the two may have different numbers of trials).

    Returns
    -------
    numpy.ndarray
        ``(neuron,)`` correlations; NaN where either trace is constant or not finite.
    """
    p, r = _pair(predicted, recorded)
    ok = _defined(p, r)
    out = np.full(p.shape[1], np.nan)
    pc = p[:, ok] - p[:, ok].mean(axis=0)
    rc = r[:, ok] - r[:, ok].mean(axis=0)
    den = np.sqrt((pc * pc).sum(axis=0) * (rc * rc).sum(axis=0))
    out[ok] = np.clip((pc * rc).sum(axis=0) / den, -1.0, 1.0)
    return out


def explained_variance(predicted, recorded) -> np.ndarray:
    """Per-neuron explained variance ``1 - SSE/SST`` of the recorded traces.

    ``SSE = sum_t (recorded - predicted)^2`` and ``SST = sum_t (recorded - mean)^2``. The
    score is 1 for a perfect prediction, 0 for predicting the recording's mean, and
    negative (unbounded) for worse predictions; unlike ``r^2`` it penalises wrong offsets
    and gains.

    Returns
    -------
    numpy.ndarray
        ``(neuron,)``; NaN where the recorded trace is constant or either is not finite.
    """
    p, r = _pair(predicted, recorded)
    ok = _defined(r) & np.isfinite(p).all(axis=0)
    out = np.full(p.shape[1], np.nan)
    rc = r[:, ok] - r[:, ok].mean(axis=0)
    sse = ((r[:, ok] - p[:, ok]) ** 2).sum(axis=0)
    out[ok] = 1.0 - sse / (rc * rc).sum(axis=0)
    return out


def median_score(values) -> float:
    """Median over neurons, leaving out NaN (undefined) scores; NaN if none is defined."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[~np.isnan(v)]
    return float(np.median(v)) if v.size else float("nan")


@dataclasses.dataclass(frozen=True)
class TraceScores:
    """Per-neuron trace scores and their medians (see :func:`compare_traces`)."""

    neuron_ids: np.ndarray
    correlation: np.ndarray
    explained_variance: np.ndarray

    @property
    def median_correlation(self) -> float:
        return median_score(self.correlation)

    @property
    def median_explained_variance(self) -> float:
        return median_score(self.explained_variance)

    @property
    def n_undefined(self) -> int:
        """Neurons whose correlation is undefined (constant or non-finite trace)."""
        return int(np.isnan(self.correlation).sum())

    def to_dict(self) -> dict:
        """Summary for a scores file (NaN medians become None)."""
        def num(x: float):
            return None if np.isnan(x) else float(x)

        return {"median_correlation": num(self.median_correlation),
                "median_explained_variance": num(self.median_explained_variance),
                "n_neurons": int(self.neuron_ids.size), "n_undefined": self.n_undefined}


def compare_traces(predicted, recorded, *, neuron_ids: Sequence[int] | None = None) -> TraceScores:
    """Correlation and explained variance of every neuron, labelled by ``neuron_ids``.

    ``neuron_ids`` default to column positions ``0..N-1``.
    """
    corr = trace_correlation(predicted, recorded)
    ev = explained_variance(predicted, recorded)
    ids = np.arange(corr.size) if neuron_ids is None else np.asarray(neuron_ids, dtype=np.int64)
    if ids.shape != corr.shape:
        raise NeurophantomError(f"{ids.size} neuron_ids for {corr.size} trace columns")
    return TraceScores(neuron_ids=ids, correlation=corr, explained_variance=ev)


def _train(times, name: str) -> np.ndarray:
    t = np.asarray(times, dtype=np.float64).ravel()
    if not np.isfinite(t).all():
        raise NeurophantomError(f"{name} spike times must be finite")
    return np.sort(t)


def count_coincidences(predicted_ms, recorded_ms, delta_ms: float) -> int:
    """Recorded spikes with at least one predicted spike within ``|t_rec - t_pred| <= delta_ms``."""
    p, r = _train(predicted_ms, "predicted"), _train(recorded_ms, "recorded")
    lo = np.searchsorted(p, r - delta_ms, side="left")
    hi = np.searchsorted(p, r + delta_ms, side="right")
    return int(np.count_nonzero(hi > lo))


def coincidence_factor(predicted_ms, recorded_ms, *, duration_ms: float, delta_ms: float = 2.0) -> float:
    """Coincidence factor Gamma of one predicted and one recorded spike train.

    .. math::

        \\Gamma = \\frac{N_{coinc} - 2 \\nu \\Delta N_{rec}}
                       {\\tfrac12 (N_{rec} + N_{pred}) (1 - 2 \\nu \\Delta)}

    with ``N_coinc`` from :func:`count_coincidences`, ``nu = N_pred / duration_ms`` the
    predicted rate and ``Delta = delta_ms`` (Kistler et al. 1997; Jolivet et al. 2008).
    ``2 nu Delta N_rec`` is the expected coincidence count of a Poisson train at the
    predicted rate, and ``1 - 2 nu Delta`` normalises Gamma to 1 for identical trains.

    Parameters
    ----------
    predicted_ms, recorded_ms
        Spike times (ms) of the model and of the data, any order.
    duration_ms
        Length of the recording (sets the predicted rate).
    delta_ms
        Coincidence window half-width (2 ms, as Jolivet et al. 2008).

    Returns
    -------
    float
        Gamma; NaN when both trains are empty or ``2 nu Delta >= 1`` (rates too high for
        the window to discriminate).
    """
    if not (np.isfinite(duration_ms) and duration_ms > 0):
        raise NeurophantomError(f"duration_ms must be > 0, got {duration_ms}")
    if not (np.isfinite(delta_ms) and delta_ms > 0):
        raise NeurophantomError(f"delta_ms must be > 0, got {delta_ms}")
    n_pred, n_rec = np.size(predicted_ms), np.size(recorded_ms)
    norm = 1.0 - 2.0 * (n_pred / duration_ms) * delta_ms
    if n_pred + n_rec == 0 or norm <= 0:
        return float("nan")
    expected = 2.0 * (n_pred / duration_ms) * delta_ms * n_rec
    n_coinc = count_coincidences(predicted_ms, recorded_ms, delta_ms)
    return float((n_coinc - expected) / (0.5 * (n_rec + n_pred) * norm))


@dataclasses.dataclass(frozen=True)
class CoincidenceScores:
    """Per-neuron Gamma (see :func:`spike_coincidence`)."""

    neuron_ids: np.ndarray
    gamma: np.ndarray
    delta_ms: float

    @property
    def mean_gamma(self) -> float:
        """Mean over neurons with a defined Gamma (NaN if none)."""
        g = self.gamma[~np.isnan(self.gamma)]
        return float(g.mean()) if g.size else float("nan")

    def to_dict(self) -> dict:
        m = self.mean_gamma
        return {"mean_gamma": None if np.isnan(m) else m, "delta_ms": self.delta_ms,
                "n_neurons": int(self.neuron_ids.size), "n_undefined": int(np.isnan(self.gamma).sum())}


def spike_coincidence(
    predicted: Mapping[int, np.ndarray],
    recorded: Mapping[int, np.ndarray],
    *,
    neuron_ids: Sequence[int],
    duration_ms: float,
    delta_ms: float = 2.0,
) -> CoincidenceScores:
    """Gamma of every neuron in ``neuron_ids``.

    Parameters
    ----------
    predicted, recorded
        Spike times (ms) per neuron id, as :meth:`Recording.spike_trains` returns them; an
        id missing from a mapping has no spikes.
    neuron_ids
        Neurons to score.
    duration_ms, delta_ms
        As :func:`coincidence_factor`.
    """
    ids = np.asarray(neuron_ids, dtype=np.int64).ravel()
    empty = np.zeros(0)
    gamma = np.array([coincidence_factor(predicted.get(int(i), empty), recorded.get(int(i), empty),
                                         duration_ms=duration_ms, delta_ms=delta_ms) for i in ids])
    return CoincidenceScores(neuron_ids=ids, gamma=gamma.reshape(ids.shape), delta_ms=float(delta_ms))
