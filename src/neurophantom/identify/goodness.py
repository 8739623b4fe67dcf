"""How far the fit's residuals are from noise: the exact null distribution of the loss.

The fit's residual vector ``r`` (:meth:`~.objective.Objective.residuals`) is, per imaged
neuron and protocol, the smoothed trial mean minus the model after the cell's best gain
and offset, divided by the noise sd of each smoothed frame. If the model is right, what
remains is noise, ``r_c = A_c^(1/2) xi`` with (to first order, per cluster ``c``)

    A_c = w_c D_c^-1/2 Q_c S Sigma_c S^T Q_c D_c^-1/2,

where ``Sigma_c`` is the noise covariance of the trial mean (:mod:`.noise`), ``S`` the
smoothing, ``Q_c`` the projection that removes the fitted gain and offset, ``D_c`` the
diagonal of ``S Sigma_c S^T`` and ``w_c`` the loss's weight of the cluster. The loss
``r^T r`` is then a weighted sum of chi-squares: its mean is ``sum tr A_c`` (each frame's
pseudo-Huber term integrated against its Gaussian), and Satterthwaite's (1946)
approximation ``r^T r ~ g chi2_nu`` with ``g = sum tr A_c^2 / sum tr A_c`` and ``nu =
(sum tr A_c)^2 / sum tr A_c^2`` gives the *effective number of independent residuals*
``nu``: what the lag-one correction ``n (1 - rho) / (1 + rho)`` approximates for an AR(1)
trace, here exact for the smoothing, the indicator's correlated excess noise and the
nuisance fit. Fitting ``p`` parameters removes ``tr(H^-1 B)`` of the expectation, with
``B = sum J_c^T A_c J_c`` (exact to first order), so the *reduced chi-square*

    r^T r / (sum tr A_c - tr(H^-1 B))

is 1 in expectation for a correctly specified model with honest noise, with standard
deviation about ``sqrt(2 / nu)``. ``B`` is also the middle of the model-based sandwich
covariance ``H^-1 B H^-1`` of the estimate under correlated noise.

References
----------
Satterthwaite FE (1946) An approximate distribution of estimates of variance components.
Biometrics Bull 2:110-114.
Box GEP (1954) Some theorems on quadratic forms applied in the study of analysis of
variance problems, I. Ann Math Stat 25:290-302.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .observe import ROBUST_DELTA

_HERMITE = np.polynomial.hermite.hermgauss(40)


@dataclasses.dataclass(frozen=True)
class NoiseNull:
    """Moments of the loss under the noise model at a parameter point."""

    expected: float  # E[r^T r] if the residuals were noise
    trace_sq: float  # sum tr A_c^2
    middle: np.ndarray | None  # B = sum J_c^T A_c J_c (free x free), None without J

    @property
    def scale(self) -> float:
        """Satterthwaite's ``g``: loss units per effective independent chi-square."""
        return self.trace_sq / self.expected if self.expected > 0 else 1.0

    @property
    def n_eff(self) -> float:
        """Satterthwaite's ``nu``: effective number of independent residuals."""
        return self.expected**2 / self.trace_sq if self.trace_sq > 0 else 1.0


def expected_pseudo_huber(s2: np.ndarray, delta: float = ROBUST_DELTA) -> np.ndarray:
    """``E[rho(z)]`` of the pseudo-Huber ``rho`` (:func:`~.observe.robust_z`) for ``z ~
    N(0, s2)`` (Gauss-Hermite quadrature, 40 nodes)."""
    x, w = _HERMITE
    z = np.sqrt(2.0 * np.maximum(np.asarray(s2, dtype=np.float64), 0.0))[..., None] * x
    rho = 2.0 * delta**2 * (np.sqrt(1.0 + (z / delta) ** 2) - 1.0)
    return (rho * w).sum(axis=-1) / np.sqrt(np.pi)


def _projector(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(N, F, F) ``I - U U^T``: removes each neuron's offset and, where the fitted gain is
    positive, its prediction ``x`` (the least-squares gain and offset of ``affine_residual``)."""
    F, N = x.shape
    xm, ym = x - x.mean(axis=0), y - y.mean(axis=0)
    norm = np.sqrt((xm**2).sum(axis=0))
    use = ((xm * ym).sum(axis=0) > 0) & (norm > 1e-12 * (1.0 + np.abs(x).max(axis=0)))
    u2 = np.where(use, xm / np.where(norm > 0, norm, 1.0), 0.0).T  # (N, F)
    u1 = np.full((N, F), 1.0 / np.sqrt(F))
    return np.eye(F)[None] - u1[:, :, None] * u1[:, None, :] - u2[:, :, None] * u2[:, None, :]


def cluster_noise(exp, pred: np.ndarray, n_trials: int) -> tuple[np.ndarray, np.ndarray]:
    """(A (N, F, F), active (N,)): the residual covariance of each neuron's cluster of one
    experiment under the noise model, in the loss's units (zero for unimaged neurons)."""
    S = exp.smoothing
    K = exp.residual_covariance()
    F = K.shape[1]
    Q = _projector(S @ pred, S @ exp.mean_measured)
    sd = np.sqrt(np.maximum(np.diagonal(K, axis1=1, axis2=2), 1e-300))  # (N, F)
    QKQ = Q @ K @ Q
    A = QKQ / sd[:, :, None] / sd[:, None, :]
    w = np.asarray(exp.weights, dtype=np.float64)
    A *= (w / (F * w.sum() * n_trials))[:, None, None]
    return A, w > 0


def noise_null(obj, u, trials, J: np.ndarray | None = None) -> NoiseNull:
    """:class:`NoiseNull` of ``obj``'s loss over ``trials`` at ``u`` (``J``: the residuals'
    Jacobian, rows ordered as :meth:`~.objective.Objective.residuals`, for ``B``)."""
    preds = obj.predictions(u, trials)
    t1 = t2 = 0.0
    B = None if J is None else np.zeros((J.shape[1], J.shape[1]))
    row = 0
    for (_, exp), pred in zip(trials, preds):
        A, active = cluster_noise(exp, pred, len(trials))
        N, F = A.shape[0], A.shape[1]
        w = np.asarray(exp.weights, dtype=np.float64)[:, None] / (F * float(np.sum(exp.weights)) * len(trials))
        diag = np.diagonal(A, axis1=1, axis2=2)  # (N, F)
        t1 += float((w * expected_pseudo_huber(np.where(w > 0, diag / np.where(w > 0, w, 1.0), 0.0))).sum())
        t2 += float((A**2).sum())
        if B is not None:
            Jc = J[row: row + F * N].reshape(F, N, -1).transpose(1, 0, 2)  # (N, F, p)
            B += np.einsum("nfp,nfg,ngq->pq", Jc[active], A[active], Jc[active])
        row += F * N
    return NoiseNull(t1, t2, B)
