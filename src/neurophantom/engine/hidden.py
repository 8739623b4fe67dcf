"""Hidden processes of a ground-truth world: synaptic plasticity and slow pools.

The scan sees membranes and molecules at one instant; a living world also changes and
modulates itself. :func:`simulate_hidden` runs the engine's own step
(:func:`~neurophantom.engine.step.step`) with two optional additions, each off unless
asked, so a world without them runs the plain :func:`~neurophantom.engine.simulate` and
is bit-identical to it:

- **pair-based STDP** (:class:`STDP`; Bi & Poo 1998; Song, Miller & Abbott 2000): every
  plastic event-driven synapse ``e`` carries a receptor-count factor ``f_e`` (1 = what the
  scan saw) that scales its weight. With a presynaptic trace ``x`` and a postsynaptic
  trace ``y`` (each +1 per spike, decaying with ``tau_plus_ms`` and ``tau_minus_ms``), a
  postsynaptic spike adds ``a_plus x_pre`` and a presynaptic spike removes
  ``a_minus y_post``, all-to-all, bounded to ``[0, f_max]``. For one pair with
  ``dt = t_post - t_pre`` the change is the classic window
  ``a_plus exp(-dt/tau_plus)`` (``dt > 0``) and ``-a_minus exp(dt/tau_minus)``
  (``dt < 0``) (:func:`stdp_window`).
- **slow pools** (:class:`Pools`): ``K`` extracellular concentrations ``c_k`` (a volume-
  transmitted neuromodulator, or the signalling of one astrocyte's domain) that spikes
  release into and that clear with time constant ``tau_ms`` (seconds):
  ``dc_k/dt = -c_k / tau_k + sum_i release_ki s_i(t)``; each acts on neurons through its
  own receptors as a conductance ``g_i = sum_k action_ki c_k`` towards ``E_k`` (e.g. a
  GIRK-like potassium conductance of a G-protein-coupled modulator receptor). The pools
  enter the step as extra conductance-drive columns, so the step is the engine's own.

Both act on spiking neurons (spikes drive traces and release).

References
----------
Bi GQ, Poo MM (1998) Synaptic modifications in cultured hippocampal neurons: dependence on
spike timing, synaptic strength, and postsynaptic cell type. J Neurosci 18:10464-10472.
Song S, Miller KD, Abbott LF (2000) Competitive Hebbian learning through spike-timing-
dependent synaptic plasticity. Nat Neurosci 3:919-926.
Bi GQ, Poo MM (2001) Synaptic modification by correlated activity: Hebb's postulate
revisited. Annu Rev Neurosci 24:139-166 (window time constants 16.8 and 33.7 ms).
Marder E (2012) Neuromodulation of neuronal circuits: back to the future. Neuron 76:1-11.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .._errors import NeurophantomError
from ..biophysics.model import Model
from ..types.recording import Recording
from ..types.stimulus import Stimulus
from .drive import Drive, compile_drive
from .integrate import default_k_deliver, default_k_record, init_state, make_consts, observe, record_names, unit_of
from .simulate import _steps
from .step import State, step


class STDP(BaseModel):
    """Pair-based additive STDP on receptor counts (defaults: Bi & Poo 2001 time constants)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    a_plus: float = Field(0.01, ge=0, description="potentiation per pair at dt -> 0+ (fraction of the scanned count)")
    a_minus: float = Field(0.0053, ge=0, description="depression per pair at dt -> 0-")
    tau_plus_ms: float = Field(16.8, gt=0)
    tau_minus_ms: float = Field(33.7, gt=0)
    f_max: float = Field(4.0, gt=0, description="upper bound of the count factor (scanned count = 1)")
    slot_capacity: float | None = Field(
        None, gt=0, description="most receptors a synapse holds, as a multiple of the median plastic synapse of its "
        "type; a synapse already at or above it does not potentiate (receptor slots; Lisman & Raghavachari 2006)")
    receptors: tuple[str, ...] = Field(("ampa", "nmda"), min_length=1, description="receptor types that learn")


