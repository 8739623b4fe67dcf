"""One integration step: exponential Euler for membrane, gates, calcium and synapses.

Every variable ``x`` obeys an equation that is linear in ``x`` once the other variables are
held at their values at the start of the step, ``dx/dt = A - B x``; exponential Euler
advances it exactly for that frozen ``A, B``:
``x(t + dt) = A/B + (x(t) - A/B) exp(-B dt)``. All variables are updated from the old
state at once, as Brian2's ``exponential_euler`` does, so the two agree term for term.
The scheme is first order in ``dt`` and exact for a passive membrane under a constant
drive (Rush & Larsen 1978; MacGregor 1987).

Spikes (``release="spike"`` neurons) are detected after the update as ``V > threshold``
outside the refractory period; each spike adds its out-edges' weights to the targets'
conductances, delivering only from the neurons that spiked (a padded row of out-edges per
neuron), with an exact dense fallback when more neurons spike in one step than the padded
list holds.

References
----------
Rush S, Larsen H (1978) A practical algorithm for solving dynamic membrane equations.
IEEE Trans Biomed Eng 25:389-392.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..biophysics.model import Model


class State(NamedTuple):
    v: jnp.ndarray  # (N,) mV
    gates: jnp.ndarray  # (N, n_gates)
    ca: jnp.ndarray  # (N,) uM
    syn_a: jnp.ndarray  # (N*R + 1,) nS, decaying with tau_decay (last slot: padding sink)
    syn_b: jnp.ndarray  # (N*R + 1,) nS, decaying with tau_rise
    r: jnp.ndarray  # (N, R) open fraction, kinetic (Destexhe) synapses
    noise: jnp.ndarray  # (Kn, N) pA, OU current noise
    last_spike: jnp.ndarray  # (N,) int32 step of last spike


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class StepConsts:
    """What depends only on parameters, drive maps and dt: computed once per integration."""

    decay_a: jnp.ndarray  # (N*R + 1,) exp(-dt/tau_decay) per conductance slot
    decay_b: jnp.ndarray  # (N*R + 1,) exp(-dt/tau_rise) (0 where tau_rise = 0)
    w_a: jnp.ndarray  # (E_ev + 1,) event weight x peak normalisation (last: padding, 0)
    w_b: jnp.ndarray  # (E_ev + 1,) same, zero for single-exponential receptors
    i_map: jnp.ndarray  # (Ki, N)
    g_map: jnp.ndarray  # (Kg, N)
    g_E_mV: jnp.ndarray  # (Kg,)
    n_sigma_pA: jnp.ndarray  # (Kn, N)
    n_rho: jnp.ndarray  # (Kn,) exp(-dt/tau_noise)
    refractory_steps: int
    k_record: int
    k_deliver: int
    rise: bool
    dt: float
    method: str = "exp_euler"

    def tree_flatten(self):
        arrays = (self.decay_a, self.decay_b, self.w_a, self.w_b, self.i_map, self.g_map, self.g_E_mV, self.n_sigma_pA, self.n_rho)
        return arrays, (self.refractory_steps, self.k_record, self.k_deliver, self.rise, self.dt, self.method)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children, *aux)


def channel_rates(model: Model, v, ca):
    """Per channel: list of (x_inf, tau_ms) per gate."""
    p, m = model.params, model.meta
    out = []
    for ch, kin, names in zip(m.channels, m.kinetics, m.kinetic_param_names):
        if kin is None:
            out.append(())
            continue
        kp = {k: p[f"kin.{ch}.{k}"] for k in names}
        out.append(kin(v, ca, kp))
    return out


def synaptic_conductance(model: Model, state: State) -> jnp.ndarray:
    """Conductance (nS) per neuron and receptor type, before magnesium block: (N, R)."""
    m, p, idx = model.meta, model.params, model.index
    n, R = m.n, len(m.receptors)
    g = (state.syn_a - state.syn_b)[: n * R].reshape(n, R)
    if m.n_kinetic_edges:
        contrib = p["w_kinetic_nS"] * state.r[idx["kin_pre"], idx["kin_rec"]]
        g = g + jax.ops.segment_sum(contrib, idx["kin_slot"], num_segments=n * R).reshape(n, R)
    return g


def mg_block(model: Model, v) -> jnp.ndarray:
    """NMDA magnesium block ``1/(1 + [Mg]/3.57 exp(-0.062 V))`` (Jahr & Stevens 1990), (N, R)."""
    m = model.meta
    blocked = jnp.asarray(m.mg_block)
    b = 1.0 / (1.0 + model.params["mg_mM"] / 3.57 * jnp.exp(-0.062 * v))
    return jnp.where(blocked[None, :], b[:, None], 1.0)


class Coeffs(NamedTuple):
    """Each variable's frozen linear equation ``dx/dt = rate (x_inf - x)``."""

    v_inf: jnp.ndarray
    v_rate: jnp.ndarray
    g_inf: jnp.ndarray
    g_rate: jnp.ndarray
    ca_inf: jnp.ndarray
    ca_rate: jnp.ndarray
    r_inf: jnp.ndarray
    r_rate: jnp.ndarray


