"""Which map parameters the data pin down, with intervals that survive model error.

At the fit's optimum, with stacked residuals ``r`` (z-scores against the noise of the trial
mean, :mod:`.noise`; their squared sum is the loss) and Jacobian ``J = dr/du`` (central
differences at the fit's smoothing scale), the Gauss-Newton matrix ``H = J^T J`` (plus the
prior's precision) gives the stiff and sloppy directions (Gutenkunst et al. 2007).

The residuals are far from independent (consecutive frames share the indicator's kinetics,
the comparison's smoothing and the specimen's correlated noise), so neither ``s^2 H^-1``
nor a chi-square that counts every frame is honest. :mod:`.goodness` gives the exact
first-order null distribution of the loss under the noise model: the *reduced
chi-square* (observed loss over its expectation if the residuals were noise, after the
fit's own reduction), which is 1 for a correctly specified model, and the effective
number of independent residuals ``nu`` (Satterthwaite 1946), which sets how far from 1 it
may stray by chance (sd ``sqrt(2 / nu)``).

Each parameter's variance is the larger of two sandwich estimates:

- model-based, ``H^-1 B H^-1`` with ``B = sum_c J_c^T A_c J_c`` the residual covariance
  under the noise model (exact for correlated Gaussian noise to first order), inflated by
  the reduced chi-square when it exceeds 1 (quasi-likelihood dispersion; McCullagh &
  Nelder 1989);
- cluster-robust, ``H^-1 M H^-1`` with ``M = sum_c g_c g_c^T``, ``g_c = J_c^T r_c``, one
  cluster per (protocol, neuron) residual trace (Huber 1967; White 1982; Liang & Zeger
  1986), which needs neither a correct model nor a correct noise model but is noisy and
  biased low when clusters are few.

A parameter is reported *identifiable* only if it is free, not in the (near) null space
of ``H``, its 95% interval is narrower than a factor ``1 +/- max_relative`` (reversal
potentials: ``max_mV``), **and** the model explains the data: the reduced chi-square is
within what noise allows (at most ``max_chi2``, or the 99.9% quantile of ``chi2_nu / nu``
where that is larger). Otherwise the reason says why; a model whose residuals exceed the
noise is reported as misspecified, never as a set of confident numbers.

References
----------
Huber PJ (1967) The behavior of maximum likelihood estimates under nonstandard conditions.
Proc Fifth Berkeley Symp 1:221-233.
White H (1982) Maximum likelihood estimation of misspecified models. Econometrica 50:1-25.
Liang KY, Zeger SL (1986) Longitudinal data analysis using generalized linear models.
Biometrika 73:13-22.
McCullagh P, Nelder JA (1989) Generalized Linear Models, 2nd ed. Chapman & Hall, section 9.2.
Satterthwaite FE (1946) An approximate distribution of estimates of variance components.
Biometrics Bull 2:110-114.
Gutenkunst RN et al. (2007) Universally sloppy parameter sensitivities in systems biology
models. PLoS Comput Biol 3:e189.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from scipy.stats import chi2 as chi2_dist
from scipy.stats import norm

from .goodness import noise_null
from .map import GROUPS, MapNames, natural_values
from .objective import SCALE, Objective, Specimen, _trials, free_index


@dataclasses.dataclass(frozen=True)
class ParameterReport:
    name: str
    value: float
    low: float
    high: float
    identifiable: bool
    reason: str
    low90: float = float("nan")
    high90: float = float("nan")


@dataclasses.dataclass(frozen=True)
class IdentifiabilityReport:
    eigenvalues: np.ndarray  # of H in scaled units, descending
    parameters: tuple[ParameterReport, ...]
    residual_sd: float  # sqrt of the reduced chi-square (residual in units of the noise)
    reduced_chi_square: float = float("nan")
    residual_autocorrelation: float = float("nan")
    effective_residuals: float = float("nan")
    misspecified: bool = False
    chi2_threshold: float = float("nan")  # reduced chi-square above which the model is called misspecified

    @property
    def unidentifiable(self) -> list[str]:
        """Learnable parameters the data do not pin down (fixed ones are listed as fixed)."""
        return [p.name for p in self.parameters if not p.identifiable and p.reason != "fixed"]

    def to_dict(self) -> dict:
        return {
            "eigenvalues": [float(x) for x in self.eigenvalues],
            "residual_sd": self.residual_sd,
            "reduced_chi_square": self.reduced_chi_square,
            "residual_autocorrelation": self.residual_autocorrelation,
            "effective_residuals": self.effective_residuals,
            "misspecified": self.misspecified,
            "chi2_threshold": self.chi2_threshold,
            "interval": "larger of the noise-model sandwich (correlated shot + trial-to-trial noise, dispersion-inflated) "
                        "and the cluster-robust sandwich (clusters: protocol x neuron)",
            "parameters": {
                p.name: {"value": p.value, "ci95": [p.low, p.high], "ci90": [p.low90, p.high90],
                         "identifiable": p.identifiable, "reason": p.reason}
                for p in self.parameters
            },
            "unidentifiable": self.unidentifiable,
        }


def _group_of(k: int, theta) -> str:
    acc = 0
    for g in GROUPS:
        acc += int(np.size(theta[g]))
        if k < acc:
            return g
    raise IndexError(k)


def _autocorrelation(r: np.ndarray, clusters: np.ndarray) -> float:
    """Lag-one autocorrelation of residuals within each cluster (consecutive entries of a
    cluster are consecutive frames)."""
    order = np.argsort(clusters, kind="stable")
    rs, cs = r[order], clusters[order]
    same = cs[1:] == cs[:-1]
    den = float((rs**2).sum())
    return float((rs[1:] * rs[:-1])[same].sum() / den) if den > 0 else 0.0


def robust_covariance(J: np.ndarray, r: np.ndarray, clusters: np.ndarray, Hinv: np.ndarray) -> np.ndarray:
    """Cluster-robust sandwich ``H^+ M H^+`` (small-sample factor ``C / (C - 1)``)."""
    G = np.zeros((int(clusters.max()) + 1 if clusters.size else 0, J.shape[1]))
    np.add.at(G, clusters, J * r[:, None])
    n_c = int(np.count_nonzero(np.abs(G).sum(axis=1)))
    M = G.T @ G * (n_c / max(n_c - 1, 1))
    return Hinv @ M @ Hinv


def goodness_of_fit(r: np.ndarray, null, Hinv: np.ndarray, *, max_chi2: float, alpha: float = 1e-3) -> tuple[float, float, float]:
    """(reduced chi-square, effective residuals after the fit, threshold) from the noise
    null (:class:`~.goodness.NoiseNull`) and the fit's ``H^+``."""
    used = float(np.trace(Hinv @ null.middle))
    expected = max(null.expected - used, 1e-12)
    nu = max(null.n_eff * expected / null.expected, 1.0)
    chi2 = float(r @ r) / expected
    return chi2, nu, max(max_chi2, float(chi2_dist.ppf(1.0 - alpha, nu) / nu))


