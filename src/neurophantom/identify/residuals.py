"""Is something missing from the emulation? A residual test against the emulation's own noise.

A complete emulation, run again with fresh noise, differs from the recording only as two
of its own runs differ from each other. :func:`residual_test` asks whether the
recording's residual carries more structure than that, of three kinds a missing process
leaves:

- ``slow``: variance of the population-mean residual after a moving average over
  ``slow_window_bins`` bins (each neuron's mean residual removed first): a modulator or
  glial signal with a time constant of seconds;
- ``spatial``: Moran's I (Moran 1950) of the per-neuron mean residual with weights
  ``exp(-distance / length_um)`` between somata: a process local in tissue (glia);
- ``synaptic``: correlation over neurons and bins of the residual with the input the
  emulation's own synapses predict (its weight matrix times the recorded activity), both
  high-passed at ``slow_window_bins`` (a slow process moves residual and activity together
  and would otherwise project through mostly excitatory weights): a synaptic strength
  that changed (plasticity) or an unseen receptor.

Inputs are binned traces (bins x neurons): the recording, ``reference`` predictions of
the emulation (averaged, the prediction) and ``surrogate`` predictions (each standing in
for the recording in turn). Under "nothing missing" the recording and each surrogate are
exchangeable, so each statistic of the recording is a draw from the surrogates'
distribution. Each kind's p-value is the one-sided Student-t prediction-interval
probability of the recording's value among the surrogates' (``log`` of the slow
variance); the overall p-value is their Bonferroni minimum (times 3), and the likely kind
is the one with the smallest p. Only the recording and the emulation are read, never the
ground truth.

References
----------
Moran PAP (1950) Notes on continuous stochastic phenomena. Biometrika 37:17-23.
Davison AC, Hinkley DV (1997) Bootstrap Methods and their Application. Cambridge
University Press, ch. 4 (Monte Carlo tests with simulated null samples).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy import stats
from scipy.ndimage import uniform_filter1d

from .._errors import NeurophantomError

KINDS = ("slow", "spatial", "synaptic")


@dataclasses.dataclass(frozen=True)
class ResidualTest:
    """Outcome: overall ``statistic`` (largest per-kind z), ``p_value``, ``kind`` and per-kind details."""

    statistic: float
    p_value: float
    kind: str
    z: dict[str, float]
    p: dict[str, float]

    def detected(self, alpha: float = 0.05) -> bool:
        return self.p_value < alpha


def _slow(res: np.ndarray, window: int) -> float:
    m = (res - res.mean(axis=0)).mean(axis=1)
    if window > 1:
        m = np.convolve(m, np.ones(window) / window, mode="valid")
    return float(np.log(np.var(m) + 1e-30))


def _moran_weights(pos_um: np.ndarray, length_um: float) -> np.ndarray:
    d = np.linalg.norm(pos_um[:, None, :] - pos_um[None, :, :], axis=2)
    w = np.exp(-d / length_um)
    np.fill_diagonal(w, 0.0)
    return w


def _spatial(res: np.ndarray, w: np.ndarray) -> float:
    mu = res.mean(axis=0)
    z = mu - mu.mean()
    den = float(z @ z)
    return 0.0 if den == 0 else float(len(z) / w.sum() * (z @ w @ z) / den)


def _fast(x: np.ndarray, window: int) -> np.ndarray:
    """``x`` less its moving average over ``window`` bins (each neuron's mean removed too)."""
    x = x - x.mean(axis=0)
    return x - uniform_filter1d(x, size=window, axis=0, mode="nearest") if window > 1 else x


def _synaptic(res: np.ndarray, rec: np.ndarray, weights: np.ndarray, window: int = 1) -> float:
    # Both sides high-passed at the slow window: a slow process (a modulator, glia) moves
    # the residual and the activity together on seconds, which is not a synaptic error.
    act = _fast(rec, window)
    drive = act @ weights  # (bins, N): input each neuron's synapses predict
    r = _fast(res, window)
    a, b = r.ravel(), (drive - drive.mean(axis=0)).ravel()
    den = np.sqrt((a @ a) * (b @ b))
    return 0.0 if den == 0 else float(abs(a @ b) / den)


def _statistics(rec, ref, w_space, weights, window):
    res = rec - ref
    return np.array([_slow(res, window), _spatial(res, w_space), _synaptic(res, rec, weights, window)])


def residual_test(
    recorded: np.ndarray,
    reference: np.ndarray,
    surrogates: np.ndarray,
    *,
    positions_um: np.ndarray,
    weights: np.ndarray,
    slow_window_bins: int = 10,
    length_um: float = 50.0,
) -> ResidualTest:
    """Test the recording's residual against the emulation's surrogates (see module docstring).

    Parameters
    ----------
    recorded
        (bins, N) binned observable of the recording (e.g. mean membrane potential per bin).
    reference
        (R, bins, N) emulation runs with independent noise; their mean is the prediction.
    surrogates
        (K, bins, N) further emulation runs, K >= 5.
    positions_um
        (N, 3) soma positions (from the scan).
    weights
        (N, N) the emulation's synaptic weights, ``weights[j, i]`` from j onto i (signed).
    """
    rec = np.asarray(recorded, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64).mean(axis=0)
    sur = np.asarray(surrogates, dtype=np.float64)
    if rec.ndim != 2 or ref.shape != rec.shape or sur.ndim != 3 or sur.shape[1:] != rec.shape:
        raise NeurophantomError(f"residual test: recording {rec.shape}, reference and surrogates must match it")
    if sur.shape[0] < 5:
        raise NeurophantomError(f"residual test needs at least 5 surrogate runs, got {sur.shape[0]}")
    w_space = _moran_weights(np.asarray(positions_um, dtype=np.float64), length_um)
    obs = _statistics(rec, ref, w_space, weights, slow_window_bins)
    null = np.stack([_statistics(s, ref, w_space, weights, slow_window_bins) for s in sur])
    k = null.shape[0]
    sd = null.std(axis=0, ddof=1)
    z = (obs - null.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    p = stats.t.sf(z / np.sqrt(1.0 + 1.0 / k), df=k - 1)
    best = int(np.argmin(p))
    return ResidualTest(statistic=float(z.max()), p_value=float(min(1.0, len(KINDS) * p[best])), kind=KINDS[best],
                        z=dict(zip(KINDS, map(float, z))), p=dict(zip(KINDS, map(float, p))))