def stdp_window(dt_ms: np.ndarray, rule: STDP) -> np.ndarray:
    """Analytic weight change of one pre/post pair ``dt_ms = t_post - t_pre`` (0 at dt = 0)."""
    dt = np.asarray(dt_ms, dtype=np.float64)
    return np.where(dt > 0, rule.a_plus * np.exp(-dt / rule.tau_plus_ms),
                    np.where(dt < 0, -rule.a_minus * np.exp(dt / rule.tau_minus_ms), 0.0))


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class Pools:
    """``K`` slow extracellular pools: release per spike (K, N), action nS per unit (K, N),
    reversal (K,) mV, clearance time constant (K,) ms."""

    release: np.ndarray
    action_nS: np.ndarray
    E_mV: np.ndarray
    tau_ms: np.ndarray

    def check(self, n: int) -> "Pools":
        """Validated float64 copy for ``n`` neurons (one-line error otherwise)."""
        arr = [np.asarray(a, dtype=np.float64) for a in self.tree_flatten()[0]]
        k = arr[2].shape[-1] if arr[2].ndim else -1
        if arr[0].shape[-2:] != (k, n) or arr[1].shape != arr[0].shape or arr[3].shape != arr[2].shape:
            raise NeurophantomError(f"pools: release and action must be (K, {n}), E_mV and tau_ms (K,)")
        if not (np.all(np.isfinite(np.concatenate([a.ravel() for a in arr]))) and np.all(arr[3] > 0)):
            raise NeurophantomError("pools: values must be finite and tau_ms > 0")
        return Pools(*arr)

    def tree_flatten(self):
        return (self.release, self.action_nS, self.E_mV, self.tau_ms), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children)

    def concat(self, other: "Pools") -> "Pools":
        return Pools(*(np.concatenate([np.asarray(a), np.asarray(b)]) for a, b in
                       zip(self.tree_flatten()[0], other.tree_flatten()[0])))


class Extra(NamedTuple):
    f: jnp.ndarray  # (E_ev,) receptor-count factor per event edge
    x_pre: jnp.ndarray  # (N,) presynaptic STDP trace
    y_post: jnp.ndarray  # (N,) postsynaptic STDP trace
    c: jnp.ndarray  # (K,) pool concentrations


def plastic_mask(model: Model, rule: STDP) -> np.ndarray:
    """Which event edges learn (their receptor is in ``rule.receptors``)."""
    unknown = set(rule.receptors) - set(model.meta.receptors)
    if unknown:
        raise NeurophantomError(f"STDP names receptor(s) {sorted(unknown)} the model lacks (has {list(model.meta.receptors)})")
    rec = np.asarray(model.index["ev_slot"]) // model.meta.n
    return np.isin(rec, [model.meta.receptors.index(r) for r in rule.receptors])


def upper_bound(model: Model, rule: STDP) -> np.ndarray:
    """Per event edge: the largest count factor (``f_max``, or the slot capacity if lower, never below 1)."""
    mask = plastic_mask(model, rule)
    w0 = np.asarray(model.params["w_event_nS"], dtype=np.float64)
    bound = np.full(w0.shape, rule.f_max)
    if rule.slot_capacity is not None and mask.any():
        rec = np.asarray(model.index["ev_slot"]) // model.meta.n
        for r in np.unique(rec[mask]):
            sel = mask & (rec == r)
            cap = rule.slot_capacity * np.median(w0[sel])
            bound[sel] = np.minimum(rule.f_max, np.maximum(1.0, cap / w0[sel]))
    return bound


def _bounds(model: Model, rule: STDP | None, learn) -> np.ndarray:
    """Per event edge: its count-factor bound where it learns, 0 where it does not."""
    if rule is None:
        return np.zeros(model.meta.n_event_edges)
    mask = plastic_mask(model, rule)
    if learn is not None:
        learn = np.asarray(learn, dtype=bool)
        if learn.shape != mask.shape:
            raise NeurophantomError(f"learn must be one flag per event edge ({mask.shape[0]}), got {learn.shape}")
        mask &= learn
    return np.where(mask, upper_bound(model, rule), 0.0)


def _with_weights(consts, f, idx):
    """Step constants with the event weights scaled by ``f`` (padding entries stay 0)."""
    one = jnp.ones((1,), f.dtype)
    fa = jnp.concatenate([f, one])
    w_a, w_b = consts.w_a * fa, consts.w_b * fa
    return dataclasses.replace(consts, w_a=w_a, w_b=w_b, w_rows_a=w_a[idx["ev_row_edge"]], w_rows_b=w_b[idx["ev_row_edge"]])


def _stdp(ex: Extra, s, pre, post, mask, rule, dp, dm):
    """One step of the trace rule: decayed traces pair this step's spikes, then spikes add.

    ``mask`` is the per-edge upper bound of the count factor, 0 where the edge does not learn.
    """
    x, y = ex.x_pre * dp, ex.y_post * dm
    df = rule.a_plus * x[pre] * s[post] - rule.a_minus * y[post] * s[pre]
    f = jnp.where(mask > 0, jnp.clip(ex.f + df, 0.0, mask), ex.f)
    return ex._replace(f=f, x_pre=x + s, y_post=y + s)


_STATIC = ("dt_ms", "sample_every", "record", "k_record", "k_deliver", "rule", "spikes")


