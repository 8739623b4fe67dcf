"""The Model: a Circuit's ODE system as arrays, ready for the engine.

Densities times areas times unitary conductances give conductances (nS); membrane area
times specific capacitance gives capacitance (pF). Units inside: mV, ms, nS, pF, pA, uM.

A Model is a JAX pytree. Its ``params`` (a dict of float arrays) are the differentiable
leaves; ``index`` holds integer structure (edge lists, padded per-neuron out-edge rows);
``meta`` is static (names, sizes, kinetics functions). ``jax.grad`` of any scalar of a
simulation with respect to ``model.params`` therefore gives the sensitivity to every
conductance, reversal, time constant and synaptic weight; ``jax.vmap`` over ``params``
simulates a batch of parameter sets.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Literal

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import NeurophantomError, ValidationError
from ..types.circuit import Circuit
from .library import Biophysics, preset

jax.config.update("jax_enable_x64", True)


@dataclasses.dataclass(frozen=True)
class ModelMeta:
    """Static structure of a Model (hashable; changes retrigger compilation)."""

    n: int
    neuron_ids: tuple[int, ...]
    channels: tuple[str, ...]
    gates: tuple[tuple[str, ...], ...]
    powers: tuple[tuple[int, ...], ...]
    kinetics: tuple[Callable | None, ...]
    kinetic_param_names: tuple[tuple[str, ...], ...]
    calcium_channel: int  # index into channels of the calcium carrier, or -1
    has_calcium: bool
    receptors: tuple[str, ...]
    mg_block: tuple[bool, ...]
    n_event_edges: int
    n_kinetic_edges: int
    n_gap: int
    max_out_degree: int
    has_spiking: bool
    event_rise: bool  # any event-driven receptor with a rise time (two-state conductance)
    spike_threshold_mV: float
    refractory_ms: float
    dtype: str

    @property
    def n_gates(self) -> int:
        return sum(len(g) for g in self.gates)


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class Model:
    """An ODE system for the engine (see module docstring)."""

    params: dict[str, jnp.ndarray]
    index: dict[str, jnp.ndarray]
    meta: ModelMeta

    def tree_flatten(self):
        return (self.params, self.index), self.meta

    @classmethod
    def tree_unflatten(cls, meta, children):
        return cls(children[0], children[1], meta)

    @property
    def n_neurons(self) -> int:
        return self.meta.n

    @property
    def neuron_ids(self) -> np.ndarray:
        return np.asarray(self.meta.neuron_ids, dtype=np.int64)

    def with_params(self, **changes: Any) -> "Model":
        """A copy with some parameter arrays replaced (shapes must match)."""
        new = dict(self.params)
        for k, v in changes.items():
            if k not in new:
                raise NeurophantomError(f"unknown model parameter {k!r} (known: {', '.join(sorted(new))})")
            v = jnp.asarray(v, dtype=new[k].dtype)
            if v.shape != new[k].shape:
                raise NeurophantomError(f"model parameter {k!r}: shape {v.shape} != {new[k].shape}")
            new[k] = v
        meta = self.meta
        if "tau_rise_ms" in changes and not isinstance(new["tau_rise_ms"], jax.core.Tracer):
            meta = dataclasses.replace(meta, event_rise=bool(np.any(np.asarray(new["tau_rise_ms"]) > 0)))
        return Model(new, self.index, meta)

    def index_of(self, ids) -> np.ndarray:
        """Positions of neuron ids in the model's neuron order."""
        lookup = {int(i): k for k, i in enumerate(self.meta.neuron_ids)}
        out = []
        for i in np.asarray(ids).ravel():
            if int(i) not in lookup:
                raise NeurophantomError(f"unknown neuron id {int(i)}")
            out.append(lookup[int(i)])
        return np.asarray(out, dtype=np.int64)


def biophysics_for(circuit: Circuit) -> Biophysics:
    """The Biophysics a Circuit's header names (``biophysics`` metadata), or the default."""
    desc = circuit.provenance.metadata.get("biophysics")
    if desc is None:
        return preset("default")
    return Biophysics.from_dict(desc)


def _padded_rows(pre: np.ndarray, n: int, payload: list[np.ndarray], fills: list[Any]) -> tuple[list[np.ndarray], int]:
    """Group edge payloads by presynaptic neuron into rows padded to the max out-degree.

    Row ``n`` (one past the last neuron) is all padding: the engine sends "no spike" there.
    """
    order = np.argsort(pre, kind="stable")
    counts = np.bincount(pre, minlength=n)
    deg = int(counts.max()) if len(pre) else 1
    deg = max(deg, 1)
    start = np.concatenate([[0], np.cumsum(counts)])
    rows = []
    for arr, fill in zip(payload, fills):
        out = np.full((n + 1, deg), fill, dtype=arr.dtype)
        sorted_arr = arr[order]
        col = np.arange(len(pre)) - start[pre[order]]
        out[pre[order], col] = sorted_arr
        rows.append(out)
    return rows, deg


