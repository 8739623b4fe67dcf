"""Which map parameters the data pin down, with intervals that survive model error.

At the fit's optimum, with stacked residuals ``r`` (z-scores against the instrument's shot
noise; their squared sum is the loss) and Jacobian ``J = dr/du`` (central differences at
the fit's smoothing scale), the Gauss-Newton matrix ``H = J^T J`` (plus the prior's
precision) gives the stiff and sloppy directions (Gutenkunst et al. 2007).

Intervals are *cluster-robust sandwich* intervals (Huber 1967; White 1982; Liang & Zeger
1986): ``cov = H^-1 M H^-1`` with ``M = sum_c g_c g_c^T``, ``g_c = J_c^T r_c`` the gradient
contribution of cluster ``c``, one cluster per (trial, neuron) residual trace. Unlike the
textbook ``s^2 H^-1`` they need neither independent residuals (consecutive frames are
correlated by the indicator, the smoothing and the misfit) nor a correct model (a
misspecified model's residuals are systematic, and inflate ``M``). They are floored at
the precision the instrument's own noise allows (``s^2 = 1``), so a fit to noise-free
data is never credited with infinite precision.

A parameter is reported *identifiable* only if it is free, not in the (near) null space
of ``H``, its 95% interval is narrower than a factor ``1 +/- max_relative`` (reversal
potentials: ``max_mV``), **and** the model explains the data: the reduced chi-square
(mean squared z-score) is at most ``max_chi2``. Otherwise the reason says why; a model
whose residuals are far above the noise is reported as misspecified, never as a set of
confident numbers. The lag-one autocorrelation of the residual traces and the effective
number of independent residuals (``n (1 - rho) / (1 + rho)``) are reported beside it.

References
----------
Huber PJ (1967) The behavior of maximum likelihood estimates under nonstandard conditions.
Proc Fifth Berkeley Symp 1:221-233.
White H (1982) Maximum likelihood estimation of misspecified models. Econometrica 50:1-25.
Liang KY, Zeger SL (1986) Longitudinal data analysis using generalized linear models.
Biometrika 73:13-22.
Gutenkunst RN et al. (2007) Universally sloppy parameter sensitivities in systems biology
models. PLoS Comput Biol 3:e189.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from scipy.stats import norm

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
    residual_sd: float  # sqrt of the reduced chi-square (residual per neuron-frame in noise units)
    reduced_chi_square: float = float("nan")
    residual_autocorrelation: float = float("nan")
    effective_residuals: float = float("nan")
    misspecified: bool = False

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
            "interval": "cluster-robust sandwich (clusters: trial x neuron), floored at the shot-noise precision",
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


def robust_covariance(J: np.ndarray, r: np.ndarray, clusters: np.ndarray, H: np.ndarray, keep: np.ndarray,
                      evals: np.ndarray, evecs: np.ndarray, noise_var: float) -> np.ndarray:
    """Sandwich covariance ``H^+ M H^+`` (clusters of residuals) floored at ``noise_var H^+``."""
    Hinv = (evecs[:, keep] / evals[keep]) @ evecs[:, keep].T
    G = np.zeros((int(clusters.max()) + 1 if clusters.size else 0, J.shape[1]))
    np.add.at(G, clusters, J * r[:, None])
    n_c = int(np.count_nonzero(np.abs(G).sum(axis=1)))
    M = G.T @ G * (n_c / max(n_c - 1, 1))
    sandwich = Hinv @ M @ Hinv
    floor = noise_var * Hinv
    return np.where(np.diag(sandwich)[:, None] >= np.diag(floor)[:, None], sandwich, floor)


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
    max_chi2: float = 2.0,
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
    # Residuals are z-scores over sqrt(m) (m terms), so a residual of one noise sd per
    # neuron-frame is a per-element variance of 1/m.
    m = int(np.count_nonzero(r)) or r.size
    chi2 = float(r @ r) * m / max(m - idx.size, 1)
    rho = _autocorrelation(r, clusters)
    n_eff = m * (1 - rho) / (1 + rho) if rho < 1 else 1.0
    misspecified = chi2 > max_chi2
    top = evals[0] if evals.size and evals[0] > 0 else 1.0
    null = evals < rel_eig * top
    cov = robust_covariance(J, r, clusters, H, ~null, evals, evecs, 1.0 / m)
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
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
            ok, why = False, f"model misspecified: reduced chi-square {chi2:.2f} > {max_chi2:g}"
        else:
            ok, why = True, "constrained by the data"
        reports.append(ParameterReport(name, v, float(ci[95][0]), float(ci[95][1]), ok, why, float(ci[90][0]), float(ci[90][1])))
    return IdentifiabilityReport(evals, tuple(reports), float(np.sqrt(chi2)), chi2, rho, float(n_eff), misspecified)


def prior_precision(prior) -> np.ndarray:
    """``H``'s prior term for a :class:`~neurophantom.identify.fit.Prior`."""
    Jp = prior.jacobian()
    return Jp.T @ Jp

