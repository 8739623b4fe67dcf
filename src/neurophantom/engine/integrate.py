"""The pure, differentiable integrator: ``integrate(model, drive, state, key, ...)``.

Time is scanned in blocks of ``sample_every`` steps (``lax.scan`` over samples, an inner
``lax.scan`` over the steps of one block wrapped in ``jax.checkpoint``), so recorded
variables cost memory per sample, not per step, and reverse-mode gradients store one state
per sample and recompute the steps inside a block.
"""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp

from .._errors import NeurophantomError
from ..biophysics.model import Model
from .drive import Drive
from .rates import channel_rates
from .step import State, StepConsts, blocked_conductance, step

RECORDABLE = ("v", "ca", "i_syn")


def default_k_record(n: int) -> int:
    """Spikes kept per step for recording (more in one step raises a clear error)."""
    return int(min(n, max(64, n // 16)))


def default_k_deliver(n: int) -> int:
    """Spiking neurons delivered sparsely per step before the exact dense fallback."""
    return int(min(n, 16 + math.ceil(0.005 * n)))


def record_names(model: Model, record: Sequence[str]) -> tuple[str, ...]:
    """Validate recordable variable names: ``v``, ``ca``, ``i_syn`` (total synaptic current,
    pA), ``g_syn.<receptor>`` (nS), ``gate.<channel>.<gate>``."""
    ok = set(RECORDABLE)
    ok |= {f"g_syn.{r}" for r in model.meta.receptors}
    for ch, gates in zip(model.meta.channels, model.meta.gates):
        ok |= {f"gate.{ch}.{g}" for g in gates}
    for r in record:
        if r not in ok:
            raise NeurophantomError(f"cannot record {r!r} (recordable: {', '.join(sorted(ok))})")
        if r == "ca" and not model.meta.has_calcium:
            raise NeurophantomError("cannot record 'ca': the model has no calcium channels")
    return tuple(record)


def unit_of(name: str) -> str:
    if name == "v":
        return "mV"
    if name == "ca":
        return "uM"
    if name == "i_syn":
        return "pA"
    if name.startswith("g_syn."):
        return "nS"
    return "1"


def init_state(model: Model, drive: Drive, init: Mapping[str, jnp.ndarray] | None = None) -> State:
    """Initial state: ``v_init_mV``, gates and synapses at steady state for that voltage.

    ``init`` may override ``v`` (N,), ``ca`` (N,), ``g_syn.<receptor>`` (N,) (nS of
    event-driven conductance already present at t = 0, as the COBAHH benchmark sets) and
    ``gate.<channel>.<gate>`` (N,) (e.g. the closed gates Brian2's COBAHH example starts from).
    """
    p, m = model.params, model.meta
    dt_ = p["C_pF"].dtype
    init = dict(init or {})
    gate_names = [f"gate.{ch}.{g}" for ch, gs in zip(m.channels, m.gates) for g in gs]
    unknown = set(init) - {"v", "ca"} - {f"g_syn.{r}" for r in m.receptors} - set(gate_names)
    if unknown:
        raise NeurophantomError(f"unknown initial-state variable(s) {sorted(unknown)}")
    v = jnp.broadcast_to(jnp.asarray(init.get("v", p["v_init_mV"]), dt_), (m.n,))
    ca = jnp.broadcast_to(jnp.asarray(init.get("ca", p["ca_rest_uM"]), dt_), (m.n,))
    gates = [x_inf for rc in channel_rates(model, v, ca) for (x_inf, _tau) in rc]
    gates = [jnp.broadcast_to(jnp.asarray(init[k], dt_), (m.n,)) if k in init else g for k, g in zip(gate_names, gates)]
    gates = jnp.stack(gates) if gates else jnp.zeros((0, m.n), dt_)
    R = len(m.receptors)
    syn_a = [jnp.broadcast_to(jnp.asarray(init.get(f"g_syn.{r}", 0.0), dt_), (m.n,)) for r in m.receptors]
    syn_a = jnp.concatenate(syn_a + [jnp.zeros((1,), dt_)])
    T = jax.nn.sigmoid((v - p["release_vhalf_mV"]) / p["release_slope_mV"])
    alpha = p["alpha_per_mM_ms"][:, None]
    r_inf = alpha * T[None, :] / (alpha * T[None, :] + 1.0 / p["tau_decay_ms"][:, None])
    kn = drive.n_sigma_pA.shape[0]
    return State(
        v=v,
        gates=gates,
        ca=ca,
        syn_a=syn_a,
        syn_b=jnp.zeros_like(syn_a),
        r=r_inf.reshape(R, m.n),
        noise=jnp.zeros((kn, m.n), dt_),
        last_spike=jnp.full((m.n,), -(2**30), jnp.int32),
    )


METHODS = ("exp_euler", "exp_midpoint")


def make_consts(model: Model, drive: Drive, dt_ms: float, k_record: int, k_deliver: int, method: str = "exp_euler") -> StepConsts:
    p, m, idx = model.params, model.meta, model.index
    R = len(m.receptors)
    dt_ = p["C_pF"].dtype
    tr, td = p["tau_rise_ms"], p["tau_decay_ms"]
    has_rise = tr > 0
    tr_safe = jnp.where(has_rise, tr, 0.5 * td)
    t_peak = td * tr_safe / (td - tr_safe) * jnp.log(td / tr_safe)
    peak = jnp.exp(-t_peak / td) - jnp.exp(-t_peak / tr_safe)
    norm = jnp.where(has_rise, 1.0 / peak, 1.0)
    rec_of_edge = idx["ev_slot"] // m.n if R else idx["ev_slot"]
    w = p["w_event_nS"] * norm[rec_of_edge] if R else p["w_event_nS"]
    zero = jnp.zeros((1,), dt_)
    w_a = jnp.concatenate([w, zero])
    w_b = jnp.concatenate([jnp.where(has_rise[rec_of_edge], w, 0.0) if R else w * 0, zero])
    per_slot = lambda x: jnp.concatenate([jnp.repeat(x, m.n), jnp.ones((1,), dt_)])  # noqa: E731
    decay_a = per_slot(jnp.exp(-dt_ms / td))
    decay_b = per_slot(jnp.where(has_rise, jnp.exp(-dt_ms / tr_safe), 0.0))
    return StepConsts(
        decay_a=decay_a,
        decay_b=decay_b,
        w_a=w_a,
        w_b=w_b,
        w_rows_a=w_a[idx["ev_row_edge"]],
        w_rows_b=w_b[idx["ev_row_edge"]],
        g_ch=p["g_nS"].T,
        i_map=drive.i_map,
        g_map=drive.g_map,
        g_E_mV=drive.g_E_mV,
        n_sigma_pA=drive.n_sigma_pA,
        n_rho=jnp.exp(-dt_ms / drive.n_tau_ms),
        refractory_steps=int(round(m.refractory_ms / dt_ms)),
        k_record=k_record,
        k_deliver=min(k_deliver, k_record),
        rise=m.event_rise,
        dt=float(dt_ms),
        method=method,
    )


def observe(model: Model, state: State, names: tuple[str, ...]) -> dict[str, jnp.ndarray]:
    """Recorded variables of one state."""
    out = {}
    need_syn = any(n == "i_syn" or n.startswith("g_syn.") for n in names)
    if need_syn and model.meta.receptors:
        gs = blocked_conductance(model, state)
    col_of = {}
    c = 0
    for ch, gates in zip(model.meta.channels, model.meta.gates):
        for g in gates:
            col_of[f"gate.{ch}.{g}"] = c
            c += 1
    for name in names:
        if name == "v":
            out[name] = state.v
        elif name == "ca":
            out[name] = state.ca
        elif name == "i_syn":
            if model.meta.receptors:
                out[name] = (gs * (model.params["E_syn_mV"][:, None] - state.v[None, :])).sum(axis=0)
            else:
                out[name] = jnp.zeros_like(state.v)
        elif name.startswith("g_syn."):
            out[name] = gs[model.meta.receptors.index(name[6:])]
        else:
            out[name] = state.gates[col_of[name]]
    return out


def integrate(
    model: Model,
    drive: Drive,
    state: State,
    key: jax.Array,
    *,
    dt_ms: float,
    sample_every: int,
    record: tuple[str, ...] = ("v",),
    step_offset: int = 0,
    k_record: int | None = None,
    k_deliver: int | None = None,
    spikes: bool = True,
    method: str = "exp_euler",
) -> tuple[State, dict[str, jnp.ndarray]]:
    """Run ``drive.n_steps`` steps from ``state``; pure, jittable and differentiable.

    Returns the final state and a dict of recorded arrays: each name in ``record`` with
    shape (n_samples, N) (sampled at the start of each block of ``sample_every`` steps), and
    when ``spikes`` and the model has spiking neurons, ``spike_ids`` / ``spike_frac``
    (n_steps, k_record) (-1 padded) and ``spike_count`` (n_steps,).
    """
    m = model.meta
    if method not in METHODS:
        raise NeurophantomError(f"unknown integration method {method!r} (known: {', '.join(METHODS)})")
    n_steps = drive.n_steps
    if sample_every < 1 or n_steps % sample_every:
        raise NeurophantomError(f"{n_steps} steps are not a whole number of samples of {sample_every} steps")
    n_samples = n_steps // sample_every
    k_record = default_k_record(m.n) if k_record is None else int(k_record)
    k_deliver = default_k_deliver(m.n) if k_deliver is None else int(k_deliver)
    consts = make_consts(model, drive, dt_ms, k_record, k_deliver, method)
    rec_spikes = spikes and m.has_spiking
    shape = lambda x: x.reshape((n_samples, sample_every) + x.shape[1:])  # noqa: E731
    t_wave = drive.t_wave if drive.t_wave is not None else jnp.zeros((n_steps, 0), drive.i_wave.dtype)
    if t_wave.shape[1] and t_wave.shape[1] != m.n:
        raise NeurophantomError(f"transmitter wave has {t_wave.shape[1]} columns for {m.n} neurons")
    xs = (shape(drive.i_wave), shape(drive.g_wave), shape(drive.n_gate), shape(t_wave))
    steps = (jnp.arange(n_steps, dtype=jnp.int32) + step_offset).reshape(n_samples, sample_every)

    @jax.checkpoint
    def block(state, inp):
        i_w, g_w, n_g, t_w, ks = inp
        obs = observe(model, state, record)

        def one(st, x):
            i_t, g_t, gate_t, tf_t, k = x
            key_t = jax.random.fold_in(key, k)
            st, (ids, frac, count) = step(model, consts, st, (i_t, g_t, gate_t, tf_t), key_t, k)
            return st, ((ids, frac, count) if rec_spikes else None)

        state, spk = jax.lax.scan(one, state, (i_w, g_w, n_g, t_w, ks))
        return state, (obs, spk)

    state, (obs, spk) = jax.lax.scan(block, state, xs + (steps,))
    out = dict(obs)
    if rec_spikes:
        ids, frac, count = spk
        out["spike_ids"] = ids.reshape(n_steps, -1)
        out["spike_frac"] = frac.reshape(n_steps, -1)
        out["spike_count"] = count.reshape(n_steps)
    return state, out
