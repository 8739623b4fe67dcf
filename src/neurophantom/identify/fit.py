"""Learn the map's parameters from recorded specimens by gradient descent through the engine.

The free parameters (a subset of ``theta``, see :mod:`.map`) are scaled to order one
(logarithms for positive quantities, reversal potentials in units of 10 mV). An optional
derivative-free coordinate search (:func:`coordinate_search`, ``search_cycles``) first
moves each parameter across the loss's basins; then they are optimised with Adam (optax)
on minibatches of trials drawn from every training specimen. A trial
starts from the resting state, so each trial is a time window whose initial state needs
no estimate. The loss is what the instrument records: the (pseudo-Huber) chi-square of
each neuron's fluorescence against the camera's shot noise, after the best per-cell gain
and offset, averaged over imaged neuron-frames and trials (see :mod:`.observe`). A spiking
network's loss is rough (a recruited spike moves the loss by a large, exact local
derivative), so the gradient is averaged over ``smoothing_pairs`` antithetic parameter
perturbations of relative size ``smoothing`` (Gaussian smoothing of the objective).
Held-out trials of the same specimens
are scored every ``eval_every`` steps; the best parameters on them are kept and the run
stops after ``patience`` evaluations without improvement (early stopping). A few
Levenberg-Marquardt (Gauss-Newton) steps with the full Jacobian (central differences of the
same relative step ``smoothing``, which sees through the roughness) polish the optimum; the same
Jacobian feeds the identifiability analysis.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from pydantic import BaseModel, ConfigDict, Field

from .._errors import NeurophantomError
from .map import GROUPS, MapNames, MapTemplate, apply_map, flatten, unflatten
from .observe import Experiment, chi_square, predict_arrays

#: Scale of one optimisation unit per parameter group (log groups: factor e; E: 10 mV).
SCALE = {g: (1.0 if is_log else 10.0) for g, is_log in GROUPS.items()}
#: Physiological box for each group (natural units); the optimiser projects onto it.
BOUNDS = {
    "log_g_receptor_pS": (0.01, 1000.0),
    "E_receptor_mV": (-120.0, 60.0),
    "log_tau_receptor_ms": (0.2, 2000.0),
    "log_g_channel_pS": (0.001, 1000.0),
    "log_cm_pF_per_um2": (0.002, 0.05),
    "log_g_gap_pS": (1.0, 1000.0),
}


class FitConfig(BaseModel):
    """Options of :func:`fit_map`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    free: tuple[str, ...] = Field(
        ("log_g_receptor_pS", "log_tau_receptor_ms", "E_receptor_mV", "log_g_channel_pS", "log_cm_pF_per_um2", "log_g_gap_pS"),
        description="parameter groups to learn; the rest stay at their starting values",
    )
    fixed: tuple[str, ...] = Field((), description="flat parameter names (e.g. 'g_receptor_pS[nmda]') held at their starting values")
    steps: int = Field(150, ge=0, description="maximum Adam steps")
    learning_rate: float = Field(0.03, gt=0)
    batch_trials: int = Field(4, ge=1, description="trials per minibatch")
    eval_every: int = Field(10, ge=1)
    patience: int = Field(4, ge=1, description="evaluations without improvement before stopping")
    gauss_newton_steps: int = Field(0, ge=0, description="Levenberg-Marquardt polish steps after Adam")
    smoothing: float = Field(
        0.03, ge=0, description="scale (in optimisation units: log for conductances, 10 mV for reversals) of the Gaussian smoothing of the loss"
    )
    smoothing_pairs: int = Field(2, ge=0, description="antithetic perturbation pairs per smoothed gradient (0: raw gradient)")
    search_cycles: int = Field(
        0, ge=0, description="cycles of the derivative-free coordinate search that runs before Adam (0: none)"
    )
    prior_weight: float = Field(
        1e-4, ge=0, description="weight of a quadratic pull towards the starting values (scaled units): keeps directions the data cannot see where they started"
    )
    seed: int = Field(0, ge=0)

    def model_post_init(self, _ctx) -> None:
        unknown = set(self.free) - set(GROUPS)
        if unknown:
            raise ValueError(f"unknown parameter groups {sorted(unknown)} (known: {', '.join(GROUPS)})")


