"""One integration step: exponential Euler for membrane, gates, calcium and synapses.

Every variable ``x`` obeys an equation that is linear in ``x`` once the other variables are
held at their values at the start of the step, ``dx/dt = A - B x``; exponential Euler
advances it exactly for that frozen ``A, B``:
``x(t + dt) = A/B + (x(t) - A/B) exp(-B dt)``. All variables are updated from the old
state at once, as Brian2's ``exponential_euler`` does, so the two agree term for term.
The scheme is first order in ``dt`` and exact for a passive membrane under a constant
drive (Rush & Larsen 1978; MacGregor 1987).

Spikes (``release="spike"`` neurons) are detected after the update as ``V > threshold``
outside the refractory period. Each spike adds its out-edges' weights to the targets'
conductances, delivering only from the neurons that spiked: the spiking neurons are
compacted into a short list (:func:`compact`, prefix sums over 32-neuron words, no
scatter), and a loop over that list adds one padded row of out-edges per spike. When
more neurons spike in one step than the list holds, an exact fallback branch delivers
over every edge. Loops, not one large gather-scatter: on CPU the fused gather-scatter
costs several times the per-row loop (measured, see ``benchmarks/cobahh.py``).

Layouts (chosen for contiguous rows): gates ``(n_gates, N)``; synaptic conductance slots
receptor-major, slot ``rec * N + post`` with one padding sink at ``R * N``; kinetic
open fractions ``(R, N)``.

References
----------
Rush S, Larsen H (1978) A practical algorithm for solving dynamic membrane equations.
IEEE Trans Biomed Eng 25:389-392.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp

from ..biophysics.model import Model
from .rates import channel_rates


class State(NamedTuple):
    v: jnp.ndarray  # (N,) mV
    gates: jnp.ndarray  # (n_gates, N)
    ca: jnp.ndarray  # (N,) uM
    syn_a: jnp.ndarray  # (R*N + 1,) nS, decaying with tau_decay (last slot: padding sink)
    syn_b: jnp.ndarray  # (R*N + 1,) nS, decaying with tau_rise
    r: jnp.ndarray  # (R, N) open fraction, kinetic (Destexhe) synapses
    noise: jnp.ndarray  # (Kn, N) pA, OU current noise
    last_spike: jnp.ndarray  # (N,) int32 step of last spike


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class StepConsts:
    """What depends only on parameters, drive maps and dt: computed once per integration."""

    decay_a: jnp.ndarray  # (R*N + 1,) exp(-dt/tau_decay) per conductance slot
    decay_b: jnp.ndarray  # (R*N + 1,) exp(-dt/tau_rise) (0 where tau_rise = 0)
    w_a: jnp.ndarray  # (E_ev + 1,) event weight x peak normalisation (last: padding, 0)
    w_b: jnp.ndarray  # (E_ev + 1,) same, zero for single-exponential receptors
    w_rows_a: jnp.ndarray  # (N + 1, max_out_degree) w_a per padded out-edge row
    w_rows_b: jnp.ndarray  # (N + 1, max_out_degree) w_b per padded out-edge row
    g_ch: jnp.ndarray  # (channels, N) maximal conductances, nS
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
        names = [f.name for f in dataclasses.fields(self)]
        arrays = tuple(getattr(self, k) for k in names[:12])
        return arrays, tuple(getattr(self, k) for k in names[12:])

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children, *aux)


def synaptic_conductance(model: Model, state: State) -> jnp.ndarray:
    """Conductance (nS) per receptor type and neuron, before magnesium block: (R, N)."""
    m, p, idx = model.meta, model.params, model.index
    n, R = m.n, len(m.receptors)
    g = state.syn_a[: n * R]
    if m.event_rise:
        g = g - state.syn_b[: n * R]
    if m.n_kinetic_edges:
        contrib = p["w_kinetic_nS"] * state.r[idx["kin_rec"], idx["kin_pre"]]
        g = g + jax.ops.segment_sum(contrib, idx["kin_slot"], num_segments=n * R)
    return g.reshape(R, n)


def mg_block(model: Model, v) -> jnp.ndarray:
    """NMDA magnesium block ``1/(1 + [Mg]/3.57 exp(-0.062 V))`` (Jahr & Stevens 1990), (R, N)."""
    m = model.meta
    if not any(m.mg_block):
        return jnp.ones((len(m.receptors), m.n), v.dtype)
    b = 1.0 / (1.0 + model.params["mg_mM"] / 3.57 * jnp.exp(-0.062 * v))
    return jnp.stack([b if blocked else jnp.ones_like(v) for blocked in m.mg_block])


def blocked_conductance(model: Model, state: State) -> jnp.ndarray:
    """Synaptic conductance after the magnesium block (only computed where one exists), (R, N)."""
    gs = synaptic_conductance(model, state)
    if any(model.meta.mg_block):
        gs = gs * mg_block(model, state.v)
    return gs


class Coeffs(NamedTuple):
    """Each variable's frozen linear equation ``dx/dt = rate (x_inf - x)``; for the membrane
    ``dV/dt = v_drive - v_rate V`` (``I/C`` and ``G/C``, no division by ``G``, which the
    COBAHH initial state can make negative)."""

    v_drive: jnp.ndarray
    v_rate: jnp.ndarray
    g_inf: jnp.ndarray
    g_rate: jnp.ndarray
    ca_inf: jnp.ndarray
    ca_rate: jnp.ndarray
    r_inf: jnp.ndarray
    r_rate: jnp.ndarray


def _membrane(model: Model, consts: StepConsts, st: State, drive_t):
    """Total conductance G (nS), driving current I (pA, V-independent part) and channel conductances."""
    m, p, idx = model.meta, model.params, model.index
    n, R = m.n, len(m.receptors)
    v = st.v
    i_t, g_t, gate_t = drive_t[:3]
    g_open, col = [], 0
    for c, pw in enumerate(m.powers):
        frac = None
        for power in pw:
            x = st.gates[col] ** power
            frac = x if frac is None else frac * x
            col += 1
        g_open.append(consts.g_ch[c] if frac is None else consts.g_ch[c] * frac)
    E = p["E_ch_mV"]
    G = sum(g_open)
    I = sum(g * E[c] for c, g in enumerate(g_open))
    if R:
        gs = blocked_conductance(model, st)
        Es = p["E_syn_mV"]
        G = G + sum(gs[k] for k in range(R))
        I = I + sum(gs[k] * Es[k] for k in range(R))
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
    return G, I, g_open


def coefficients(model: Model, consts: StepConsts, st: State, drive_t) -> Coeffs:
    """Linear coefficients of every variable with the others held at ``st``."""
    m, p = model.meta, model.params
    v, ca = st.v, st.ca
    G, I, g_open = _membrane(model, consts, st, drive_t)
    g_inf, g_rate = [], []
    for rc in channel_rates(model, v, ca):
        for x_inf, tau in rc:
            g_inf.append(x_inf)
            g_rate.append(1.0 / tau)
    gates_inf = jnp.stack(g_inf) if g_inf else st.gates
    gates_rate = jnp.stack(g_rate) if g_rate else jnp.zeros_like(st.gates)

    if m.has_calcium:
        if m.calcium_channel >= 0:
            i_ca = g_open[m.calcium_channel] * (v - p["E_ch_mV"][m.calcium_channel])
        else:
            i_ca = jnp.zeros_like(v)
        ca_inf = p["ca_rest_uM"] - p["ca_tau_ms"] * p["ca_per_pA_ms"] * i_ca
        ca_rate = jnp.broadcast_to(1.0 / p["ca_tau_ms"], v.shape)
    else:
        ca_inf, ca_rate = ca, None

    if m.n_kinetic_edges:
        T = jax.nn.sigmoid((v - p["release_vhalf_mV"]) / p["release_slope_mV"])
        forced = drive_t[3] if len(drive_t) > 3 else None
        if forced is not None and forced.shape[0]:
            T = jnp.where(jnp.isnan(forced), T, jnp.nan_to_num(forced))  # teacher forcing (drive.with_transmitter)
        alpha = p["alpha_per_mM_ms"][:, None]
        r_rate = alpha * T[None, :] + 1.0 / p["tau_decay_ms"][:, None]
        r_inf = alpha * T[None, :] / r_rate
    else:
        r_inf, r_rate = st.r, None
    return Coeffs(I / p["C_pF"], G / p["C_pF"], gates_inf, gates_rate, ca_inf, ca_rate, r_inf, r_rate)


def _relax(x, x_inf, rate, h):
    return x_inf + (x - x_inf) * jnp.exp(-rate * h)


def _relax_linear(x, drive, rate, h):
    """Exact step of ``dx/dt = drive - rate x`` for any sign of ``rate`` (also 0):
    ``x + h (drive - rate x) (1 - exp(-rate h)) / (rate h)``."""
    z = rate * h
    tiny = jnp.abs(z) < 1e-6
    phi = jnp.where(tiny, 1.0 - z / 2.0, -jnp.expm1(-z) / jnp.where(tiny, 1.0, z))
    return x + h * (drive - rate * x) * phi


def advance(st: State, c: Coeffs, h: float, decay_a, decay_b, rise: bool = True) -> State:
    """Exponential-Euler advance of every variable by ``h`` ms with coefficients ``c``.

    Variables without dynamics in this model (``rate`` None) are left unchanged.
    """
    return st._replace(
        v=_relax_linear(st.v, c.v_drive, c.v_rate, h),
        gates=_relax(st.gates, c.g_inf, c.g_rate, h),
        ca=st.ca if c.ca_rate is None else jnp.maximum(_relax(st.ca, c.ca_inf, c.ca_rate, h), 0.0),
        r=st.r if c.r_rate is None else _relax(st.r, c.r_inf, c.r_rate, h),
        syn_a=st.syn_a * decay_a,
        syn_b=st.syn_b * decay_b if rise else st.syn_b,
    )


def step(model: Model, consts: StepConsts, state: State, drive_t, key_t, k) -> tuple[State, tuple]:
    """Advance ``state`` by one step; returns the new state and (spike ids, crossing fractions, count).

    ``consts.method`` is ``"exp_euler"`` (first order, Brian2's scheme) or
    ``"exp_midpoint"`` (second order: coefficients re-evaluated at the exponential-Euler
    half step, the second-order Rush-Larsen scheme of Perego & Veneziani 2009).
    """
    m = model.meta
    dt = consts.dt
    v = state.v
    c = coefficients(model, consts, state, drive_t)
    if consts.method == "exp_midpoint":
        half = advance(state, c, 0.5 * dt, jnp.sqrt(consts.decay_a), jnp.sqrt(consts.decay_b), consts.rise)
        c = coefficients(model, consts, half, drive_t)
    new = advance(state, c, dt, consts.decay_a, consts.decay_b, consts.rise)

    noise = state.noise
    if noise.shape[0]:
        rho = consts.n_rho[:, None]
        xi = jax.random.normal(key_t, noise.shape, dtype=noise.dtype)
        noise = noise * rho + consts.n_sigma_pA * jnp.sqrt(1.0 - rho**2) * xi
    v_new, syn_a, syn_b, last = new.v, new.syn_a, new.syn_b, state.last_spike

    if m.has_spiking:
        thr = m.spike_threshold_mV
        spk = model.index["spiking"] & (v_new > thr) & (k - last >= consts.refractory_steps)
        last = jnp.where(spk, k.astype(last.dtype), last)
        syn_a, syn_b, ids, frac, count = _spikes(model, consts, spk, v, v_new, syn_a, syn_b)
        out = (ids, frac, count)
    else:
        out = (jnp.zeros((0,), jnp.int32), jnp.zeros((0,), v.dtype), jnp.zeros((), jnp.int32))
    return new._replace(syn_a=syn_a, syn_b=syn_b, noise=noise, last_spike=last), out


def compact(mask: jnp.ndarray, size: int) -> tuple[jnp.ndarray, jnp.ndarray]:
    """The first ``size`` indices where ``mask`` is True (padded with ``len(mask)``) and their count.

    Same result as ``jnp.nonzero(mask, size=size, fill_value=len(mask))`` without its
    scatter over every element: spikes are counted per 32-neuron word, prefix sums of the
    counts (small triangular matmuls, exact in float32 below 2^24 neurons) locate the word
    of the j-th spike by binary search, and a prefix sum inside that word its bit. About
    8x faster than ``nonzero`` on CPU for a few spikes among thousands of neurons
    (``benchmarks/cobahh.py``).
    """
    n = mask.shape[0]
    words = -(-n // 32)
    bits = jnp.pad(mask, (0, words * 32 - n)).reshape(words, 32)
    per_word = bits.sum(axis=1, dtype=jnp.int32)
    ends = _prefix_sum(per_word)  # spikes up to and including each word
    j = jnp.arange(size, dtype=jnp.int32)
    word = jnp.minimum(jnp.searchsorted(ends, j, side="right").astype(jnp.int32), words - 1)
    rank = j - (ends[word] - per_word[word])  # rank of spike j inside its word
    upper = jnp.triu(jnp.ones((32, 32), jnp.float32))
    local = (bits[word].astype(jnp.float32) @ upper).astype(jnp.int32)
    pos = (local <= rank[:, None]).sum(axis=1, dtype=jnp.int32)
    total = ends[-1]
    return jnp.where(j < total, word * 32 + pos, n), total


def _prefix_sum(x: jnp.ndarray, block: int = 64) -> jnp.ndarray:
    """Inclusive prefix sum of small non-negative integers (exact while the total < 2^24)."""
    n = x.shape[0]
    if n > (1 << 24) // 32:
        return jnp.cumsum(x)
    b = -(-n // block)
    xb = jnp.pad(x, (0, b * block - n)).reshape(b, block).astype(jnp.float32)
    local = xb @ jnp.triu(jnp.ones((block, block), jnp.float32))
    before = jnp.tril(jnp.ones((b, b), jnp.float32), -1) @ local[:, -1]
    return (local + before[:, None]).reshape(-1)[:n].astype(jnp.int32)


def _spikes(model: Model, consts: StepConsts, spk, v_old, v_new, syn_a, syn_b):
    """Deliver this step's spikes; return conductances, spike ids (``k_record``, -1 padded),
    crossing fractions and the count.

    Common case (at most ``k_deliver`` spikes): a compact list and one out-edge row per
    spike. Otherwise an exact fallback: ``nonzero`` for the record and delivery over every
    edge.
    """
    m = model.meta
    n, kd, kr = m.n, consts.k_deliver, consts.k_record
    thr = m.spike_threshold_mV
    ids_small, count = compact(spk, kd)

    def sparse(args):
        a, b = args
        if m.n_event_edges:
            a, b = _deliver_rows(model, consts, ids_small, count, a, b)
        pad = jnp.full((kr - kd,), -1, jnp.int32)
        ids = jnp.concatenate([jnp.where(ids_small < n, ids_small, -1).astype(jnp.int32), pad])
        frac = jnp.concatenate([_frac(thr, v_old, v_new, ids_small), jnp.zeros((kr - kd,), v_old.dtype)])
        return a, b, ids, frac

    def dense(args):
        a, b = args
        if m.n_event_edges:
            on = spk[model.index["ev_pre"]]
            slot = model.index["ev_slot"]
            a = a.at[slot].add(consts.w_a[:-1] * on)
            if consts.rise:
                b = b.at[slot].add(consts.w_b[:-1] * on)
        ids = jnp.nonzero(spk, size=kr, fill_value=n)[0]
        return a, b, jnp.where(ids < n, ids, -1).astype(jnp.int32), _frac(thr, v_old, v_new, ids)

    return jax.lax.cond(count <= kd, sparse, dense, (syn_a, syn_b)) + (count,)


def _frac(thr, v_old, v_new, ids):
    """Fraction of the step at which ``V`` crossed ``thr`` (linear interpolation), per id."""
    vo = jnp.concatenate([v_old, v_old[:1]])[ids]
    vn = jnp.concatenate([v_new, v_new[:1]])[ids]
    dv = jnp.where(vn - vo == 0, 1.0, vn - vo)
    return jnp.where(vo < thr, (thr - vo) / dv, 0.0)


def _deliver_rows(model: Model, consts: StepConsts, ids, count, syn_a, syn_b):
    """Add each listed neuron's padded out-edge row (padding rows and entries add 0 to the sink)."""
    deliver = _row_delivery(consts.rise)
    return deliver(syn_a, syn_b, consts.w_rows_a, consts.w_rows_b, model.index["ev_row_slot"], ids, count)


@functools.lru_cache(maxsize=None)
def _row_delivery(rise: bool):
    """Row-by-row delivery: a loop over the ``count`` spikes (primal), with a custom JVP.

    The loop's trip count depends on the data, which reverse-mode AD cannot transpose;
    the tangent is instead the same sum written as one gather-scatter over the whole
    (padded) list, linear in the weight tangents, so ``jax.grad`` and ``jax.jvp`` both work.
    """

    @jax.custom_jvp
    def deliver(a, b, wa, wb, rows, ids, count):
        def one(i, ab):
            a, b = ab
            j = ids[i]
            slots = jax.lax.dynamic_index_in_dim(rows, j, 0, keepdims=False)
            a = a.at[slots].add(jax.lax.dynamic_index_in_dim(wa, j, 0, keepdims=False), mode="promise_in_bounds")
            if rise:
                b = b.at[slots].add(jax.lax.dynamic_index_in_dim(wb, j, 0, keepdims=False), mode="promise_in_bounds")
            return a, b

        return jax.lax.fori_loop(0, count, one, (a, b))

    @deliver.defjvp
    def deliver_jvp(primals, tangents):
        a, b, wa, wb, rows, ids, count = primals
        ta, tb, twa, twb = tangents[:4]
        out = deliver(*primals)
        slots = rows[ids].reshape(-1)  # ids past the count are the padding row (weight 0)
        ta = ta.at[slots].add(twa[ids].reshape(-1))
        tb = tb.at[slots].add(twb[ids].reshape(-1)) if rise else tb
        return out, (ta, tb)

    return deliver
