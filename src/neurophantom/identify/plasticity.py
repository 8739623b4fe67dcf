"""Identify a pair-based STDP rule from paired recordings (the Bi & Poo 1998 protocol).

A paired recording drives a presynaptic and a postsynaptic cell to spike at a set lag,
``n`` times, and measures the test EPSP before and after. With pairs far apart the
relative change per pair is the window ``a_plus exp(-lag/tau_plus)`` (lag > 0) or
``-a_minus exp(lag/tau_minus)`` (lag < 0) (Song, Miller & Abbott 2000); a log-linear
least-squares fit of each branch gives the four parameters. Only the measured EPSP
changes are read, never the rule that made them.

References
----------
Bi GQ, Poo MM (1998) Synaptic modifications in cultured hippocampal neurons: dependence on
spike timing, synaptic strength, and postsynaptic cell type. J Neurosci 18:10464-10472.
Song S, Miller KD, Abbott LF (2000) Nat Neurosci 3:919-926.
"""

from __future__ import annotations

import numpy as np

from .._errors import NeurophantomError
from ..engine.hidden import STDP


def _branch(lag: np.ndarray, change: np.ndarray) -> tuple[float, float]:
    """Amplitude and time constant of ``change = A exp(-|lag| / tau)`` (log-linear least squares)."""
    ok = change > 0
    if ok.sum() < 2:
        raise NeurophantomError("STDP fit needs at least two lags of each sign with a measurable change")
    slope, icpt = np.polyfit(np.abs(lag[ok]), np.log(change[ok]), 1)
    if slope >= 0:
        raise NeurophantomError("STDP fit: the change does not decay with the lag")
    return float(np.exp(icpt)), float(-1.0 / slope)


def fit_stdp(lags_ms, change_per_pair, **bounds) -> STDP:
    """An STDP rule from measured relative changes per pair at each lag (``t_post - t_pre``).

    ``bounds`` (``f_max``, ``slot_capacity``, ``receptors``) are passed on: saturation is
    not seen by small-change pairing experiments.
    """
    lag = np.asarray(lags_ms, dtype=np.float64)
    dw = np.asarray(change_per_pair, dtype=np.float64)
    if lag.shape != dw.shape or lag.ndim != 1:
        raise NeurophantomError("lags_ms and change_per_pair must be 1-D of the same length")
    a_plus, tau_plus = _branch(lag[lag > 0], dw[lag > 0])
    a_minus, tau_minus = _branch(lag[lag < 0], -dw[lag < 0])
    return STDP(a_plus=a_plus, a_minus=a_minus, tau_plus_ms=tau_plus, tau_minus_ms=tau_minus, **bounds)
