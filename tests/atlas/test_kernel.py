"""Kernel correlation (validate/atlas_kernel.py) against numpy computed independently:
an explicit double-loop convolution, ``np.corrcoef`` on shifted and negated copies, and
the atlas's kernel formula ``c t^p exp(-g t)`` written out by hand."""

from __future__ import annotations

import numpy as np

from neurophantom.sources.celegans_atlas import SignalPropagation
from neurophantom.validate import atlas as va
from neurophantom.validate import atlas_kernel as ak

DT = 0.1
T = np.arange(0.0, 20.0, DT)


def _conv_loop(k, d, dt):
    """The causal convolution written as its definition (an independent oracle)."""
    return np.array([sum(k[m] * d[n - m] for m in range(n + 1)) * dt for n in range(d.size)])


def _drive():
    return np.where(T < 2.0, 1.0 - np.exp(-T / 0.3), (1.0 - np.exp(-2.0 / 0.3)) * np.exp(-(T - 2.0) / 1.5))


def test_convolution_matches_its_definition():
    k = 0.8 * T * np.exp(-0.7 * T)
    d = _drive()
    np.testing.assert_allclose(ak.convolve_causal(k, d, DT), _conv_loop(k, d, DT), rtol=1e-12, atol=1e-12)


def test_identical_negated_and_shifted():
    """Identical course: 1 (to 1e-12); negated: -1; shifted by 15 samples (zero-padded):
    np.corrcoef of the shifted copy with the unshifted one; flat prediction: undefined."""
    k = 0.8 * T * np.exp(-0.7 * T)
    d = _drive()
    m = _conv_loop(k, d, DT)
    assert abs(ak.kernel_correlation(m, d, k, DT) - 1.0) < 1e-12
    assert abs(ak.kernel_correlation(-2.0 * m, d, k, DT) + 1.0) < 1e-12
    shifted = np.concatenate([np.zeros(15), m[:-15]])
    expected = np.corrcoef(shifted, m)[0, 1]
    assert 0.0 < expected < 0.99  # the control: a shift costs correlation
    assert abs(ak.kernel_correlation(shifted, d, k, DT) - expected) < 1e-12
    assert np.isnan(ak.kernel_correlation(np.zeros_like(m), d, k, DT))


def _toy_atlas():
    """Three neurons, neuron 0 stimulated: neuron 1 has kernel 0.5 t exp(-0.4 t), neuron 2
    measured without a kernel."""
    n = 3
    dff = np.full((n, n), np.nan)
    dff[1, 0], dff[2, 0], dff[0, 0] = 0.3, -0.1, 1.0
    q = np.full((n, n), np.nan)
    q[1, 0], q[2, 0] = 0.01, 0.01
    terms = {(1, 0): np.array([[0.4, 0.5, 1.0]])}
    return SignalPropagation(strain="wt", names=("A", "B", "C"), dff=dff, q=q, n_trials=np.ones((n, n), np.int64),
                             trials={}, kernel_terms=terms, source={})


def test_pairs_use_the_atlas_kernel():
    """Responder B predicted as the hand-written kernel applied to A's course: 1; the
    same with the opposite sign: -1; C has no kernel: NaN; the driver is A's own column."""
    atlas = _toy_atlas()
    d = _drive()
    k = 0.5 * T * np.exp(-0.4 * T)
    for sign in (1.0, -1.0):
        traces = np.zeros((1, T.size, 3))
        traces[0, :, 0] = d
        traces[0, :, 1] = sign * _conv_loop(k, d, DT)
        traces[0, :, 2] = d
        kc = ak.kernel_correlations(atlas, ("A",), ("A",), T, traces)
        assert abs(kc[1, 0] - sign) < 1e-9
        assert np.isnan(kc[2, 0]) and np.isnan(kc[0, 0])


def test_quasi_static_course_reduces_to_sign():
    """A steady-state predictor's kernel correlation is the product of the responder's
    and the driver's predicted signs times corr(g, k * g) of its shared course g."""
    atlas = _toy_atlas()
    P = np.array([[2.0], [0.3], [0.1]])
    kc = va.steady_kernel_corr(atlas, ("A",), ("A",), P)
    t, tr = ak.quasi_static_traces(P)
    g = tr[0, :, 0] / 2.0
    k = 0.5 * t * np.exp(-0.4 * t)
    expected = np.corrcoef(g, _conv_loop(k, g, t[1] - t[0]))[0, 1]
    assert abs(kc[1, 0] - expected) < 1e-9
    P[1, 0] = -0.3
    assert abs(va.steady_kernel_corr(atlas, ("A",), ("A",), P)[1, 0] + expected) < 1e-9


def test_a_predictor_covering_no_pair_scores_null():
    """An emulation that matched none of the held-out pairs (all NaN) is scored undefined
    with zero pairs, not a crash; the same atlas scored by a finite predictor is defined."""
    atlas = _toy_atlas()
    empty = va.score(atlas, ("A",), ("A",), np.full((3, 1), np.nan), bootstrap=5)
    assert empty["n_pairs"] == 0 and np.isnan(empty["spearman"]) and np.isnan(empty["kernel_correlation"])
    full = va.score(atlas, ("A",), ("A",), np.array([[1.0], [0.5], [-0.2]]), bootstrap=5)
    assert full["n_pairs"] == 2 and abs(full["spearman"] - 1.0) < 1e-12  # y = (0.3, -0.1): same order
