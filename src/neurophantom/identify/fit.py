"""Learn the map's parameters from recorded specimens through the engine.

The loss (:mod:`.objective`) is the robust chi-square of the recorded fluorescence against
the instrument's shot noise, averaged over imaged neuron-frames and trials, plus a
log-prior that keeps each parameter near the library's value in proportion to how little
the data say about it (Gaussian in optimisation units, ``prior_sd`` per group, on the
scale of the total chi-square, so it matters only where the data are silent). The fit:

1. a global search across the loss's basins (:mod:`.search`): IPOP-CMA-ES with the whole
   population simulated in one vectorised batch (``global_search="cmaes"``), or a
   coordinate search (``"coordinate"``), or none;
2. optionally Adam (optax) on minibatches of trials with smoothed (antithetic) gradients
   (Nesterov & Spokoiny 2017), early-stopped on held-out trials;
3. a local refinement by ``scipy.optimize.least_squares`` (trust-region reflective within
   the parameter box) on the stacked residuals, with the Jacobian by central differences
   at the step ``smoothing`` (which sees through the roughness of spike timing).

Each phase keeps its result only if it lowers the loss on held-out trials of the training
specimens (``validation``), so no phase can reward overfitting.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Literal, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from pydantic import BaseModel, ConfigDict, Field

from .._errors import NeurophantomError
from .map import GROUPS, MapNames
from .objective import BOUNDS, SCALE, Objective, Specimen, _scales, _trials, absent_types, free_index  # noqa: F401
from .search import SEARCH_OFFSETS, cmaes_search, coordinate_search  # noqa: F401

#: Prior standard deviation of each group around the library's value, in optimisation
#: units (log for positive constants: 1.0 is a factor e; reversal potentials: 10 mV).
#: Receptor decay times are measured in vitro to within tens of percent (0.3 in log).
PRIOR_SD = {"log_g_receptor_pS": 1.5, "E_receptor_mV": 1.0, "log_tau_receptor_ms": 0.3, "log_g_channel_pS": 1.5,
            "log_cm_pF_per_um2": 1.0, "log_g_gap_pS": 1.5}


class FitConfig(BaseModel):
    """Options of :func:`fit_map`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    free: tuple[str, ...] = Field(
        ("log_g_receptor_pS", "log_tau_receptor_ms", "E_receptor_mV", "log_g_channel_pS", "log_cm_pF_per_um2", "log_g_gap_pS"),
        description="parameter groups to learn; the rest stay at their starting values",
    )
    fixed: tuple[str, ...] = Field((), description="flat parameter names (e.g. 'g_receptor_pS[nmda]') held at their starting values")
    global_search: Literal["none", "coordinate", "cmaes"] = "none"
    search_cycles: int = Field(2, ge=0, description="coordinate search: cycles")
    cma_sigma: float = Field(0.5, gt=0, description="CMA-ES initial step (optimisation units)")
    cma_generations: int = Field(25, ge=1, description="CMA-ES generations per restart")
    cma_popsize: int = Field(12, ge=4, description="CMA-ES population of the first run (doubles each restart)")
    cma_restarts: int = Field(1, ge=0)
    steps: int = Field(0, ge=0, description="maximum Adam steps after the search")
    learning_rate: float = Field(0.03, gt=0)
    batch_trials: int = Field(4, ge=1, description="trials per Adam minibatch")
    eval_every: int = Field(10, ge=1)
    patience: int = Field(4, ge=1, description="evaluations without improvement before Adam stops")
    refine_steps: int = Field(20, ge=0, description="least-squares refinement: Jacobian evaluations at most (0: none)")
    smoothing: float = Field(
        0.03, ge=0, description="scale (optimisation units) of the Gaussian smoothing of the loss: gradients and Jacobians"
    )
    smoothing_pairs: int = Field(2, ge=0, description="antithetic perturbation pairs per smoothed gradient (0: raw gradient)")
    prior_sd: dict[str, float] = Field(default_factory=lambda: dict(PRIOR_SD), description="prior sd per group (optimisation units)")
    teacher_forcing: bool = Field(
        False, description="fit with presynaptic spikes imposed from the recordings (identify.teacher); selection and the result are closed-loop")
    temper_prior: bool = Field(True, description="weigh the data by its effective number of independent residuals and its misfit (see Prior)")
    seed: int = Field(0, ge=0)

    def model_post_init(self, _ctx) -> None:
        unknown = (set(self.free) | set(self.prior_sd)) - set(GROUPS)
        if unknown:
            raise ValueError(f"unknown parameter groups {sorted(unknown)} (known: {', '.join(GROUPS)})")
        if any(not (v > 0) for v in self.prior_sd.values()):
            raise ValueError("prior_sd values must be > 0")


@dataclasses.dataclass(frozen=True, eq=False)
class FitResult:
    theta: dict[str, jnp.ndarray]
    free_index: np.ndarray
    history: list[dict]
    train_loss: float
    validation_loss: float
    seconds: float
    evaluations: int = 0
    prior_precision: np.ndarray | None = None  # free x free, the prior's term of the Gauss-Newton matrix