def coefficients(model: Model, consts: StepConsts, st: State, drive_t) -> Coeffs:
    """Linear coefficients of every variable with the others held at ``st``."""
    m, p, idx = model.meta, model.params, model.index
    n, R = m.n, len(m.receptors)
    v, ca = st.v, st.ca
    i_t, g_t, gate_t = drive_t

    rates = channel_rates(model, v, ca)
    g_inf, g_rate, g_open, col = [], [], [], 0
    for c, (pw, rc) in enumerate(zip(m.powers, rates)):
        frac = jnp.ones_like(v)
        for power, (x_inf, tau) in zip(pw, rc):
            frac = frac * st.gates[:, col] ** power
            g_inf.append(x_inf)
            g_rate.append(1.0 / tau)
            col += 1
        g_open.append(p["g_nS"][:, c] * frac)
    g_ch = jnp.stack(g_open, axis=1)
    G = g_ch.sum(axis=1)
    I = g_ch @ p["E_ch_mV"]
    if R:
        gs = synaptic_conductance(model, st) * mg_block(model, v)
        G = G + gs.sum(axis=1)
        I = I + gs @ p["E_syn_mV"]
    if m.n_gap:
        a, b, gg = idx["gap_a"], idx["gap_b"], p["g_gap_nS"]
        G = G + jax.ops.segment_sum(gg, a, num_segments=n) + jax.ops.segment_sum(gg, b, num_segments=n)
        I = I + jax.ops.segment_sum(gg * v[b], a, num_segments=n) + jax.ops.segment_sum(gg * v[a], b, num_segments=n)
    if i_t.shape[0]:
        I = I + i_t @ consts.i_map
    if g_t.shape[0]:
        G = G + g_t @ consts.g_map
        I = I + (g_t * consts.g_E_mV) @ consts.g_map
    if st.noise.shape[0]:
        I = I + (st.noise * gate_t[:, None]).sum(axis=0)
    Gs = jnp.maximum(G, 1e-12)

    if m.has_calcium:
        if m.calcium_channel >= 0:
            i_ca = g_ch[:, m.calcium_channel] * (v - p["E_ch_mV"][m.calcium_channel])
        else:
            i_ca = jnp.zeros_like(v)
        ca_inf = p["ca_rest_uM"] - p["ca_tau_ms"] * p["ca_per_pA_ms"] * i_ca
        ca_rate = jnp.broadcast_to(1.0 / p["ca_tau_ms"], v.shape)
    else:
        ca_inf, ca_rate = ca, jnp.zeros_like(v)

    if m.n_kinetic_edges:
        T = jax.nn.sigmoid((v - p["release_vhalf_mV"]) / p["release_slope_mV"])
        alpha = p["alpha_per_mM_ms"][None, :]
        r_rate = alpha * T[:, None] + 1.0 / p["tau_decay_ms"][None, :]
        r_inf = alpha * T[:, None] / r_rate
    else:
        r_inf, r_rate = st.r, jnp.zeros_like(st.r)
    stack = lambda xs: jnp.stack(xs, axis=1) if xs else st.gates  # noqa: E731
    return Coeffs(I / Gs, Gs / p["C_pF"], stack(g_inf), stack(g_rate) if g_rate else jnp.zeros_like(st.gates), ca_inf, ca_rate, r_inf, r_rate)


