"""Controls for the map: free per-synapse weights, and a shuffled connectome.

*Free weights (no map)*: every synaptic edge of the specimen gets its own conductance,
learned from that specimen's own recordings, starting from one common value per receptor
type (the connectome's wiring is used, its receptor annotations are not). Intrinsic and
receptor kinetics are the map's, so the comparison isolates what the annotated
hypergraph plus a shared map buys over fitting each synapse.

*Shuffled connectome*: the map applied to the same reconstruction with every synapse's
postsynaptic partner permuted among the postsynaptic neurons (degree sequences kept),
the standard null model for "does the wiring diagram matter?".
"""

from __future__ import annotations

import time
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..biophysics.model import Model
from ..types import Circuit
from .map import MapNames, MapTemplate, apply_map
from .observe import Experiment, chi_square, predict_arrays


def shuffled_connectome(circuit: Circuit, seed: int) -> Circuit:
    """``circuit`` with postsynaptic partners permuted across synapse rows."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(41,)))
    syn = circuit.synapses.copy()
    post = syn["post"].to_numpy().copy()
    for _ in range(20):
        perm = rng.permutation(post)
        syn2 = syn.assign(post=perm)
        ok = (perm != syn["pre"].to_numpy()).all() and not syn2.duplicated(["synapse_id", "post"]).any()
        if ok:
            return circuit.replace(synapses=syn2)
    # Fall back: permute, then drop the rows that became autapses or duplicates.
    syn2 = syn.assign(post=rng.permutation(post))
    keep = (syn2["pre"] != syn2["post"]) & ~syn2.duplicated(["synapse_id", "post"])
    return circuit.replace(synapses=syn2[keep.to_numpy()].reset_index(drop=True))


def free_weight_model(theta: Mapping[str, jnp.ndarray], template: MapTemplate, names: MapNames, log_w: jnp.ndarray) -> Model:
    """The map's Model with every kinetic edge weight replaced by ``exp(log_w)`` (nS)."""
    m = apply_map(theta, template, names)
    return Model(dict(m.params, w_kinetic_nS=jnp.exp(log_w)), m.index, m.meta)


def initial_free_weights(theta, template: MapTemplate, names: MapNames) -> jnp.ndarray:
    """One common value per receptor type: the type's mean edge weight under the map."""
    m = apply_map(theta, template, names)
    w = np.asarray(m.params["w_kinetic_nS"])
    rec = np.asarray(m.index["kin_rec"])
    out = np.zeros_like(w)
    for r in np.unique(rec):
        out[rec == r] = w[rec == r].mean()
    return jnp.log(jnp.asarray(np.maximum(out, 1e-9)))


def fit_free_weights(
    theta,
    template: MapTemplate,
    names: MapNames,
    train: Sequence[Experiment],
    *,
    steps: int = 60,
    learning_rate: float = 0.05,
    seed: int = 0,
) -> tuple[jnp.ndarray, dict]:
    """Adam on the free log-weights of every edge (same loss as the map's fit)."""
    key = jax.random.key(seed)
    args = [(e.drive_for(template.model), jnp.asarray(e.mean_measured), e.indicator, e.optics, jnp.asarray(e.source), e) for e in train]

    def loss(log_w, drive, meas, ind, opt, src, roi_w, var, smooth, extra, *, dt_ms, timing):
        model = free_weight_model(theta, template, names, log_w)
        pred = predict_arrays(model, drive, ind, opt, src, key, dt_ms=dt_ms, timing=timing)
        return chi_square(pred, meas, var, roi_w, smooth, extra_var=extra)[0]

    fns = {}
    log_w = initial_free_weights(theta, template, names)
    opt = optax.adam(learning_rate)
    state = opt.init(log_w)
    t0 = time.perf_counter()
    hist = []
    for step in range(steps):
        tot, g = 0.0, jnp.zeros_like(log_w)
        for drive, meas, ind, optc, src, e in args:
            k = (e.timing, e.dt_ms)
            if k not in fns:
                fns[k] = jax.jit(jax.value_and_grad(lambda lw, d, m_, i_, o_, s_, w_, v_, k_, x_, e=e: loss(lw, d, m_, i_, o_, s_, w_, v_, k_, x_, dt_ms=e.dt_ms, timing=e.timing)))
            v, gi = fns[k](log_w, drive, meas, ind, optc, src, jnp.asarray(e.weights), jnp.asarray(e.noise_var), jnp.asarray(e.smoothing),
                           jnp.asarray(e.excess_var))
            tot, g = tot + float(v), g + gi
        upd, state = opt.update(jnp.nan_to_num(g / len(args)), state, log_w)
        log_w = jnp.clip(optax.apply_updates(log_w, upd), np.log(1e-6), np.log(1e3))
        hist.append(tot / len(args))
    return log_w, {"train_loss": hist[-1] if hist else None, "steps": steps, "seconds": time.perf_counter() - t0, "n_weights": int(log_w.size)}