class Prior:
    """Gaussian log-prior of the free parameters around the start, in loss units.

    The loss is a chi-square per neuron-frame, so the prior's chi-square is put in loss
    units by what one independent observation weighs in the loss, and multiplied by how
    much the data's misfit exceeds the noise: ``scale = max(chi2, 1) g`` (a tempered
    likelihood; Grunwald & van Ommen 2017), with ``chi2`` the reduced chi-square and ``g``
    Satterthwaite's scale of the loss under the noise model (:mod:`.goodness`; ``1 / n``
    for ``n`` independent residuals). Consecutive frames of a smoothed residual trace are
    far from independent, and a misspecified model's residuals are not noise: counting every neuron-frame as an
    independent observation would let a few badly reconstructed cells drag a time
    constant to ten times its library value.

    References
    ----------
    Grunwald P, van Ommen T (2017) Inconsistency of Bayesian inference for misspecified
    linear models, and a proposal for repairing it. Bayesian Anal 12:1069-1103.
    """

    def __init__(self, obj: Objective, theta0, u_start, sd: Mapping[str, float], scale: float):
        groups = np.concatenate([[g] * int(np.size(theta0[g])) for g in GROUPS])[np.asarray(obj.idx)]
        self.sd = np.asarray([float(sd.get(g, PRIOR_SD[g])) for g in groups])
        self.u0 = np.asarray(u_start, dtype=np.float64)
        self.scale = float(scale)

    def __call__(self, U) -> np.ndarray:
        z = (np.atleast_2d(np.asarray(U, dtype=np.float64)) - self.u0) / self.sd
        return (z**2).sum(axis=1) * self.scale

    def residuals(self, u) -> np.ndarray:
        return (np.asarray(u, dtype=np.float64) - self.u0) / self.sd * np.sqrt(self.scale)

    def jacobian(self) -> np.ndarray:
        return np.diag(np.sqrt(self.scale) / self.sd)


def data_weight(obj: Objective, u, trials) -> dict:
    """What :class:`Prior` tempers the likelihood by, at ``u``: the reduced chi-square
    (loss over its expectation under the noise model), the residual lag-one
    autocorrelation, the residual count and the effective number of independent residuals
    ``n_eff`` with Satterthwaite's scale ``g`` (loss units per independent chi-square;
    :mod:`.goodness`). For independent residuals of equal weight ``g = 1 / n``."""
    from .goodness import noise_null
    from .identifiability import _autocorrelation

    r = np.asarray(obj.residuals(u, trials), dtype=np.float64)
    m = int(np.count_nonzero(r)) or r.size
    null = noise_null(obj, u, trials)
    rho = min(max(_autocorrelation(r, obj.clusters(trials)), 0.0), 0.999)
    return {"chi2": float(r @ r) / null.expected if null.expected > 0 else float(r @ r), "rho": rho, "n": m,
            "n_eff": max(null.n_eff, 1.0), "scale": null.scale}


def least_squares_refine(obj: Objective, u, trials, prior: Prior, bounds, *, max_jac: int, step: float):
    """``scipy.optimize.least_squares`` (trust-region reflective, bounded) on the stacked
    residuals and the prior's, Jacobian by central differences at ``step``."""
    from scipy.optimize import least_squares

    lo, hi = (np.asarray(b, dtype=np.float64) for b in bounds)

    def fun(v):
        r = np.asarray(obj.residuals(jnp.asarray(v), trials), dtype=np.float64)
        r = np.where(np.isfinite(r), r, 1e6)
        return np.concatenate([r, prior.residuals(v)])

    def jac(v):
        J = np.asarray(obj.jacobian(jnp.asarray(v), trials, step), dtype=np.float64)
        return np.vstack([np.nan_to_num(J), prior.jacobian()])

    x0 = np.clip(np.asarray(u, dtype=np.float64), lo + 1e-9, hi - 1e-9)
    res = least_squares(fun, x0, jac=jac, bounds=(lo, hi), method="trf", x_scale=1.0, max_nfev=max(max_jac, 1))
    return jnp.asarray(res.x), int(res.nfev)