@functools.partial(jax.jit, static_argnames=_STATIC)
def _run(model, drive, state, extra, key, pools, mask, *, dt_ms, sample_every, record, k_record, k_deliver, rule,
         spikes=True):
    n = model.meta.n
    base = make_consts(model, drive, dt_ms, k_record, k_deliver)
    if pools is not None:
        base = dataclasses.replace(base, g_map=jnp.concatenate([base.g_map, pools.action_nS]),
                                   g_E_mV=jnp.concatenate([base.g_E_mV, pools.E_mV]))
        p_decay, release = jnp.exp(-dt_ms / pools.tau_ms), pools.release
    pre = model.index["ev_pre"]
    post = model.index["ev_slot"] % n
    dp = jnp.exp(-dt_ms / rule.tau_plus_ms) if rule is not None else 1.0
    dm = jnp.exp(-dt_ms / rule.tau_minus_ms) if rule is not None else 1.0
    n_steps = drive.n_steps
    n_samples = n_steps // sample_every
    shape = lambda x: x.reshape((n_samples, sample_every) + x.shape[1:])  # noqa: E731
    t_wave = drive.t_wave if drive.t_wave is not None else jnp.zeros((n_steps, 0), drive.i_wave.dtype)
    xs = (shape(drive.i_wave), shape(drive.g_wave), shape(drive.n_gate), shape(t_wave),
          jnp.arange(n_steps, dtype=jnp.int32).reshape(n_samples, sample_every))

    def one(carry, x):
        st, ex = carry
        i_t, g_t, gate_t, tf_t, k = x
        consts = _with_weights(base, ex.f, model.index) if rule is not None else base
        if pools is not None:
            g_t = jnp.concatenate([g_t, ex.c])
        st, (ids, frac, count) = step(model, consts, st, (i_t, g_t, gate_t, tf_t), jax.random.fold_in(key, k), k)
        s = (st.last_spike == k).astype(st.v.dtype)
        if rule is not None:
            ex = _stdp(ex, s, pre, post, mask, rule, dp, dm)
        if pools is not None:
            ex = ex._replace(c=ex.c * p_decay + release @ s)
        return (st, ex), ((ids, frac, count, ex.c) if spikes else None)

    def block(carry, inp):
        obs = observe(model, carry[0], record)
        carry, out = jax.lax.scan(one, carry, inp)
        return carry, (obs, out)

    (state, extra), (obs, out) = jax.lax.scan(block, (state, extra), xs)
    if not spikes:
        return state, extra, obs
    ids, frac, count, c = out
    return state, extra, obs, ids.reshape(n_steps, -1), frac.reshape(n_steps, -1), count.reshape(n_steps), c[:, 0]


@dataclasses.dataclass(frozen=True, eq=False)
class HiddenRun:
    """A recording of a world with hidden processes, its learned model and pool traces."""

    recording: Recording
    model: Model  # ``w_event_nS`` scaled by the learned receptor-count factors
    count_factor: np.ndarray  # (E_ev,) final factor per event edge (1 = as scanned)
    pools: np.ndarray  # (samples, K) pool concentrations at the start of each sample


