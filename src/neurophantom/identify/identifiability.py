"""Which map parameters the data pin down: Gauss-Newton (Fisher) analysis at the optimum.

With residuals ``r(u)`` whose squared sum is the loss, the Gauss-Newton matrix
``H = J^T J`` (``J = dr/du`` by central differences at the fit's smoothing scale, or
exactly by forward mode with ``jacobian_step=0``) is the Fisher information up to the
residual variance. Its eigen-spectrum shows the stiff and
sloppy directions (Gutenkunst et al. 2007); the asymptotic covariance
``s^2 H^+`` gives a per-parameter 95% interval (Bates & Watts 1988). Residuals are in units of the
instrument's shot noise, so ``s^2`` is the reduced chi-square, floored at 1: a fit to
noise-free data is credited with the precision the instrument's own noise would allow,
never with infinite precision. Consecutive
frames are correlated, so the intervals are optimistic; the verdict is what matters: a
parameter whose interval spans more than a factor ``1 +/- max_relative`` (or, for a
reversal potential, more than ``max_mV``), or that lives mostly in the null space of
``H``, is reported as unidentifiable, never as a confident number.

References
----------
Bates DM, Watts DG (1988) Nonlinear Regression Analysis and Its Applications. Wiley.
Gutenkunst RN et al. (2007) Universally sloppy parameter sensitivities in systems biology
models. PLoS Comput Biol 3:e189.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from .fit import Objective, SCALE, Specimen, _trials, free_index
from .map import GROUPS, MapNames, natural_values


@dataclasses.dataclass(frozen=True)
class ParameterReport:
    name: str
    value: float
    low: float
    high: float
    identifiable: bool
    reason: str


@dataclasses.dataclass(frozen=True)
class IdentifiabilityReport:
    eigenvalues: np.ndarray  # of the Fisher matrix J^T J / s^2 in scaled units, descending
    parameters: tuple[ParameterReport, ...]
    residual_sd: float  # per neuron-frame, in units of the shot noise (sqrt of the reduced chi-square)

    @property
    def unidentifiable(self) -> list[str]:
        return [p.name for p in self.parameters if not p.identifiable]

    def to_dict(self) -> dict:
        return {
            "eigenvalues": [float(x) for x in self.eigenvalues],
            "residual_sd": self.residual_sd,
            "parameters": {
                p.name: {"value": p.value, "ci95": [p.low, p.high], "identifiable": p.identifiable, "reason": p.reason}
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
    noise_floor: float = 1.0,
    jacobian_step: float = 0.03,
) -> IdentifiabilityReport:
    """Identifiability of the learnable parameters of ``theta`` on the training trials."""
    import jax

    idx = free_index(theta, names, free, specimens, fixed)
    flat_names = names.flat_names()
    values = natural_values(theta, names)
    trials = _trials(specimens, "train")
    obj = Objective(theta, names, idx, jax.random.key(0))
    u = obj.u0()
    reports: list[ParameterReport] = []
    if idx.size == 0 or not trials:
        return IdentifiabilityReport(np.zeros(0), tuple(), 0.0)
    r = np.asarray(obj.residuals(u, trials))
    J = np.asarray(obj.jacobian(u, trials, jacobian_step))
    H = J.T @ J
    evals, evecs = np.linalg.eigh(H)
    order = np.argsort(evals)[::-1]
    evals, evecs = evals[order], evecs[:, order]
    # Residuals are z-scores against shot noise divided by sqrt(m) (m terms), so the
    # per-element variance in these units is the reduced chi-square / m, at least 1 / m.
    m = int(np.count_nonzero(r)) or r.size
    s2 = max(float(r @ r) * m / max(m - idx.size, 1), noise_floor) / m
    top = evals[0] if evals.size and evals[0] > 0 else 1.0
    null = evals < rel_eig * top
    cov = s2 * (evecs[:, ~null] / evals[~null]) @ evecs[:, ~null].T
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    null_weight = (evecs[:, null] ** 2).sum(axis=1) if null.any() else np.zeros(idx.size)
    idx_pos = {int(k): j for j, k in enumerate(idx)}
    for k, name in enumerate(flat_names):
        g = _group_of(k, theta)
        v = values[name]
        if k not in idx_pos:
            held = g not in free or name in fixed
            reason = "fixed" if held else "no data: the type is absent from every specimen"
            reports.append(ParameterReport(name, v, v, v, held, reason))
            continue
        j = idx_pos[k]
        half = 1.96 * sd[j] * SCALE[g]
        if GROUPS[g]:
            low, high = v * np.exp(-half), v * np.exp(half)
            wide = half > np.log1p(max_relative)
        else:
            low, high = v - half, v + half
            wide = half > max_mV
        if null_weight[j] > null_fraction:
            ok, why = False, f"lies in the null space of the Fisher matrix ({null_weight[j]:.2f} of its weight)"
        elif wide:
            ok, why = False, "95% interval too wide: the data barely constrain it"
        else:
            ok, why = True, "constrained by the data"
        reports.append(ParameterReport(name, v, float(low), float(high), ok, why))
    return IdentifiabilityReport(evals / s2, tuple(reports), float(np.sqrt(s2 * m)))
