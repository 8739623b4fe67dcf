"""Inferring the computation back: fixed points of a task performer and their stability.

Sussillo & Barak (2013) open a trained network's "black box" by finding the fixed points
of its dynamics under each held input, and their stability: a 3-bit flip-flop holds
2^3 = 8 attracting fixed points, one per remembered sign pattern; a context-dependent
integrator holds, in each context, a line of slow points along which the evidence is
stored (Mante et al. 2013). :func:`describe` finds this description for any performer
from its dynamics alone:

1. run held-out task trials and keep the state at the end of every stretch in which the
   input has been held in one *condition* for at least ``hold_ms`` (flip-flop: no
   pulse, tonic input only; context decision: fixation and one context cue, no
   evidence);
2. polish each such state by damped Newton iterations on ``dV/dt = 0`` under that held
   input (for an engine Model, every variable other than V at its steady state,
   :func:`neurophantom.engine.steady.membrane_residual`); keep the converged roots, one
   per distinct voltage vector (within ``merge_mV``);
3. classify each by the largest real part of its Jacobian's eigenvalues: *attracting*
   below ``stable_per_ms`` (default 1e-3 /ms: a mode slower than 1 s counts as held, as
   on a line attractor);
4. read each fixed point's task output through the performer's readout.

The description never looks at the rate network; :func:`fixed_point_distance` compares
two descriptions (an emulation's against the original rate network's) by the symmetric
mean nearest-neighbour (Chamfer) distance between their attracting points in output space,
per condition; an empty set against a non-empty one counts as the output box's diameter.

References
----------
Sussillo D, Barak O (2013) Opening the black box: low-dimensional dynamics in
high-dimensional recurrent neural networks. Neural Comput 25:626-649.
Mante V, Sussillo D, Shenoy KV, Newsome WT (2013) Context-dependent computation by
recurrent dynamics in prefrontal cortex. Nature 503:78-84.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..biophysics.model import Model
from ..engine.steady import membrane_residual
from ..sources.pretty_printer_run import Interface, circuit_voltages, input_currents, readout
from ..sources.tasks import Trials, get_task, make_trials
from ..sources.trained import RateNetwork, encode_inputs

#: Held task inputs (one value per task channel) under which fixed points are sought.
CONDITIONS: dict[str, dict[str, tuple[float, ...]]] = {
    "flipflop": {"hold": (0.0, 0.0, 0.0)},
    "context_decision": {"motion_context": (0.0, 0.0, 1.0, 0.0, 1.0), "color_context": (0.0, 0.0, 0.0, 1.0, 1.0)},
}


@dataclasses.dataclass(frozen=True)
class FixedPointSettings:
    """How fixed points are sought (see the module docstring)."""

    trials: int = 16
    probes_per_trial: int = 8
    hold_ms: float = 50.0
    newton_steps: int = 30
    max_step_mV: float = 5.0
    tol_mV_per_ms: float = 1e-6
    merge_mV: float = 0.5
    stable_per_ms: float = 1e-3
    seed: int = 1


def _held(trials: Trials, condition: tuple[float, ...], hold_ms: float) -> np.ndarray:
    """(B, T) True where the inputs have equalled ``condition`` for ``hold_ms``."""
    same = np.all(trials.inputs == np.asarray(condition), axis=-1)
    run = np.zeros(same.shape, dtype=np.int64)
    for t in range(same.shape[1]):
        run[:, t] = np.where(same[:, t], (run[:, t - 1] if t else 0) + 1, 0)
    return run * trials.dt_ms >= hold_ms


def _probes(v: np.ndarray, held: np.ndarray, per_trial: int) -> np.ndarray:
    """The state at the end of each held stretch (nearest the fixed point it relaxes
    towards), at most ``per_trial`` per trial (the last ones)."""
    out = []
    for b in range(v.shape[0]):
        ends = np.flatnonzero(held[b] & ~np.append(held[b, 1:], False))
        if ends.size:
            out.append(v[b, ends[-per_trial:]])
    return np.concatenate(out) if out else np.zeros((0, v.shape[-1]))


def _newton(F: Callable, v0: jnp.ndarray, steps: int, max_step: float) -> jnp.ndarray:
    def body(v, _):
        dv = jnp.linalg.solve(jax.jacfwd(F)(v), -F(v))
        return v + dv * jnp.minimum(1.0, max_step / jnp.maximum(jnp.max(jnp.abs(dv)), 1e-30)), None

    return jax.lax.scan(body, v0, None, length=steps)[0]


@functools.partial(jax.jit, static_argnames=("field", "steps", "max_step"))
def _solve(field: Callable, args, probes, *, steps: int, max_step: float):
    """Newton from every probe; the roots, their residuals and slowest growth rates.
    ``field(args, v)`` is ``dV/dt``; ``args`` (a pytree) is traced, so one compiled
    program serves every performer of the same size."""
    def F(v):
        return field(args, v)

    v = jax.vmap(lambda v0: _newton(F, v0, steps, max_step))(probes)
    res = jax.vmap(lambda x: jnp.max(jnp.abs(F(x))))(v)
    lam = jax.vmap(lambda x: jnp.max(jnp.real(jnp.linalg.eigvals(jax.jacfwd(F)(x)))))(v)
    return v, res, lam


def _roots(field: Callable, args, probes: np.ndarray, s: FixedPointSettings) -> tuple[np.ndarray, np.ndarray]:
    """Converged, distinct roots of ``field(args, .)`` from ``probes`` and their slowest
    growth rates (1/ms)."""
    if probes.size == 0:
        return probes, np.zeros(0)
    # Pad to the full probe count (repeats merge), so that the program compiles once.
    full = s.trials * s.probes_per_trial
    probes = np.concatenate([probes, np.repeat(probes[:1], max(full - len(probes), 0), axis=0)])
    v, res, lam = (np.asarray(x) for x in _solve(field, args, jnp.asarray(probes), steps=s.newton_steps, max_step=s.max_step_mV))
    ok = np.isfinite(res) & (res <= s.tol_mV_per_ms)
    kept: list[int] = []
    for k in np.flatnonzero(ok):
        if all(np.max(np.abs(v[k] - v[j])) > s.merge_mV for j in kept):
            kept.append(k)
    return (v[kept], lam[kept]) if kept else (np.zeros((0, probes.shape[-1])), np.zeros(0))


def _summary(outputs: np.ndarray, lam: np.ndarray, s: FixedPointSettings) -> dict:
    stable = lam < s.stable_per_ms
    att = outputs[stable]
    return {"n_fixed_points": int(lam.size), "n_attracting": int(stable.sum()),
            "attracting_outputs": att.tolist(), "slowest_growth_per_ms": lam.tolist(),
            "attracting_sign_patterns": int(len({tuple(np.sign(o).astype(int)) for o in att}))}


def describe_model(model: Model, interface: Interface, settings: FixedPointSettings = FixedPointSettings()) -> dict:
    """Fixed points of an engine Model performing ``interface.task``, per condition."""
    task = get_task(interface.task)
    tr = make_trials(task, "heldout", settings.trials, seed=settings.seed)
    v = circuit_voltages(model, interface, tr)
    ids, cur = input_currents(interface, tr)
    pos = {int(i): k for k, i in enumerate(model.neuron_ids)}
    out = {}
    for name, cond in CONDITIONS[task.name].items():
        held = _held(tr, cond, settings.hold_ms)
        b, t = np.argwhere(held)[0] if held.any() else (0, 0)
        i_ext = np.zeros(model.n_neurons)
        for k, i in enumerate(ids):
            if i in pos:
                i_ext[pos[i]] += cur[b, t, k]
        roots, lam = _roots(_model_field, (model, jnp.asarray(i_ext)), _probes(v, held, settings.probes_per_trial), settings)
        y = readout(interface, roots[None], model.neuron_ids)[0] if roots.size else np.zeros((0, task.n_outputs))
        out[name] = _summary(y, lam, settings)
    return out


def _model_field(args, v):
    model, i_ext = args
    return membrane_residual(model, v, i_ext)


def _rate_field(args, v):
    """``dV/dt`` (mV/ms) of a rate network's recurrent units with the input units held at
    ``v_in`` (the right-hand side that :func:`neurophantom.sources.trained._step` steps);
    ``u`` holds the unit model's constants."""
    W, v_in, u = args
    t = jax.nn.sigmoid((jnp.concatenate([v_in, v]) - u["vhalf_mV"]) / u["slope_mV"])
    g_exc = (u["kappa_exc"] * t / (u["kappa_exc"] * t + 1.0)) @ jax.nn.relu(W).T
    g_inh = (u["kappa_inh"] * t / (u["kappa_inh"] * t + 1.0)) @ jax.nn.relu(-W).T
    return ((u["E_leak_mV"] - v) + g_exc * (u["E_exc_mV"] - v) + g_inh * (u["E_inh_mV"] - v)) / u["tau_ms"]