def _relax(x, x_inf, rate, h):
    return x_inf + (x - x_inf) * jnp.exp(-rate * h)


def advance(st: State, c: Coeffs, h: float, decay_a, decay_b) -> State:
    """Exponential-Euler advance of every variable by ``h`` ms with coefficients ``c``."""
    return st._replace(
        v=_relax(st.v, c.v_inf, c.v_rate, h),
        gates=_relax(st.gates, c.g_inf, c.g_rate, h),
        ca=jnp.maximum(_relax(st.ca, c.ca_inf, c.ca_rate, h), 0.0),
        r=_relax(st.r, c.r_inf, c.r_rate, h),
        syn_a=st.syn_a * decay_a,
        syn_b=st.syn_b * decay_b,
    )


def step(model: Model, consts: StepConsts, state: State, drive_t, key_t, k) -> tuple[State, tuple]:
    """Advance ``state`` by one step; returns the new state and (spike ids, crossing fractions, count).

    ``consts.method`` is ``"exp_euler"`` (first order, Brian2's scheme) or
    ``"exp_midpoint"`` (second order: coefficients re-evaluated at the exponential-Euler
    half step, the second-order Rush-Larsen scheme of Perego & Veneziani 2009).
    """
    m, idx = model.meta, model.index
    dt = consts.dt
    n = m.n
    v = state.v
    c = coefficients(model, consts, state, drive_t)
    if consts.method == "exp_midpoint":
        half = advance(state, c, 0.5 * dt, jnp.sqrt(consts.decay_a), jnp.sqrt(consts.decay_b))
        c = coefficients(model, consts, half, drive_t)
    new = advance(state, c, dt, consts.decay_a, consts.decay_b)

    noise = state.noise
    if noise.shape[0]:
        rho = consts.n_rho[:, None]
        xi = jax.random.normal(key_t, noise.shape, dtype=noise.dtype)
        noise = noise * rho + consts.n_sigma_pA * jnp.sqrt(1.0 - rho**2) * xi
    v_new, syn_a, syn_b, last = new.v, new.syn_a, new.syn_b, state.last_spike

    if m.has_spiking:
        thr = m.spike_threshold_mV
        spk = idx["spiking"] & (v_new > thr) & (k - last >= consts.refractory_steps)
        last = jnp.where(spk, k.astype(last.dtype), last)
        ids = jnp.nonzero(spk, size=consts.k_record, fill_value=n)[0]
        v_old_s = jnp.concatenate([v, v[:1]])[ids]
        v_new_s = jnp.concatenate([v_new, v_new[:1]])[ids]
        dv = jnp.where(v_new_s - v_old_s == 0, 1.0, v_new_s - v_old_s)
        frac = jnp.where(v_old_s < thr, (thr - v_old_s) / dv, 0.0)
        if m.n_event_edges:
            syn_a, syn_b = _deliver(model, consts, spk, ids[: consts.k_deliver], syn_a, syn_b)
        out = (jnp.where(ids < n, ids, -1).astype(jnp.int32), frac, spk.sum())
    else:
        out = (jnp.zeros((0,), jnp.int32), jnp.zeros((0,), v.dtype), jnp.zeros((), jnp.int32))
    return new._replace(syn_a=syn_a, syn_b=syn_b, noise=noise, last_spike=last), out


def _deliver(model: Model, consts: StepConsts, spk, ids, syn_a, syn_b):
    idx = model.index

    def sparse(args):
        a, b = args
        slots = idx["ev_row_slot"][ids].reshape(-1)
        edges = idx["ev_row_edge"][ids].reshape(-1)
        a = a.at[slots].add(consts.w_a[edges])
        return a, (b.at[slots].add(consts.w_b[edges]) if consts.rise else b)

    def dense(args):
        a, b = args
        on = spk[idx["ev_pre"]]
        a = a.at[idx["ev_slot"]].add(consts.w_a[:-1] * on)
        return a, (b.at[idx["ev_slot"]].add(consts.w_b[:-1] * on) if consts.rise else b)

    return jax.lax.cond(spk.sum() <= consts.k_deliver, sparse, dense, (syn_a, syn_b))