@dataclasses.dataclass(frozen=True, eq=False)
class Specimen:
    """A recorded and scanned specimen: its map template and its trials."""

    name: str
    template: MapTemplate
    train: tuple[Experiment, ...]
    validation: tuple[Experiment, ...] = ()


@dataclasses.dataclass(frozen=True, eq=False)
class FitResult:
    theta: dict[str, jnp.ndarray]
    free_index: np.ndarray
    history: list[dict]
    train_loss: float
    validation_loss: float
    seconds: float


def absent_types(specimens: Sequence[Specimen], names: MapNames) -> tuple[set[str], set[str], bool]:
    """Receptor and channel types no specimen contains (no data can inform them), and
    whether any specimen has gap junctions."""
    recs, chans, gap = set(), set(), False
    for s in specimens:
        m = s.template.model
        used = np.unique(np.concatenate([np.asarray(m.index["kin_rec"]), np.asarray(m.index["ev_rec"])]))
        recs |= {s.template.receptor_types[int(k)] for k in used}
        chans |= set(s.template.channel_types)
        gap = gap or m.meta.n_gap > 0
    return set(names.receptors) - recs, set(names.channels) - chans, gap


def free_index(theta: Mapping[str, jnp.ndarray], names: MapNames, free: Sequence[str], specimens: Sequence[Specimen],
               fixed: Sequence[str] = ()) -> np.ndarray:
    """Flat indices of the learnable entries: the free groups minus types absent from data
    and minus the ``fixed`` names."""
    no_rec, no_chan, gap = absent_types(specimens, names)
    flat = names.flat_names()
    idx, k = [], 0
    for g in GROUPS:
        n = int(np.size(theta[g]))
        for j in range(n):
            name = flat[k + j]
            absent = any(name.endswith(f"[{r}]") for r in no_rec) or any(name.endswith(f"[{c}]") for c in no_chan)
            if g == "log_g_gap_pS" and not gap:
                absent = True
            if g in free and not absent and name not in fixed:
                idx.append(k + j)
        k += n
    return np.asarray(idx, dtype=np.int64)


def _scales(theta) -> np.ndarray:
    return np.concatenate([np.full(int(np.size(theta[g])), SCALE[g]) for g in GROUPS])


