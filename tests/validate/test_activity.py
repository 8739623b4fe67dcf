"""Trace and spike metrics against independent references: scipy's Pearson r, exact
values of explained variance for constructed predictions, a brute-force coincidence
count, and the Poisson expectation of the coincidence factor Gamma."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from neurophantom import NeurophantomError
from neurophantom.validate.activity import (coincidence_factor, compare_traces, count_coincidences, explained_variance,
                                            median_score, spike_coincidence, trace_correlation)


@pytest.fixture(scope="module")
def traces():
    rng = np.random.default_rng(11)
    rec = rng.normal(size=(3, 200, 6)).cumsum(axis=1)  # 3 trials of random walks
    pred = rec.mean(axis=0) + rng.normal(scale=2.0, size=(200, 6))
    return pred, rec


def test_correlation_matches_scipy_on_trial_means(traces):
    pred, rec = traces
    got = trace_correlation(pred, rec)
    want = [stats.pearsonr(pred[:, j], rec.mean(axis=0)[:, j]).statistic for j in range(6)]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # Trials on both sides: each is averaged first.
    np.testing.assert_allclose(trace_correlation(np.stack([pred, pred]), rec), got, atol=1e-12)


def test_explained_variance_exact_values(traces):
    _, rec = traces
    r = rec.mean(axis=0)
    m = r.mean(axis=0, keepdims=True)
    np.testing.assert_allclose(explained_variance(r, rec), 1.0, atol=1e-12)
    np.testing.assert_allclose(explained_variance(np.broadcast_to(m, r.shape), r), 0.0, atol=1e-12)
    # Mirror image about the mean: SSE = 4 SST, so 1 - 4 = -3 (negative scores are kept).
    np.testing.assert_allclose(explained_variance(2 * m - r, r), -3.0, atol=1e-12)
    # A scaled prediction: SSE = (1 - a)^2 SST (centred), so EV = 1 - (1 - a)^2.
    a = 0.5
    np.testing.assert_allclose(explained_variance(m + a * (r - m), r), 1 - (1 - a) ** 2, atol=1e-12)
    # Correlation ignores the gain and offset that explained variance penalises.
    np.testing.assert_allclose(trace_correlation(3 * r + 7, r), 1.0, atol=1e-12)
    assert np.all(explained_variance(3 * r + 7, r) < 0)


def test_constant_and_nonfinite_traces_are_undefined_and_left_out_of_medians():
    t = np.linspace(0, 1, 50)
    rec = np.stack([np.sin(6 * t), np.full(50, 0.1), np.cos(6 * t), np.sin(3 * t)], axis=1)
    pred = rec.copy()
    pred[:, 2] = 5.0  # constant prediction: r undefined, EV defined (<= 0)
    pred[7, 3] = np.nan
    s = compare_traces(pred, rec, neuron_ids=[10, 11, 12, 13])
    assert np.isnan(s.correlation[1:]).all() and s.correlation[0] == pytest.approx(1.0)
    assert np.isnan(s.explained_variance[[1, 3]]).all() and s.explained_variance[2] < 0
    assert s.median_correlation == pytest.approx(1.0) and s.n_undefined == 3
    assert s.to_dict()["n_undefined"] == 3
    assert np.isnan(median_score([np.nan, np.nan]))
    assert median_score([1.0, np.nan, 3.0, 2.0]) == 2.0


@pytest.mark.parametrize("bad", [np.zeros(5), np.zeros((2, 2, 2, 2))])
def test_bad_shapes_raise(bad):
    with pytest.raises(NeurophantomError, match="shape"):
        trace_correlation(bad, bad)
    with pytest.raises(NeurophantomError, match="after averaging"):
        trace_correlation(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(NeurophantomError, match="neuron_ids"):
        compare_traces(np.ones((5, 2)), np.ones((5, 2)), neuron_ids=[1])


def _brute_coincidences(pred, rec, delta):
    return sum(any(abs(p - r) <= delta for p in pred) for r in rec)


def _brute_gamma(pred, rec, duration, delta):
    nu = len(pred) / duration
    return (_brute_coincidences(pred, rec, delta) - 2 * nu * delta * len(rec)) / (0.5 * (len(rec) + len(pred)) * (1 - 2 * nu * delta))


def test_coincidences_and_gamma_match_brute_force():
    rng = np.random.default_rng(5)
    for _ in range(30):
        n_p, n_r = rng.integers(0, 60, size=2)
        pred, rec = rng.uniform(0, 1000, n_p), rng.uniform(0, 1000, n_r)
        k = min(n_r // 3, n_p)
        rec[:k] = pred[:k] + rng.uniform(-3, 3, size=k)  # some near-coincidences
        assert count_coincidences(pred, rec, 2.0) == _brute_coincidences(pred, rec, 2.0)
        if n_p + n_r:
            assert coincidence_factor(pred, rec, duration_ms=1000.0) == pytest.approx(_brute_gamma(pred, rec, 1000.0, 2.0), abs=1e-12)


def test_gamma_is_one_for_identical_trains_and_respects_the_window():
    train = np.array([10.0, 50.0, 90.0, 400.0])
    assert coincidence_factor(train, train, duration_ms=500.0) == pytest.approx(1.0, abs=1e-12)
    assert count_coincidences(train + 1.9, train, 2.0) == 4 and count_coincidences(train + 2.1, train, 2.0) == 0
    assert coincidence_factor(train + 1.9, train, duration_ms=500.0, delta_ms=2.0) == pytest.approx(1.0, abs=1e-12)
    assert coincidence_factor(train + 2.1, train, duration_ms=500.0, delta_ms=2.0) < 0
    assert np.isnan(coincidence_factor([], [], duration_ms=500.0))
    assert coincidence_factor([], train, duration_ms=500.0) == 0.0
    with pytest.raises(NeurophantomError, match="delta_ms"):
        coincidence_factor(train, train, duration_ms=500.0, delta_ms=0.0)


def test_gamma_of_independent_poisson_trains_is_its_chance_expectation():
    """For independent trains with N_pred spikes uniform on [0, T], a recorded spike has a
    partner within +/-Delta with probability 1 - (1 - 2 Delta / T)^N_pred (edge effects
    are O(Delta / T)), so E[N_coinc] is known per pair: Gamma's mean must match it and be
    close to 0 (slightly negative: the linear chance term over-counts overlaps)."""
    rng = np.random.default_rng(2024)
    T, delta, rate_hz = 10_000.0, 2.0, 20.0
    gammas, expected = [], []
    for _ in range(300):
        p = np.sort(rng.uniform(0, T, rng.poisson(rate_hz * T / 1000)))
        r = np.sort(rng.uniform(0, T, rng.poisson(rate_hz * T / 1000)))
        gammas.append(coincidence_factor(p, r, duration_ms=T, delta_ms=delta))
        nu = p.size / T
        e_coinc = r.size * (1 - (1 - 2 * delta / T) ** p.size)
        expected.append((e_coinc - 2 * nu * delta * r.size) / (0.5 * (r.size + p.size) * (1 - 2 * nu * delta)))
    gammas = np.asarray(gammas)
    se = gammas.std(ddof=1) / np.sqrt(gammas.size)
    assert abs(gammas.mean() - np.mean(expected)) < 4 * se, (gammas.mean(), np.mean(expected), se)
    assert abs(gammas.mean()) < 0.02 and -0.01 < np.mean(expected) < 0


def test_spike_coincidence_per_neuron():
    rec = {1: np.array([5.0, 30.0, 60.0]), 2: np.array([10.0, 70.0]), 3: np.zeros(0)}
    pred = {1: np.array([5.5, 30.5, 60.5]), 2: np.array([40.0])}
    s = spike_coincidence(pred, rec, neuron_ids=[1, 2, 3], duration_ms=100.0)
    assert s.gamma[0] == pytest.approx(1.0)
    assert s.gamma[1] == pytest.approx(_brute_gamma([40.0], [10.0, 70.0], 100.0, 2.0))
    assert np.isnan(s.gamma[2])  # no spikes on either side
    assert s.mean_gamma == pytest.approx(np.mean(s.gamma[:2]))
    assert s.to_dict()["n_undefined"] == 1