def simulate_hidden(
    model: Model,
    stimulus: Stimulus,
    *,
    dt_ms: float,
    stdp: STDP | None = None,
    pools: Pools | None = None,
    record: Sequence[str] = ("v",),
    sample_dt_ms: float | None = None,
    key: jax.Array | None = None,
    learn: np.ndarray | None = None,
) -> HiddenRun:
    """Simulate a spiking ``model`` with optional STDP and slow pools (see module docstring).

    With neither, this is :func:`~neurophantom.engine.simulate` (use that: it is faster).
    One compiled call, no segments: meant for the small worlds of the hidden-process
    studies. ``learn`` (one flag per event edge, model order) restricts which of the
    rule's synapses learn (default: all of its receptor types).
    """
    if not model.meta.has_spiking:
        raise NeurophantomError("hidden processes act through spikes: the model has no spiking neurons")
    n_steps, every = _steps(stimulus.duration_ms, dt_ms, sample_dt_ms)
    names = record_names(model, record)
    drive: Drive = compile_drive(stimulus, model, dt_ms=dt_ms, n_steps=n_steps)
    state: State = init_state(model, drive)
    dt_ = model.params["C_pF"].dtype
    n_edges = model.meta.n_event_edges
    mask = jnp.asarray(_bounds(model, stdp, learn), dt_)
    if pools is not None:
        pools = Pools(*(jnp.asarray(a, dt_) for a in pools.check(model.meta.n).tree_flatten()[0]))
    k = 0 if pools is None else int(pools.E_mV.shape[0])
    extra = Extra(jnp.ones((n_edges,), dt_), jnp.zeros((model.meta.n,), dt_), jnp.zeros((model.meta.n,), dt_),
                  jnp.zeros((max(k, 1),), dt_) if pools is None else jnp.zeros((k,), dt_))
    key = jax.random.key(0) if key is None else key
    n = model.meta.n
    k_rec, k_del = default_k_record(n), default_k_deliver(n)
    _, extra, obs, ids, frac, count, c = _run(model, drive, state, extra, key, pools, mask, dt_ms=float(dt_ms),
                                              sample_every=every, record=names, k_record=k_rec, k_deliver=k_del, rule=stdp)
    return HiddenRun(recording=_recording(model, obs, names, np.asarray(ids), np.asarray(frac), np.asarray(count),
                                          dt_ms, every, n_steps, k_rec),
                     model=model.with_params(w_event_nS=model.params["w_event_nS"] * extra.f),
                     count_factor=np.asarray(extra.f), pools=np.asarray(c).reshape(n_steps // every, -1)[:, :k])


def _recording(model, obs, names, ids, frac, count, dt_ms, every, n_steps, k_rec) -> Recording:
    if np.any(count > k_rec):
        raise NeurophantomError(f"{int(count.max())} neurons spiked in one step, more than k_record={k_rec}")
    traces = {nm: np.asarray(obs[nm]) for nm in names}
    for nm, arr in traces.items():
        if not np.all(np.isfinite(arr)):
            raise NeurophantomError(f"simulation diverged: non-finite {nm!r}; reduce dt_ms or check parameters")
    row, col = np.nonzero(ids >= 0)
    t, ts, nid = (row + frac[row, col]) * dt_ms, row * dt_ms, model.neuron_ids[ids[row, col]]
    order = np.lexsort((nid, t))
    return Recording(time_ms=np.arange(n_steps // every) * every * dt_ms, neuron_ids=model.neuron_ids, traces=traces,
                     units={nm: unit_of(nm) for nm in names}, dt_ms=float(dt_ms), spike_neuron_ids=nid[order],
                     spike_times_ms=t[order], spike_step_times_ms=ts[order],
                     metadata={"duration_ms": float(n_steps * dt_ms), "engine": "neurophantom exp_euler (hidden)",
                               "dtype": model.meta.dtype})


def simulate_hidden_batch(
    model: Model,
    stimulus: Stimulus,
    keys: jax.Array,
    pools: Pools,
    *,
    dt_ms: float,
    stdp: STDP | None = None,
    record: Sequence[str] = ("v",),
    sample_dt_ms: float | None = None,
    learn: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Many runs of one model at once (``jax.vmap``): run ``b`` uses ``keys[b]`` and pool
    arrays ``pools.*[b]`` (stacked on a leading axis; zero action for runs without them).

    Returns each recorded variable as (runs, samples, N). Spikes are not returned.
    """
    n_steps, every = _steps(stimulus.duration_ms, dt_ms, sample_dt_ms)
    names = record_names(model, record)
    drive = compile_drive(stimulus, model, dt_ms=dt_ms, n_steps=n_steps)
    state = init_state(model, drive)
    dt_ = model.params["C_pF"].dtype
    n, n_edges = model.meta.n, model.meta.n_event_edges
    if not model.meta.has_spiking:
        raise NeurophantomError("hidden processes act through spikes: the model has no spiking neurons")
    mask = jnp.asarray(_bounds(model, stdp, learn), dt_)
    pools = Pools(*(jnp.asarray(a, dt_) for a in pools.check(n).tree_flatten()[0]))
    if pools.E_mV.ndim != 2 or pools.E_mV.shape[0] != keys.shape[0]:
        raise NeurophantomError(f"batched pools need a leading axis of {keys.shape[0]} runs")
    k = int(pools.E_mV.shape[1])
    extra = Extra(jnp.ones((n_edges,), dt_), jnp.zeros((n,), dt_), jnp.zeros((n,), dt_), jnp.zeros((k,), dt_))
    k_rec, k_del = default_k_record(n), default_k_deliver(n)

    obs = _run_batch(model, drive, state, extra, keys, pools, mask, dt_ms=float(dt_ms), sample_every=every,
                     record=names, k_record=k_rec, k_deliver=k_del, rule=stdp)
    return {nm: np.asarray(obs[nm]) for nm in names}


@functools.partial(jax.jit, static_argnames=_STATIC)
def _run_batch(model, drive, state, extra, keys, pools, mask, **static):
    return jax.vmap(lambda key, pl: _run(model, drive, state, extra, key, pl, mask, spikes=False, **static)[2])(keys, pools)
