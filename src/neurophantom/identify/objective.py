"""The objective of the map fit: loss, residuals and their derivatives over recorded trials.

The free parameters (a subset of ``theta``, see :mod:`.map`) are scaled to order one
(logarithms for positive quantities, reversal potentials in units of 10 mV). The loss is
what the instrument records: the (pseudo-Huber) chi-square of each neuron's fluorescence
against the camera's shot noise, after the best per-cell gain and offset, averaged over
imaged neuron-frames and trials (:mod:`.observe`). A trial starts from the resting
state, so each trial is a time window whose initial state needs no estimate.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Mapping, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

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


@dataclasses.dataclass(frozen=True, eq=False)
class Specimen:
    """A recorded and scanned specimen: its map template and its trials."""

    name: str
    template: MapTemplate
    train: tuple[Experiment, ...]
    validation: tuple[Experiment, ...] = ()


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

    def _trial_fn(self, template: MapTemplate, exp: Experiment) -> "_Kernels":
        """Jitted kernels of one trial's protocol; their leading arguments are ``(u, vec0,
        key, template)`` (see :meth:`_args`)."""
        shapes = tuple(tuple(np.shape(self.like[g])) for g in GROUPS)
        idx = tuple(int(i) for i in np.asarray(self.idx))
        return _kernels(self.names, idx, shapes, exp.timing, float(exp.dt_ms), float(exp.neuron_scale))

    def _args(self, template, exp):
        k = ("drive", id(template), id(exp))
        if k not in self._cache:
            self._cache[k] = (self.vec0, self.key, template, exp.drive_for(template.model), jnp.asarray(exp.mean_measured), jnp.asarray(exp.noise_var),
                              exp.indicator, exp.optics, jnp.asarray(exp.source), jnp.asarray(exp.weights),
                              jnp.asarray(exp.smoothing), jnp.asarray(exp.excess_var))
        return self._cache[k]

    def loss(self, u, trials: Sequence[tuple[MapTemplate, Experiment]]) -> float:
        vals = [self._trial_fn(t, e).loss(u, *self._args(t, e)) for t, e in trials]
        return float(np.mean([float(v) for v in vals]))

    def loss_batch(self, U, trials: Sequence[tuple[MapTemplate, Experiment]]) -> np.ndarray:
        """Mean loss of each row of ``U`` (P, free): one vectorised simulation per trial for
        the whole population (``jax.vmap``), as evolution strategies evaluate it."""
        U = jnp.asarray(U)
        tot = np.zeros(U.shape[0])
        for t, e in trials:
            tot += np.asarray(self._trial_fn(t, e).batch(U, *self._args(t, e)), dtype=np.float64)
        return tot / len(trials)

    def predictions(self, u, trials) -> list[np.ndarray]:
        """Expected photons (frames, N) of each trial's protocol at ``u``."""
        return [np.asarray(self._trial_fn(t, e).residuals(u, *self._args(t, e))[1], dtype=np.float64) for t, e in trials]

    def clusters(self, trials) -> np.ndarray:
        """Cluster id of every entry of :meth:`residuals`: one cluster per (trial, neuron),
        the residual trace of one cell in one protocol (consecutive frames are correlated,
        through the indicator, the smoothing and any misfit of the model)."""
        out, base = [], 0
        for t, e in trials:
            frames, n = np.shape(e.measured)[1], np.shape(e.measured)[2]
            out.append(base + np.tile(np.arange(n), frames))
            base += n
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def value_and_grad(self, u, trials):
        tot, g = 0.0, jnp.zeros_like(u)
        for t, e in trials:
            v, gi = self._trial_fn(t, e).value_and_grad(u, *self._args(t, e))
            tot, g = tot + v, g + gi
        n = len(trials)
        return tot / n, g / n

    def residuals(self, u, trials) -> jnp.ndarray:
        """Stacked residuals whose squared sum is the mean loss over ``trials``."""
        return jnp.concatenate([self._trial_fn(t, e).residuals(u, *self._args(t, e))[0] / np.sqrt(len(trials)) for t, e in trials])

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
            blocks.append(self._trial_fn(t, e).jacobian(u, *self._args(t, e)) / np.sqrt(len(trials)))
        return jnp.concatenate(blocks, axis=0)


class _Kernels(NamedTuple):
    loss: Callable
    value_and_grad: Callable
    residuals: Callable  # (residual vector, predicted photons)
    batch: Callable
    jacobian: Callable


@functools.lru_cache(maxsize=32)
def _kernels(names: MapNames, idx: tuple[int, ...], shapes: tuple, timing, dt_ms: float, neuron_scale: float) -> _Kernels:
    """Jitted loss, gradient, residuals, population loss and Jacobian of one protocol's
    trial mean. The specimen (template), the fixed parameters and the key are arguments,
    not constants, so every Objective on specimens of the same structure (a fit and its
    identifiability report; repeated worlds of one circuit) shares one compilation."""
    like = {g: jnp.zeros(s) for g, s in zip(GROUPS, shapes)}
    where = np.asarray(idx, dtype=np.int64)
    scale = jnp.asarray(_scales(like))[where]

    def run(u, vec0, key, template, drive, meas, var, indicator, optics, source, roi_w, smooth, extra):
        theta = unflatten(vec0.at[where].set(u * scale), like)
        model = apply_map(theta, template, names)
        pred = predict_arrays(model, drive, indicator, optics, source, key, dt_ms=dt_ms, timing=timing)
        loss, r = chi_square(pred, meas, var, roi_w, smooth, neuron_scale, extra)
        return loss, r, pred

    def loss(*a):
        return run(*a)[0]

    return _Kernels(
        loss=jax.jit(loss),
        value_and_grad=jax.jit(jax.value_and_grad(loss)),
        residuals=jax.jit(lambda *a: run(*a)[1:]),
        batch=jax.jit(jax.vmap(loss, in_axes=(0,) + (None,) * 12)),
        jacobian=jax.jit(jax.jacfwd(lambda *a: run(*a)[1])),
    )


def _trials(specimens: Sequence[Specimen], which: str) -> list[tuple[MapTemplate, Experiment]]:
    return [(s.template, e) for s in specimens for e in getattr(s, which)]