def identifiability(
    specimens: Sequence[Specimen],
    theta,
    names: MapNames,
    free: Sequence[str],
    *,
    fixed: Sequence[str] = (),
    max_relative: float = 0.25,
    max_mV: float = 5.0,
    null_fraction: float = 0.05,
    rel_eig: float = 1e-8,
    max_chi2: float = 1.2,
    jacobian_step: float = 0.03,
    prior_precision: np.ndarray | None = None,
) -> IdentifiabilityReport:
    """Identifiability of the learnable parameters of ``theta`` on the training trials.

    ``prior_precision`` (free x free, optimisation units, loss scale) is added to ``H``
    when the fit used a prior (:class:`~neurophantom.identify.fit.Prior`)."""
    import jax

    idx = free_index(theta, names, free, specimens, fixed)
    flat_names = names.flat_names()
    values = natural_values(theta, names)
    trials = _trials(specimens, "train")
    obj = Objective(theta, names, idx, jax.random.key(0))
    u = obj.u0()
    if idx.size == 0 or not trials:
        reps = [ParameterReport(n, values[n], values[n], values[n], False, "fixed") for n in flat_names]
        return IdentifiabilityReport(np.zeros(0), tuple(reps), 0.0)
    r = np.asarray(obj.residuals(u, trials), dtype=np.float64)
    J = np.asarray(obj.jacobian(u, trials, jacobian_step), dtype=np.float64)
    clusters = obj.clusters(trials)
    H = J.T @ J + (np.asarray(prior_precision) if prior_precision is not None else 0.0)
    evals, evecs = np.linalg.eigh(H)
    order = np.argsort(evals)[::-1]
    evals, evecs = evals[order], evecs[:, order]
    top = evals[0] if evals.size and evals[0] > 0 else 1.0
    null = evals < rel_eig * top
    Hinv = (evecs[:, ~null] / evals[~null]) @ evecs[:, ~null].T
    noise = noise_null(obj, u, trials, J)
    chi2, n_eff, threshold = goodness_of_fit(r, noise, Hinv, max_chi2=max_chi2)
    rho = _autocorrelation(r, clusters)
    misspecified = chi2 > threshold
    model_cov = Hinv @ noise.middle @ Hinv * max(chi2, 1.0)
    var = np.maximum(np.diag(model_cov), np.diag(robust_covariance(J, r, clusters, Hinv)))
    sd = np.sqrt(np.clip(var, 0, None))
    null_weight = (evecs[:, null] ** 2).sum(axis=1) if null.any() else np.zeros(idx.size)
    idx_pos = {int(k): j for j, k in enumerate(idx)}
    z95, z90 = norm.ppf(0.975), norm.ppf(0.95)
    reports: list[ParameterReport] = []
    for k, name in enumerate(flat_names):
        g = _group_of(k, theta)
        v = values[name]
        if k not in idx_pos:
            held = g not in free or name in fixed
            reason = "fixed" if held else "no data: the type is absent from every specimen"
            reports.append(ParameterReport(name, v, v, v, False, reason, v, v))
            continue
        j = idx_pos[k]
        ci = {}
        for z, tag in ((z95, 95), (z90, 90)):
            half = z * sd[j] * SCALE[g]
            ci[tag] = (v * np.exp(-half), v * np.exp(half)) if GROUPS[g] else (v - half, v + half)
        half95 = z95 * sd[j] * SCALE[g]
        wide = half95 > (np.log1p(max_relative) if GROUPS[g] else max_mV)
        if null_weight[j] > null_fraction:
            ok, why = False, f"lies in the null space of the Fisher matrix ({null_weight[j]:.2f} of its weight)"
        elif wide:
            ok, why = False, "95% interval too wide: the data barely constrain it"
        elif misspecified:
            ok, why = False, f"model misspecified: reduced chi-square {chi2:.2f} > {threshold:.2f}"
        else:
            ok, why = True, "constrained by the data"
        reports.append(ParameterReport(name, v, float(ci[95][0]), float(ci[95][1]), ok, why, float(ci[90][0]), float(ci[90][1])))
    return IdentifiabilityReport(evals, tuple(reports), float(np.sqrt(chi2)), chi2, rho, float(n_eff), misspecified, threshold)


def prior_precision(prior) -> np.ndarray:
    """``H``'s prior term for a :class:`~neurophantom.identify.fit.Prior`."""
    Jp = prior.jacobian()
    return Jp.T @ Jp

