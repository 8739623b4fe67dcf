"""Empirical-Bayes channel densities (reconstruct.shrinkage) on simulated counts.

Oracle: a population whose true densities are known (three cell types, 10% log-normal
spread within a type), counted as the scan counts them (Poisson draws of a few dozen
molecules per neuron and type, then labelling thinned binomially at efficiency 0.7 and
divided back). The raw estimate's error is what the counts alone give; the posterior mean
must be closer to the truth, keep each type's total, and its 90% intervals must cover the
truth near their nominal rate.
"""

from __future__ import annotations

import numpy as np
import pytest

from neurophantom.reconstruct.shrinkage import shrink_densities

EFF = 0.7


def population(seed: int, n: int = 48, per_neuron: float = 80.0):
    rng = np.random.default_rng(seed)
    types = rng.choice(3, size=n, p=[0.7, 0.15, 0.15])
    # Type means differ by up to 2x in a correlated pattern (as PV cells carry more leak
    # and potassium); within a type each neuron varies by ~10% per channel.
    means = np.log(np.array([[1.0, 1.0, 1.0, 1.0], [1.3, 2.0, 1.5, 1.0], [0.8, 0.9, 1.2, 1.6]]))
    theta = means[types] + 0.1 * rng.standard_normal((n, 4))
    area = rng.uniform(0.8, 1.2, n)
    dens_true = np.exp(theta)
    drawn = rng.poisson(per_neuron * dens_true * area[:, None])  # molecules in the phantom's sample
    seen = rng.binomial(drawn, EFF)
    dens = seen / EFF / (per_neuron * area[:, None])
    sd = np.sqrt(seen * (1 - EFF) / EFF**2 + seen / EFF) / (per_neuron * area[:, None])  # thinning + sampling
    return dens_true, dens, sd, area


def test_shrinkage_is_closer_to_the_truth_and_keeps_totals():
    raw_err, post_err = [], []
    for seed in range(8):
        truth, dens, sd, area = population(seed)
        post, post_sd = shrink_densities(dens, sd, area)
        raw_err.append(np.sqrt(np.mean(np.log(dens / truth) ** 2)))
        post_err.append(np.sqrt(np.mean(np.log(post / truth) ** 2)))
        np.testing.assert_allclose((post * area[:, None]).sum(0), (dens * area[:, None]).sum(0), rtol=1e-12)
        assert np.all(post_sd / post < sd / dens)  # the population adds information to every neuron
    # Counting noise ~0.14 in log against a within-type spread of 0.10: the posterior
    # mean removes about a quarter of the error on every draw (measured 0.14 -> 0.10).
    assert np.mean(post_err) < 0.8 * np.mean(raw_err)
    assert all(p < r for p, r in zip(post_err, raw_err))


def test_posterior_intervals_cover_the_truth():
    hits, total = 0, 0
    for seed in range(10, 20):
        truth, dens, sd, area = population(seed)
        post, post_sd = shrink_densities(dens, sd, area)
        z = np.abs(np.log(truth / post)) / (post_sd / post)
        hits += int((z < 1.645).sum())
        total += z.size
    # 10 populations x 48 neurons x 4 types; nominal 90%. The plug-in estimates of the
    # population's mean and spread make the intervals slightly narrow: at least 80%.
    assert hits / total >= 0.8


def test_without_counting_noise_nothing_moves():
    truth, _, _, area = population(3)
    post, _ = shrink_densities(truth, np.zeros_like(truth), area)
    np.testing.assert_allclose(post, truth, rtol=1e-9)


@pytest.mark.parametrize("n", [5, 9])
def test_too_few_neurons_are_returned_unchanged(n):
    _, dens, sd, area = population(4, n=n)
    post, post_sd = shrink_densities(dens, sd, area)
    np.testing.assert_array_equal(post, dens)
    np.testing.assert_array_equal(post_sd, sd)


def test_uncounted_neurons_stay_uncounted():
    _, dens, sd, area = population(5)
    dens[3, :] = np.nan
    sd[3, :] = np.nan
    dens[7, 1] = 0.0
    post, _ = shrink_densities(dens, sd, area)
    assert np.isnan(post[3]).all()
    np.testing.assert_array_equal(post[7], dens[7])
    assert not np.allclose(post[10], dens[10])


def test_a_population_without_spread_still_has_an_uncertain_mean():
    """Every neuron counted alike: the population shows no spread beyond counting, every
    estimate is the population mean, and its sd is exactly that of a mean of n counts
    (the counting sd / sqrt(n)), not zero."""
    n = 40
    dens = np.tile([1.2, 0.8], (n, 1))
    sd = np.tile([0.12, 0.10], (n, 1))
    post, post_sd = shrink_densities(dens, sd, np.ones(n))
    np.testing.assert_allclose(post, dens, rtol=1e-12)
    np.testing.assert_allclose(post_sd / post, (sd / dens) / np.sqrt(n), rtol=1e-9)