def _adam(obj: Objective, u, train, val, cfg: FitConfig, prior: Prior, bounds, history, t0, progress):
    lo, hi = bounds
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(7,)))
    opt = optax.adam(cfg.learning_rate)
    state = opt.init(u)
    best_u, best_val, bad = u, obj.loss(u, val), 0
    for step in range(1, cfg.steps + 1):
        pick = rng.choice(len(train), size=min(cfg.batch_trials, len(train)), replace=False)
        loss, g = obj.smoothed_value_and_grad(u, [train[i] for i in pick], cfg.smoothing, cfg.smoothing_pairs, rng)
        if not np.all(np.isfinite(np.asarray(g))):
            g = jnp.nan_to_num(g)  # a diverging trial must not poison the parameters
        g = g + jnp.asarray(2.0 * (np.asarray(u) - prior.u0) / prior.sd**2 * prior.scale)
        upd, state = opt.update(g, state, u)
        u = jnp.clip(optax.apply_updates(u, upd), lo, hi)
        rec = {"step": step, "train_loss": float(loss), "seconds": time.perf_counter() - t0}
        if step % cfg.eval_every == 0 or step == cfg.steps:
            v = obj.loss(u, val)
            rec["validation_loss"] = v
            if v < best_val - 1e-6:
                best_u, best_val, bad = u, v, 0
            else:
                bad += 1
        history.append(rec)
        if progress:
            progress(rec)
        if bad >= cfg.patience:
            break
    return best_u, best_val


def _forced(trials):
    """Teacher-forced copies of ``(template, experiment)`` trials (``identify.teacher``)."""
    from .teacher import teacher_forced

    return [(t, teacher_forced(e, np.asarray(t.model.index["spiking"]))) for t, e in trials]


def fit_map(
    specimens: Sequence[Specimen],
    theta0: Mapping[str, jnp.ndarray],
    names: MapNames,
    config: FitConfig | None = None,
    *,
    progress: Callable[[dict], None] | None = None,
) -> FitResult:
    """Learn ``theta`` from the training trials of ``specimens`` (see module docstring)."""
    cfg = config or FitConfig()
    train = _trials(specimens, "train")
    val = _trials(specimens, "validation") or train
    if not train:
        raise NeurophantomError("fit_map needs at least one training trial")
    unknown = set(cfg.fixed) - set(names.flat_names())
    if unknown:
        raise NeurophantomError(f"unknown fixed parameter(s) {sorted(unknown)} (known: {', '.join(names.flat_names())})")
    idx = free_index(theta0, names, cfg.free, specimens, cfg.fixed)
    closed = (train, val)
    if cfg.teacher_forcing:
        train, val = _forced(train), _forced(val)
    obj = Objective(theta0, names, idx, jax.random.key(cfg.seed))
    u = obj.u0()
    bounds = obj.bounds()
    # The search counts every neuron-frame; the refinement tempers the data by the misfit
    # and autocorrelation of the residuals at the searched optimum (see Prior).
    w = data_weight(obj, u, train)
    prior = Prior(obj, theta0, u, cfg.prior_sd, 1.0 / w["n"])
    t0 = time.perf_counter()
    best_u, best_val = u, obj.loss(u, val)
    history = [{"step": 0, "train_loss": obj.loss(u, train), "validation_loss": best_val, "seconds": 0.0,
                "prior_scale": prior.scale, "residual_autocorrelation": w["rho"]}]

    def keep(cand, v):
        nonlocal best_u, best_val
        if v < best_val:
            best_u, best_val = cand, v

    if idx.size and cfg.global_search == "cmaes":
        keep(*cmaes_search(obj, u, train, val, sigma=cfg.cma_sigma, generations=cfg.cma_generations, popsize=cfg.cma_popsize,
                           restarts=cfg.cma_restarts, bounds=bounds, seed=cfg.seed, history=history, t0=t0, penalty=prior))
    elif idx.size and cfg.global_search == "coordinate" and cfg.search_cycles:
        keep(*coordinate_search(obj, u, train, val, cfg.search_cycles, bounds, history, t0))
    if idx.size and cfg.steps:
        keep(*_adam(obj, best_u, train, val, cfg, prior, bounds, history, t0, progress))
    if idx.size and cfg.refine_steps:
        if cfg.temper_prior:  # the misfit at the searched optimum, not at the start
            w = data_weight(obj, best_u, train)
            prior.scale = max(w["chi2"], 1.0) * w["scale"]
        u_ls, nfev = least_squares_refine(obj, best_u, train, prior, bounds, max_jac=cfg.refine_steps, step=cfg.smoothing)
        v = obj.loss(u_ls, val)
        history.append({"step": "least_squares", "train_loss": obj.loss(u_ls, train), "validation_loss": v,
                        "evaluations": nfev, "seconds": time.perf_counter() - t0})
        keep(u_ls, v)
    if cfg.teacher_forcing:
        history.append({"step": "closed_loop", "train_loss": obj.loss(best_u, closed[0]), "validation_loss": obj.loss(best_u, closed[1]),
                        "seconds": time.perf_counter() - t0})
    cma = [h for h in history if str(h["step"]).startswith("cmaes")]
    evals = (cma[-1]["evaluations"] if cma else 0) + sum(int(h.get("evaluations", 0)) for h in history if h["step"] == "least_squares")
    return FitResult(
        theta=obj.theta(best_u),
        free_index=idx,
        history=history,
        train_loss=obj.loss(best_u, closed[0]),
        validation_loss=obj.loss(best_u, closed[1]),
        seconds=time.perf_counter() - t0,
        evaluations=int(evals),
        prior_precision=prior.jacobian().T @ prior.jacobian(),
    )
