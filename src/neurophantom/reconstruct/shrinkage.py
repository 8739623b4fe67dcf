"""Empirical-Bayes channel densities: each neuron's counts, read beside the population's.

A neuron's channel density from the scan is its decoded molecule count divided by its
labelling efficiency, the phantom's sampling fraction and its membrane area. With a few
dozen decoded molecules per type the relative error of that count is ~7% (binomial
labelling), as large as the true cell-to-cell variation within a cell type (~10% in the
organoid), and a spiking network's emulation is sensitive to exactly that: a neuron's
sodium-to-potassium balance sets whether and when it fires.

The estimator treats the log densities of the ``C`` channel types of neuron ``i`` as
``x_i = theta_i + e_i`` with ``theta_i ~ N(mu, Sigma)`` over neurons (the population's
spread, which includes the differences between cell types) and ``e_i ~ N(0, D_i)``, ``D_i``
the neuron's own counting variance (``(sd / density)^2`` per type, from the
reconstruction's uncertainty). ``mu`` and ``Sigma`` are estimated from the neurons
themselves (``Sigma`` = sample covariance minus the mean counting variance, clipped to
positive semi-definite), and each neuron's estimate is the posterior mean
``mu + Sigma (Sigma + D_i)^-1 (x_i - mu)`` with posterior covariance
``Sigma - Sigma (Sigma + D_i)^-1 Sigma`` plus what the estimate of ``mu`` adds through
the shrunk part (Efron & Morris 1973, the multivariate normal case; Morris 1983).
Directions in which neurons differ more than their counting noise (cell types) are kept;
the noise within them is shrunk. Each type's total over the
population is kept at the raw total (the counts are unbiased in sum; shrinkage only
redistributes them).

Written here rather than taken from scikit-learn: its covariance shrinkage
(``LedoitWolf``, ``OAS``) regularises the covariance matrix itself, not per-observation
estimates under known, unequal measurement variances.

References
----------
Efron B, Morris C (1973) Stein's estimation rule and its competitors: an empirical Bayes
approach. J Am Stat Assoc 68:117-130.
Morris CN (1983) Parametric empirical Bayes inference: theory and applications. J Am Stat
Assoc 78:47-55.
"""

from __future__ import annotations

import numpy as np


def shrink_densities(dens: np.ndarray, sd: np.ndarray, area_um2: np.ndarray, *, min_neurons: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Posterior-mean channel densities (n, C) and their posterior sd.

    Parameters
    ----------
    dens, sd : (n, C) arrays
        Raw densities per neuron and type and their counting sd (NaN: not counted).
    area_um2 : (n,) array
        Membrane areas; each type's total ``sum_i dens_i area_i`` over the shrunk neurons
        is kept.
    min_neurons : int
        Fewer neurons with every type counted (or fewer than ``2 C + 2``): the
        population's spread cannot be estimated; densities are returned unchanged.

    Neurons with a type uncounted or zero are returned unchanged (their log is undefined)
    and do not enter the population's estimate.
    """
    dens = np.asarray(dens, dtype=np.float64)
    sd = np.asarray(sd, dtype=np.float64)
    out, out_sd = dens.copy(), sd.copy()
    if dens.ndim != 2 or dens.shape[1] == 0:
        return out, out_sd
    n_types = dens.shape[1]
    ok = np.isfinite(dens).all(1) & (dens > 0).all(1) & np.isfinite(sd).all(1) & (sd >= 0).all(1)
    if ok.sum() < max(int(min_neurons), 2 * n_types + 2):
        return out, out_sd
    x = np.log(dens[ok])
    v = (sd[ok] / dens[ok]) ** 2
    mu = x.mean(axis=0)
    sigma = np.cov(x, rowvar=False, ddof=1).reshape(n_types, n_types) - np.diag(v.mean(axis=0))
    w, q = np.linalg.eigh(0.5 * (sigma + sigma.T))
    sigma = (q * np.clip(w, 0.0, None)) @ q.T
    mu_cov = (sigma + np.diag(v.mean(axis=0))) / len(x)  # the population mean is itself estimated
    xh = np.empty_like(x)
    var = np.empty_like(x)
    eye = np.eye(n_types)
    for i in range(len(x)):
        gain = sigma @ np.linalg.pinv(sigma + np.diag(v[i]))
        xh[i] = mu + gain @ (x[i] - mu)
        rest = eye - gain
        var[i] = np.clip(np.diag(sigma - gain @ sigma + rest @ mu_cov @ rest.T), 0.0, None)
    shrunk = np.exp(xh)
    a = np.asarray(area_um2, dtype=np.float64)[ok]
    keep = (dens[ok] * a[:, None]).sum(axis=0) / np.maximum((shrunk * a[:, None]).sum(axis=0), 1e-300)
    out[ok] = shrunk * keep[None, :]
    out_sd[ok] = out[ok] * np.sqrt(var)
    return out, out_sd
