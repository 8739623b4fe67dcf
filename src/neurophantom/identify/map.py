"""The hypergraph -> ODE map: a few shared biophysical constants turn any annotated
hypergraph into a Model.

The map's parameters ``theta`` are per molecule type, not per neuron or synapse, so their
number does not grow with the specimen (a Rosetta stone for biophysics):

- ``log_g_receptor_pS`` (R,): effective unitary conductance of each receptor type, i.e.
  the true unitary conductance divided by the scan's detection efficiency (a scan that
  labels a fraction ``e`` of molecules sees ``e`` times the density);
- ``E_receptor_mV`` (R,), ``log_tau_receptor_ms`` (R,): reversal and decay time;
- ``log_g_channel_pS`` (C,): effective conductance per channel molecule;
- ``log_cm_pF_per_um2`` (): specific capacitance;
- ``log_g_gap_pS`` (): conductance per gap-junction channel.

A :class:`MapTemplate` is built once per specimen from its (recovered) Circuit with every
unitary conductance and the capacitance set to 1, so that applying ``theta`` is a few
multiplications: differentiable, cheap and exact (densities x areas x unitary
conductances, the same arithmetic as :func:`~neurophantom.biophysics.build_model`).
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import NeurophantomError
from ..biophysics import Biophysics, build_model
from ..biophysics.model import Model
from ..types import Circuit

#: Parameter groups of the map and whether each is stored as a logarithm.
GROUPS = {
    "log_g_receptor_pS": True,
    "E_receptor_mV": False,
    "log_tau_receptor_ms": True,
    "log_g_channel_pS": True,
    "log_cm_pF_per_um2": True,
    "log_g_gap_pS": True,
}


@jax.tree_util.register_pytree_node_class
@dataclasses.dataclass(frozen=True)
class MapTemplate:
    """A specimen's Model with unit conductances, ready for any ``theta``."""

    model: Model
    receptor_types: tuple[str, ...]
    channel_types: tuple[str, ...]

    def tree_flatten(self):
        return (self.model,), (self.receptor_types, self.channel_types)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(children[0], *aux)


def _unit_biophysics(bio: Biophysics) -> Biophysics:
    over = {f"channels.{c}.g_unit_pS": 1.0 for c in bio.channels}
    over.update({f"receptors.{r}.g_unit_pS": 1.0 for r in bio.receptors})
    over.update({"gap_unit_pS": 1.0, "cm_pF_per_um2": 1.0})
    return bio.override(over)


def make_template(circuit: Circuit, reference: Biophysics, *, transmission: str = "kinetic", **build_kwargs) -> MapTemplate:
    """Template of ``circuit`` under ``reference`` kinetics (gates, release sigmoids),
    with unit conductances; ``theta`` supplies the conductances, reversals and decays."""
    model = build_model(circuit, _unit_biophysics(reference), transmission=transmission, **build_kwargs)
    return MapTemplate(model, tuple(model.meta.receptors), tuple(model.meta.channels))


def init_theta(reference: Biophysics, receptor_types: Sequence[str], channel_types: Sequence[str]) -> dict[str, jnp.ndarray]:
    """``theta`` at the reference library's values (the starting point of a fit)."""
    recs = [reference.receptor(r) for r in receptor_types]
    chans = [reference.channel(c) for c in channel_types]
    return {
        "log_g_receptor_pS": jnp.log(jnp.array([r.g_unit_pS for r in recs], dtype=jnp.float64)),
        "E_receptor_mV": jnp.array([r.E_mV for r in recs], dtype=jnp.float64),
        "log_tau_receptor_ms": jnp.log(jnp.array([r.tau_decay_ms for r in recs], dtype=jnp.float64)),
        "log_g_channel_pS": jnp.log(jnp.array([c.g_unit_pS for c in chans], dtype=jnp.float64)),
        "log_cm_pF_per_um2": jnp.log(jnp.asarray(reference.cm_pF_per_um2, dtype=jnp.float64)),
        "log_g_gap_pS": jnp.log(jnp.asarray(reference.gap_unit_pS, dtype=jnp.float64)),
    }


def _pick(theta_vec: jnp.ndarray, names: Sequence[str], wanted: Sequence[str]) -> jnp.ndarray:
    idx = []
    for w in wanted:
        if w not in names:
            raise NeurophantomError(f"the map has no parameter for type {w!r} (has: {', '.join(names)})")
        idx.append(list(names).index(w))
    return theta_vec[jnp.asarray(idx, dtype=jnp.int32)] if idx else theta_vec[:0]