class Objective:
    """Loss and residuals of the free parameters ``u`` (scaled) over a set of trials."""

    def __init__(self, theta0: Mapping[str, jnp.ndarray], names: MapNames, idx: np.ndarray, key: jax.Array):
        self.vec0 = flatten(theta0)
        self.like = dict(theta0)
        self.names = names
        self.idx = jnp.asarray(idx)
        self.scale = jnp.asarray(_scales(theta0))[self.idx]
        self.key = key
        self._cache: dict = {}

    def u0(self) -> jnp.ndarray:
        return self.vec0[self.idx] / self.scale

    def bounds(self) -> tuple[jnp.ndarray, jnp.ndarray]:
        lo, hi = [], []
        for g in GROUPS:
            n = int(np.size(self.like[g]))
            a, b = BOUNDS[g]
            if GROUPS[g]:
                a, b = np.log(a), np.log(b)
            lo += [a / SCALE[g]] * n
            hi += [b / SCALE[g]] * n
        return jnp.asarray(lo)[self.idx], jnp.asarray(hi)[self.idx]

    def theta(self, u: jnp.ndarray) -> dict[str, jnp.ndarray]:
        return unflatten(self.vec0.at[self.idx].set(u * self.scale), self.like)

    def _trial_fn(self, template: MapTemplate, exp: Experiment):
        """Jitted per-trial (fraction per neuron, residual vector) of ``u``."""
        key = (id(template), exp.timing, exp.dt_ms)
        if key not in self._cache:

            def frac(u, drive, meas, var, indicator, optics, source, roi_w, smooth):
                model = apply_map(self.theta(u), template, self.names)
                pred = predict_arrays(model, drive, indicator, optics, source, self.key, dt_ms=exp.dt_ms, timing=exp.timing)
                return chi_square(pred, meas, var, roi_w, smooth)

            self._cache[key] = (jax.jit(lambda *a: frac(*a)[0]), jax.jit(jax.value_and_grad(lambda *a: frac(*a)[0])),
                                jax.jit(lambda *a: frac(*a)[1]))
        return self._cache[key]

    def _args(self, template, exp):
        k = ("drive", id(template), id(exp))
        if k not in self._cache:
            self._cache[k] = (exp.drive_for(template.model), jnp.asarray(exp.mean_measured), jnp.asarray(exp.noise_var),
                              exp.indicator, exp.optics, jnp.asarray(exp.source), jnp.asarray(exp.weights),
                              jnp.asarray(exp.smoothing))
        return self._cache[k]

    def loss(self, u, trials: Sequence[tuple[MapTemplate, Experiment]]) -> float:
        vals = [self._trial_fn(t, e)[0](u, *self._args(t, e)) for t, e in trials]
        return float(np.mean([float(v) for v in vals]))

    def value_and_grad(self, u, trials):
        tot, g = 0.0, jnp.zeros_like(u)
        for t, e in trials:
            v, gi = self._trial_fn(t, e)[1](u, *self._args(t, e))
            tot, g = tot + v, g + gi
        n = len(trials)
        return tot / n, g / n

    def residuals(self, u, trials) -> jnp.ndarray:
        """Stacked residuals whose squared sum is the mean loss over ``trials``."""
        return jnp.concatenate([self._trial_fn(t, e)[2](u, *self._args(t, e)) / np.sqrt(len(trials)) for t, e in trials])

    def smoothed_value_and_grad(self, u, trials, scale: float, pairs: int, rng: np.random.Generator):
        """Gradient of the loss averaged over ``pairs`` antithetic Gaussian perturbations of
        scale ``scale`` (the gradient of the Gaussian-smoothed loss; Nesterov & Spokoiny
        2017). Spiking networks make the raw loss rough at fine scales: a neuron sitting
        at threshold gives an exact but locally enormous derivative; smoothing over a few
        percent of each parameter recovers the trend that leads to the optimum."""
        if scale <= 0 or pairs <= 0:
            return self.value_and_grad(u, trials)
        tot, g = 0.0, jnp.zeros_like(u)
        for _ in range(pairs):
            eps = jnp.asarray(rng.standard_normal(u.shape)) * scale
            for sgn in (1.0, -1.0):
                v, gi = self.value_and_grad(u + sgn * eps, trials)
                tot, g = tot + v, g + gi
        return tot / (2 * pairs), g / (2 * pairs)

    def jacobian(self, u, trials, step: float = 0.0) -> jnp.ndarray:
        """d residuals / d u: central differences at ``step`` (the Jacobian of the loss
        smoothed at that scale), or exact forward mode when ``step`` is 0."""
        if step > 0:
            cols = []
            for j in range(u.size):
                e = jnp.zeros_like(u).at[j].set(step)
                cols.append((self.residuals(u + e, trials) - self.residuals(u - e, trials)) / (2 * step))
            return jnp.stack(cols, axis=1)
        blocks = []
        for t, e in trials:
            k = ("jac", id(t), e.timing, e.dt_ms)
            if k not in self._cache:
                fn = self._trial_fn(t, e)[2]
                self._cache[k] = jax.jit(jax.jacfwd(fn))
            blocks.append(self._cache[k](u, *self._args(t, e)) / np.sqrt(len(trials)))
        return jnp.concatenate(blocks, axis=0)


def _trials(specimens: Sequence[Specimen], which: str) -> list[tuple[MapTemplate, Experiment]]:
    return [(s.template, e) for s in specimens for e in getattr(s, which)]


def levenberg_marquardt(obj: Objective, u, trials, steps: int, lam: float = 1e-2, *, prior=(0.0, None), bounds=None,
                        jacobian_step: float = 0.0):
    """A few damped Gauss-Newton steps on the stacked residuals (plus the prior's, if any),
    projected onto the parameter box."""
    w, u_start = prior
    sw = float(np.sqrt(w))

    def resid(v):
        r = obj.residuals(v, trials)
        return jnp.concatenate([r, sw * (v - u_start)]) if sw else r

    def jac(v):
        J = obj.jacobian(v, trials, jacobian_step)
        return jnp.concatenate([J, sw * jnp.eye(v.size)]) if sw else J

    r = resid(u)
    cost = float(r @ r)
    for _ in range(steps):
        J = jac(u)
        A = J.T @ J
        g = J.T @ r
        for _try in range(6):
            du = -jnp.linalg.solve(A + lam * jnp.diag(jnp.diag(A) + 1e-12), g)
            u_new = u + du if bounds is None else jnp.clip(u + du, *bounds)
            r_new = resid(u_new)
            c_new = float(r_new @ r_new)
            if np.isfinite(c_new) and c_new < cost:
                u, r, cost, lam = u_new, r_new, c_new, lam / 3.0
                break
            lam *= 4.0
        else:
            break
    return u