def describe_rate_network(net: RateNetwork, settings: FixedPointSettings = FixedPointSettings()) -> dict:
    """The same description of the original rate network (the reference)."""
    task = get_task(net.task)
    tr = make_trials(task, "heldout", settings.trials, seed=settings.seed)
    v = net.simulate(tr)[0][..., net.n_inputs:]
    out = {}
    for name, cond in CONDITIONS[task.name].items():
        u = encode_inputs(task, np.asarray(cond, dtype=np.float64)[None, None, :])[0, 0]
        args = (jnp.asarray(net.W), jnp.asarray(net.unit.E_leak_mV + net.unit.input_gain_mV * u), net.unit.to_dict())
        roots, lam = _roots(_rate_field, args, _probes(v, _held(tr, cond, settings.hold_ms), settings.probes_per_trial), settings)
        y = np.asarray(net.unit.release(jnp.asarray(roots))) @ net.C.T + net.d if roots.size else np.zeros((0, task.n_outputs))
        out[name] = _summary(y, lam, settings)
    return out


def _chamfer(a: np.ndarray, b: np.ndarray, empty: float) -> float:
    if len(a) == 0 and len(b) == 0:
        return 0.0
    if len(a) == 0 or len(b) == 0:
        return empty
    d = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
    return float(0.5 * (d.min(axis=1).mean() + d.min(axis=0).mean()))


def fixed_point_distance(found: dict, reference: dict) -> dict:
    """Chamfer distance between attracting fixed points in output space, per condition
    and their mean (``distance``), with the attracting counts of both."""
    per = {}
    for name, ref in reference.items():
        a = np.asarray(found.get(name, {}).get("attracting_outputs", []), dtype=np.float64)
        b = np.asarray(ref["attracting_outputs"], dtype=np.float64)
        width = b.shape[-1] if b.ndim == 2 and b.size else a.shape[-1] if a.ndim == 2 and a.size else 1
        per[name] = {"distance": _chamfer(a.reshape(-1, width), b.reshape(-1, width), 2.0 * np.sqrt(width)),
                     "n_attracting": found.get(name, {}).get("n_attracting", 0), "reference_n_attracting": ref["n_attracting"]}
    return {"distance": float(np.mean([p["distance"] for p in per.values()])), "per_condition": per}