def apply_map(theta: Mapping[str, jnp.ndarray], template: MapTemplate, names: "MapNames") -> Model:
    """The Model of ``template``'s specimen under map parameters ``theta`` (differentiable)."""
    m = template.model
    p = dict(m.params)
    R = len(template.receptor_types)
    g_r = jnp.exp(_pick(theta["log_g_receptor_pS"], names.receptors, template.receptor_types))
    g_c = jnp.exp(_pick(theta["log_g_channel_pS"], names.channels, template.channel_types))
    p["g_nS"] = m.params["g_nS"] * g_c[None, :]
    p["C_pF"] = m.params["C_pF"] * jnp.exp(theta["log_cm_pF_per_um2"])
    if R:
        p["E_syn_mV"] = _pick(theta["E_receptor_mV"], names.receptors, template.receptor_types)
        p["tau_decay_ms"] = jnp.exp(_pick(theta["log_tau_receptor_ms"], names.receptors, template.receptor_types))
        # Keep rise below decay whatever the fit does to the decay.
        p["tau_rise_ms"] = jnp.minimum(m.params["tau_rise_ms"], 0.5 * p["tau_decay_ms"])
        p["w_kinetic_nS"] = m.params["w_kinetic_nS"] * g_r[m.index["kin_rec"]]
        p["w_event_nS"] = m.params["w_event_nS"] * g_r[m.index["ev_rec"]]
    p["g_gap_nS"] = m.params["g_gap_nS"] * jnp.exp(theta["log_g_gap_pS"])
    return Model(p, m.index, m.meta)


@dataclasses.dataclass(frozen=True)
class MapNames:
    """Which receptor and channel types the entries of ``theta`` refer to."""

    receptors: tuple[str, ...]
    channels: tuple[str, ...]

    def flat_names(self) -> list[str]:
        """Human-readable names of every scalar in ``theta`` (order of :func:`flatten`)."""
        out = []
        for g in GROUPS:
            if g in ("log_g_receptor_pS", "E_receptor_mV", "log_tau_receptor_ms"):
                out += [f"{g.replace('log_', '')}[{r}]" for r in self.receptors]
            elif g == "log_g_channel_pS":
                out += [f"g_channel_pS[{c}]" for c in self.channels]
            else:
                out.append(g.replace("log_", ""))
        return out


def flatten(theta: Mapping[str, jnp.ndarray]) -> jnp.ndarray:
    return jnp.concatenate([jnp.ravel(theta[g]) for g in GROUPS])


def unflatten(vec: jnp.ndarray, like: Mapping[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    out, k = {}, 0
    for g in GROUPS:
        n = int(np.size(like[g]))
        out[g] = vec[k : k + n].reshape(jnp.shape(like[g]))
        k += n
    return out


def natural_values(theta: Mapping[str, jnp.ndarray], names: MapNames) -> dict[str, float]:
    """``theta`` in physical units (exponentiated where stored as a log), by flat name."""
    vals = []
    for g, is_log in GROUPS.items():
        v = np.ravel(np.asarray(theta[g], dtype=np.float64))
        vals += list(np.exp(v) if is_log else v)
    return dict(zip(names.flat_names(), (float(x) for x in vals)))


def theta_from_natural(values: Mapping[str, float], names: MapNames, like: Mapping[str, jnp.ndarray]) -> dict[str, jnp.ndarray]:
    """``theta`` from physical values by flat name (inverse of :func:`natural_values`);
    names missing from ``values`` keep ``like``'s entries."""
    flat = names.flat_names()
    vec = np.asarray(flatten(like), dtype=np.float64).copy()
    k = 0
    for g, is_log in GROUPS.items():
        n = int(np.size(like[g]))
        for j in range(n):
            v = values.get(flat[k + j])
            if v is not None and np.isfinite(v):
                vec[k + j] = np.log(v) if is_log else v
        k += n
    return unflatten(jnp.asarray(vec), like)


#: Groups with one entry per receptor type / per channel type (the rest are scalars).
RECEPTOR_GROUPS = ("log_g_receptor_pS", "E_receptor_mV", "log_tau_receptor_ms")
CHANNEL_GROUPS = ("log_g_channel_pS",)


def extend_map(theta: Mapping[str, jnp.ndarray], names: MapNames, circuit, reference: Biophysics):
    """``(theta, names)`` covering every type of ``circuit``: a type the map was never
    trained on (absent from every training scan) takes the reference library's value,
    which is what the map would have started from; learned entries are unchanged."""
    receptors = tuple(names.receptors) + tuple(r for r in circuit.receptor_types if r not in names.receptors)
    channels = tuple(names.channels) + tuple(c for c in circuit.channel_types if c not in names.channels)
    if receptors == tuple(names.receptors) and channels == tuple(names.channels):
        return theta, names
    out = dict(init_theta(reference, receptors, channels))
    for g in GROUPS:
        learned = jnp.asarray(theta[g])
        out[g] = out[g].at[: learned.size].set(learned) if g in RECEPTOR_GROUPS + CHANNEL_GROUPS else learned
    return out, MapNames(receptors, channels)