def build_model(
    circuit: Circuit,
    biophysics: Biophysics | None = None,
    *,
    transmission: Literal["event", "kinetic"] = "event",
    spike_threshold_mV: float = -20.0,
    refractory_ms: float = 3.0,
    v_init_mV: float | np.ndarray | None = None,
    dtype: Literal["float64", "float32"] = "float64",
) -> Model:
    """Turn a Circuit and a Biophysics into a Model.

    Parameters
    ----------
    circuit
        The annotated hypergraph. Unobserved (NaN) densities are refused: fill them first
        (``identify``'s Rosetta map does).
    biophysics
        Channel and receptor models; default: the one the circuit's header names.
    transmission
        How spiking presynaptic neurons release transmitter: ``"event"`` (spike-triggered
        double-exponential conductances, fast, as Brian2's COBAHH) or ``"kinetic"``
        (Destexhe et al. 1994 release graded with presynaptic voltage; smooth, so gradients
        flow through spikes). Graded neurons always use kinetic release.
    spike_threshold_mV, refractory_ms
        Spike detection for ``release="spike"`` neurons: ``V > threshold`` and at least
        ``refractory_ms`` since the last spike (Brian2's threshold/refractory semantics).
    v_init_mV
        Initial membrane potential (scalar or per neuron); default: leak reversal.
    dtype
        Floating-point precision of every parameter and state.
    """
    bio = biophysics if biophysics is not None else biophysics_for(circuit)
    if transmission not in ("event", "kinetic"):
        raise NeurophantomError(f"unknown transmission {transmission!r} (expected 'event' or 'kinetic')")
    if dtype not in ("float64", "float32"):
        raise NeurophantomError(f"unknown dtype {dtype!r}")
    if not (refractory_ms >= 0):
        raise NeurophantomError("refractory_ms must be >= 0")
    fdt = np.float64 if dtype == "float64" else np.float32
    nrn = circuit.neurons
    n = len(nrn)
    if n == 0:
        raise NeurophantomError("cannot build a model of a circuit with no neurons")
    area = nrn["area_um2"].to_numpy()

    # ---- channels: keep the types present anywhere (static structure).
    channels, g_cols = [], []
    for ch in circuit.channel_types:
        dens = nrn[ch].to_numpy()
        if np.isnan(dens).any():
            raise NeurophantomError(f"channel {ch!r} has unobserved (NaN) densities; estimate them before simulating")
        rec = bio.channel(ch)
        g = dens * area * rec.g_unit_pS * 1e-3
        if np.any(g > 0):
            channels.append(rec)
            g_cols.append(g)
    if not channels:
        raise NeurophantomError("circuit has no membrane channels: nothing sets a resting potential")
    names = tuple(c.name for c in channels)
    ca_idx = next((i for i, c in enumerate(channels) if c.carries_calcium), -1)
    has_ca = ca_idx >= 0 or any(c.calcium_dependent for c in channels)
    params: dict[str, np.ndarray] = {
        "C_pF": area * bio.cm_pF_per_um2,
        "g_nS": np.stack(g_cols, axis=1),
        "E_ch_mV": np.array([c.E_mV for c in channels]),
        "ca_rest_uM": np.array(bio.ca_rest_uM),
        "ca_tau_ms": np.array(bio.ca_tau_ms),
        # d[Ca]/dt (uM/ms) per pA of calcium current: 1/(2 F) over the submembrane shell volume.
        # 1 pA = 1e-12 C/s -> 1e-12/(2F) mol/s; shell volume area*depth um^3 = 1e-15 L each,
        # so d[Ca]/dt = 1e6 / (2 F vol_um3) uM/ms per pA.
        "ca_per_pA_ms": 1e6 / (2 * 96485.33212 * area * bio.ca_shell_um),
        "mg_mM": np.array(bio.mg_mM),
    }
    kin_names = []
    for c in channels:
        keys = tuple(sorted(c.params))
        kin_names.append(keys)
        for k in keys:
            params[f"kin.{c.name}.{k}"] = np.array(c.params[k])

    # ---- receptors and synaptic edges (aggregated per pre, post, receptor).
    receptors = tuple(circuit.receptor_types)
    recs = [bio.receptor(r) for r in receptors]
    params["E_syn_mV"] = np.array([r.E_mV for r in recs]).reshape(len(recs))
    params["tau_rise_ms"] = np.array([r.tau_rise_ms for r in recs]).reshape(len(recs))
    params["tau_decay_ms"] = np.array([r.tau_decay_ms for r in recs]).reshape(len(recs))
    params["alpha_per_mM_ms"] = np.array([r.alpha_per_mM_ms for r in recs]).reshape(len(recs))
    syn = circuit.synapses
    pre_i = circuit.index_of(syn["pre"].to_numpy())
    post_i = circuit.index_of(syn["post"].to_numpy())
    release = nrn["release"].to_numpy()
    spiking = release == "spike"
    ep, eo, er, ew = [], [], [], []
    for k, r in enumerate(recs):
        dens = syn[r.name].to_numpy()
        if np.isnan(dens).any():
            raise NeurophantomError(f"receptor {r.name!r} has unobserved (NaN) densities; estimate them before simulating")
        w = dens * syn["contact_area_um2"].to_numpy() * r.g_unit_pS * 1e-3
        m = w > 0
        ep.append(pre_i[m]); eo.append(post_i[m]); er.append(np.full(m.sum(), k)); ew.append(w[m])
    pre = np.concatenate(ep) if ep else np.zeros(0, np.int64)
    post = np.concatenate(eo) if eo else np.zeros(0, np.int64)
    rec = np.concatenate(er) if er else np.zeros(0, np.int64)
    w = np.concatenate(ew) if ew else np.zeros(0)
    if len(pre):
        key = (pre * n + post) * max(len(recs), 1) + rec
        uniq, inv = np.unique(key, return_inverse=True)
        w = np.bincount(inv, weights=w)
        rec = uniq % max(len(recs), 1)
        post = (uniq // max(len(recs), 1)) % n
        pre = uniq // max(len(recs), 1) // n
    event = spiking[pre] if transmission == "event" else np.zeros(len(pre), bool)
    R = max(len(recs), 1)
    slot = rec * n + post  # receptor-major conductance slot (contiguous row per receptor)
    ev_pre, ev_slot, ev_w = pre[event], slot[event], w[event]
    (row_slot, row_edge), deg = _padded_rows(
        ev_pre, n, [ev_slot.astype(np.int32), np.arange(len(ev_pre), dtype=np.int32)], [n * R, len(ev_pre)]
    )
    params["w_event_nS"] = ev_w
    params["w_kinetic_nS"] = w[~event]

    # ---- gap junctions and release.
    gj = circuit.gap_junctions
    params["g_gap_nS"] = gj["connexin_count"].to_numpy() * bio.gap_unit_pS * 1e-3
    params["release_vhalf_mV"] = np.where(spiking, bio.release["spike"].vhalf_mV, bio.release["graded"].vhalf_mV)
    params["release_slope_mV"] = np.where(spiking, bio.release["spike"].slope_mV, bio.release["graded"].slope_mV)
    leak_E = next((c.E_mV for c in channels if c.name == "leak"), -65.0)
    v0 = np.broadcast_to(np.asarray(leak_E if v_init_mV is None else v_init_mV, dtype=np.float64), (n,))
    params["v_init_mV"] = np.array(v0)

    index = {
        "ev_row_slot": row_slot,
        "ev_row_edge": row_edge,
        "ev_slot": ev_slot.astype(np.int32),
        "ev_pre": ev_pre.astype(np.int32),
        "kin_pre": pre[~event].astype(np.int32),
        "kin_slot": slot[~event].astype(np.int32),
        "gap_a": circuit.index_of(gj["a"].to_numpy()).astype(np.int32),
        "gap_b": circuit.index_of(gj["b"].to_numpy()).astype(np.int32),
        "spiking": spiking,
        "kin_rec": rec[~event].astype(np.int32),
        "kin_post": post[~event].astype(np.int32),
        "ev_rec": rec[event].astype(np.int32),
    }
    for k, v in params.items():
        if not np.all(np.isfinite(v)):
            raise ValidationError(f"model parameter {k!r} is not finite")
    meta = ModelMeta(
        n=n,
        neuron_ids=tuple(int(i) for i in circuit.neuron_ids),
        channels=names,
        gates=tuple(c.gates for c in channels),
        powers=tuple(c.powers for c in channels),
        kinetics=tuple(c.kinetics for c in channels),
        kinetic_param_names=tuple(kin_names),
        calcium_channel=ca_idx,
        has_calcium=has_ca,
        receptors=receptors,
        mg_block=tuple(r.mg_block for r in recs),
        n_event_edges=int(len(ev_pre)),
        n_kinetic_edges=int((~event).sum()),
        n_gap=int(len(gj)),
        max_out_degree=deg,
        has_spiking=bool(spiking.any()),
        event_rise=bool(any(r.tau_rise_ms > 0 for r in recs)),
        spike_threshold_mV=float(spike_threshold_mV),
        refractory_ms=float(refractory_ms),
        dtype=dtype,
    )
    jparams = {k: jnp.asarray(np.asarray(v, dtype=fdt)) for k, v in params.items()}
    jindex = {k: jnp.asarray(v) for k, v in index.items()}
    return Model(jparams, jindex, meta)