#: Coordinate-search moves of one cycle, in optimisation units (log factors 1/4 .. 4 for
#: conductances and time constants); each later cycle halves them.
SEARCH_OFFSETS = np.log([0.25, 0.35, 0.5, 0.7, 0.85, 1.2, 1.4, 2.0, 2.8, 4.0])


def coordinate_search(obj: Objective, u, train, val, cycles: int, bounds, history: list, t0: float):
    """Derivative-free coordinate search on the training loss: each free parameter in turn
    is tried at every offset of :data:`SEARCH_OFFSETS` (halved each cycle) and moved to the
    best if that lowers the loss. A spiking network's loss has basins a few gradient steps
    cannot leave (a channel whose change recruits or silences a cell); whole-loss
    evaluations along each axis see across them, as grid and evolutionary searches do
    for Hodgkin-Huxley models (Prinz, Bucher & Marder 2004; Van Geit et al. 2016,
    BluePyOpt). Returns the parameters with the best validation loss seen after a cycle."""
    lo, hi = bounds
    best = obj.loss(u, train)
    best_u, best_val = u, obj.loss(u, val)
    for cycle in range(cycles):
        for j in range(int(u.size)):
            tries = [jnp.clip(u.at[j].add(off), lo, hi) for off in SEARCH_OFFSETS / 2.0**cycle]
            losses = np.array([obj.loss(v, train) for v in tries])
            losses[~np.isfinite(losses)] = np.inf  # a diverging simulation is never a move
            k = int(np.argmin(losses))
            if losses[k] < best:
                best, u = float(losses[k]), tries[k]
        v_loss = obj.loss(u, val)
        history.append({"step": f"search_{cycle + 1}", "train_loss": best, "validation_loss": v_loss, "seconds": time.perf_counter() - t0})
        if v_loss < best_val:
            best_u, best_val = u, v_loss
    return best_u, best_val


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
    obj = Objective(theta0, names, idx, jax.random.key(cfg.seed))
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(7,)))
    u = u_start = obj.u0()
    lo, hi = obj.bounds()
    opt = optax.adam(cfg.learning_rate)
    state = opt.init(u)
    t0 = time.perf_counter()
    best_u, best_val = u, obj.loss(u, val)
    history = [{"step": 0, "validation_loss": best_val, "seconds": 0.0}]
    bad = 0
    if cfg.search_cycles and idx.size:
        u, v = coordinate_search(obj, u, train, val, cfg.search_cycles, (lo, hi), history, t0)
        if v < best_val:
            best_u, best_val = u, v
        u = best_u
    for step in range(1, cfg.steps + 1):
        pick = rng.choice(len(train), size=min(cfg.batch_trials, len(train)), replace=False)
        loss, g = obj.smoothed_value_and_grad(u, [train[i] for i in pick], cfg.smoothing, cfg.smoothing_pairs, rng)
        if not np.all(np.isfinite(np.asarray(g))):
            g = jnp.nan_to_num(g)  # a diverging trial must not poison the parameters
        g = g + 2.0 * cfg.prior_weight * (u - u_start)
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
    u = best_u
    if cfg.gauss_newton_steps and idx.size:
        u = levenberg_marquardt(obj, u, train, cfg.gauss_newton_steps, prior=(cfg.prior_weight, u_start), bounds=(lo, hi),
                                jacobian_step=cfg.smoothing)
        v = obj.loss(u, val)
        history.append({"step": "gauss_newton", "validation_loss": v, "seconds": time.perf_counter() - t0})
        if v > best_val:
            u = best_u
    return FitResult(
        theta=obj.theta(u),
        free_index=idx,
        history=history,
        train_loss=obj.loss(u, train),
        validation_loss=obj.loss(u, val),
        seconds=time.perf_counter() - t0,
    )
