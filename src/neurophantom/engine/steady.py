"""Steady states of graded networks: the rested state and the state under a held input.

For a Model whose neurons all release transmitter gradedly (kinetic synapses, no
spike-triggered events), every variable other than the membrane potential relaxes to a
steady state that is an explicit function of the voltages: channel gates to ``x_inf(V,
[Ca])``, the calcium pool to ``[Ca]_inf = [Ca]_rest - tau_Ca k I_Ca(V)`` and open receptor
fractions to ``r_inf(V_pre)``. The steady state is then the root of the ``N`` membrane
equations ``F(V) = (I(V) - G(V) V)/C = 0``, the same right-hand side the integrator steps
(:func:`~neurophantom.engine.step.coefficients`), found by damped Newton iterations from a
start voltage. The root is differentiable with respect to every model parameter by the
implicit function theorem (``jax.lax.custom_root``): the tangent is one linear solve with
the Jacobian, so fitting a network to steady responses costs a few solves per gradient,
not a backward pass through time.

Gates that depend on calcium (SK channels) are refreshed from a calcium pool that depends
on the calcium channel's own gates: three passes make this exact when the calcium carrier's
gates depend on voltage only (true of every channel in the library; checked below).

A steady state need not be stable: :func:`steady_state` returns the Jacobian's largest
real eigenvalue part, and a caller that starts a simulation from it (``from_rest``)
can check that it is negative.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from .._errors import NeurophantomError
from ..biophysics.model import Model
from .drive import Drive
from .integrate import make_consts
from .rates import channel_rates
from .step import State, _membrane

_CA_PASSES = 3


class Steady(NamedTuple):
    """A steady state: every variable of the engine's :class:`~.step.State`, plus how well
    the membrane equations hold there (``residual_mV_per_ms``, max over neurons)."""

    state: State
    residual_mV_per_ms: jnp.ndarray


def _check(model: Model) -> None:
    m = model.meta
    if m.has_spiking or m.n_event_edges:
        raise NeurophantomError("steady states need a graded model (no spiking neurons, no event-driven synapses)")


def _drive(model: Model, i_map: jnp.ndarray) -> Drive:
    """A constant current drive: one column per row of ``i_map`` (K, N)."""
    dt = model.params["C_pF"].dtype
    z = jnp.zeros((1, 0), dt)
    k = i_map.shape[0]
    return Drive(jnp.zeros((1, k), dt), i_map.astype(dt), z, jnp.zeros((0, model.n_neurons), dt), jnp.zeros((0,), dt),
                 z, jnp.zeros((0, model.n_neurons), dt), jnp.zeros((0,), dt))


def state_at(model: Model, v: jnp.ndarray) -> State:
    """Every variable at its steady state for membrane potentials ``v`` (held)."""
    p, m = model.params, model.meta
    n = m.n
    dt = p["C_pF"].dtype
    ca = jnp.broadcast_to(p["ca_rest_uM"], (n,)).astype(dt)
    gates = jnp.zeros((0, n), dt)
    for _ in range(_CA_PASSES if m.has_calcium else 1):
        rates = channel_rates(model, v, ca)
        g = [x_inf for rc in rates for (x_inf, _tau) in rc]
        gates = jnp.stack(g) if g else jnp.zeros((0, n), dt)
        if m.calcium_channel >= 0:
            col = sum(len(gs) for gs in m.gates[: m.calcium_channel])
            frac = None
            for k, power in enumerate(m.powers[m.calcium_channel]):
                x = gates[col + k] ** power
                frac = x if frac is None else frac * x
            g_open = p["g_nS"][:, m.calcium_channel] * (1.0 if frac is None else frac)
            i_ca = g_open * (v - p["E_ch_mV"][m.calcium_channel])
            ca = jnp.maximum(p["ca_rest_uM"] - p["ca_tau_ms"] * p["ca_per_pA_ms"] * i_ca, 0.0)
    R = len(m.receptors)
    T = jax.nn.sigmoid((v - p["release_vhalf_mV"]) / p["release_slope_mV"])
    alpha = p["alpha_per_mM_ms"][:, None]
    r = alpha * T[None, :] / (alpha * T[None, :] + 1.0 / p["tau_decay_ms"][:, None])
    syn = jnp.zeros((R * n + 1,), dt)
    return State(v=v, gates=gates, ca=ca, syn_a=syn, syn_b=syn, r=r.reshape(R, n), noise=jnp.zeros((0, n), dt),
                 last_spike=jnp.zeros((n,), jnp.int32))


def initial_values(steady: Steady) -> dict:
    """The ``init`` mapping that starts :func:`~neurophantom.engine.simulate` (or
    ``init_state``) exactly at ``steady``: voltages and calcium (gates and open receptor
    fractions follow from them at steady state)."""
    return {"v": steady.state.v, "ca": steady.state.ca}


def membrane_residual(model: Model, v: jnp.ndarray, i_ext_pA: jnp.ndarray) -> jnp.ndarray:
    """``dV/dt`` (mV/ms) at the steady state of every other variable, under held
    currents ``i_ext_pA`` (N,)."""
    drive = _drive(model, jnp.asarray(i_ext_pA, v.dtype)[None, :])
    consts = make_consts(model, drive, 1.0, 1, 1)
    one = jnp.ones((1,), v.dtype)
    G, I, _ = _membrane(model, consts, state_at(model, v), (one, jnp.zeros((0,), v.dtype), jnp.zeros((0,), v.dtype)))
    return (I - G * v) / model.params["C_pF"]


def _newton(F, v0, iterations: int, max_step_mV: float):
    def body(v, _):
        J = jax.jacfwd(F)(v)
        dv = jnp.linalg.solve(J, -F(v))
        scale = jnp.minimum(1.0, max_step_mV / jnp.maximum(jnp.max(jnp.abs(dv)), 1e-30))
        return v + scale * dv, None

    v, _ = jax.lax.scan(body, v0, None, length=iterations)
    return v


def steady_voltage(model: Model, i_ext_pA: jnp.ndarray, v0: jnp.ndarray, *, iterations: int = 12,
                   max_step_mV: float = 10.0) -> jnp.ndarray:
    """Membrane potentials (N,) where ``dV/dt = 0`` under held currents ``i_ext_pA``.

    Damped Newton from ``v0`` (steps capped at ``max_step_mV``); traceable, and
    differentiable in ``model.params`` and ``i_ext_pA`` through the implicit function
    theorem. Check convergence with :func:`membrane_residual` (``steady_state`` does).
    """
    _check(model)

    def F(v):
        return membrane_residual(model, v, i_ext_pA)

    def solve(f, x0):
        return _newton(f, x0, iterations, max_step_mV)

    def tangent_solve(g, y):
        return jnp.linalg.solve(jax.jacfwd(g)(y), y)

    return jax.lax.custom_root(F, v0, solve, tangent_solve)


def steady_state(model: Model, i_ext_pA=None, *, v0=None, iterations: int = 12, tol_mV_per_ms: float = 1e-6) -> Steady:
    """The steady state under held currents ``i_ext_pA`` (N,; default none: the rested
    state), from ``v0`` (default the model's ``v_init_mV``). Raises if Newton did not
    converge to ``tol_mV_per_ms``."""
    _check(model)
    dt = model.params["C_pF"].dtype
    i_ext = jnp.zeros((model.n_neurons,), dt) if i_ext_pA is None else jnp.asarray(i_ext_pA, dt)
    start = model.params["v_init_mV"] if v0 is None else jnp.asarray(v0, dt)
    v = _steady_compiled(model, i_ext, start, iterations=iterations)
    res = jnp.max(jnp.abs(membrane_residual(model, v, i_ext)))
    if not bool(res <= tol_mV_per_ms):
        raise NeurophantomError(f"no steady state found (|dV/dt| = {float(res):.3g} mV/ms after {iterations} Newton steps)")
    return Steady(state_at(model, v), res)


@jax.jit
def _jac_eig_max(model: Model, v: jnp.ndarray) -> jnp.ndarray:
    J = jax.jacfwd(lambda x: membrane_residual(model, x, jnp.zeros_like(x)))(v)
    return jnp.max(jnp.real(jnp.linalg.eigvals(J)))


_steady_compiled = jax.jit(steady_voltage, static_argnames=("iterations", "max_step_mV"))


def rest_stability(model: Model, v_rest) -> float:
    """Largest real part of the membrane Jacobian's eigenvalues at ``v_rest`` (1/ms) for
    the voltage-reduced system (other variables slaved to their steady states): negative
    means small perturbations of the voltages decay. A necessary check, not a full one
    (the slaved variables' own dynamics are not in it)."""
    return float(_jac_eig_max(model, jnp.asarray(v_rest)))


__all__ = ["Steady", "initial_values", "membrane_residual", "rest_stability", "state_at", "steady_state", "steady_voltage"]

