"""Synaptic and electrical connections of a NeuroML export (see :mod:`.neuroml_export`).

Event synapses (spiking presynaptic neurons, ``transmission="event"``): one standard
synapse element per receptor and one ``projection`` per (presynaptic population,
postsynaptic population, receptor) with ``connectionWD`` weights in nS (density x contact
area x unitary conductance). Kinetic synapses: one ``npKineticSynapse`` component per
receptor and release kind (spike or graded: their release sigmoids differ), instances in
the LEMS components file, connected by ``continuousProjection`` from a ``silentSynapse``.
Gap junctions: ``electricalProjection`` of a ``gapJunction`` weighted by connexin count.
"""

from __future__ import annotations

import numpy as np

from .._errors import NeurophantomError
from ..biophysics.library import Biophysics
from ..types.circuit import Circuit

#: Jahr & Stevens (1990) block as the engine writes it: 1/(1 + [Mg]/3.57 mM exp(-0.062 V/mV)).
MG_SCALING_CONC_MM = 3.57
MG_SCALING_VOLT_MV = 1.0 / 0.062


def _cell_path(pop: int, i: int) -> str:
    return f"../pop_{pop}/{i}/cell_{pop}"


def _event_synapse(nml, doc, r: str, rec, bio: Biophysics) -> None:
    q = lambda x, u: f"{float(x)!r}{u}"  # noqa: E731
    if rec.mg_block:
        if not rec.tau_rise_ms > 0:
            raise NeurophantomError(f"cannot export magnesium-blocked receptor {r!r} without a rise time to NeuroML")
        block = nml.BlockMechanism(type="voltageConcDepBlockMechanism", species="mg", block_concentration=q(bio.mg_mM, "mM"),
                                   scaling_conc=q(MG_SCALING_CONC_MM, "mM"), scaling_volt=q(MG_SCALING_VOLT_MV, "mV"))
        doc.blocking_plastic_synapses.append(nml.BlockingPlasticSynapse(
            id=f"syn_{r}", gbase="1nS", erev=q(rec.E_mV, "mV"), tau_rise=q(rec.tau_rise_ms, "ms"), tau_decay=q(rec.tau_decay_ms, "ms"),
            block_mechanism=block))
    elif rec.tau_rise_ms > 0:
        doc.exp_two_synapses.append(nml.ExpTwoSynapse(id=f"syn_{r}", gbase="1nS", erev=q(rec.E_mV, "mV"),
                                                      tau_rise=q(rec.tau_rise_ms, "ms"), tau_decay=q(rec.tau_decay_ms, "ms")))
    else:
        doc.exp_one_synapses.append(nml.ExpOneSynapse(id=f"syn_{r}", gbase="1nS", erev=q(rec.E_mV, "mV"), tau_decay=q(rec.tau_decay_ms, "ms")))


def _kinetic_component(cid: str, rec, release, mg_mM: float) -> str:
    return (f'<Component id="{cid}" type="npKineticSynapse" gbase="1nS" erev="{rec.E_mV!r}mV" '
            f'alpha="{rec.alpha_per_mM_ms!r}per_ms" tauDecay="{rec.tau_decay_ms!r}ms" vhalf="{release.vhalf_mV!r}mV" '
            f'slope="{release.slope_mV!r}mV" mg="{(mg_mM if rec.mg_block else 0.0)!r}mM"/>')


def add_connections(nml, doc, net, circuit: Circuit, bio: Biophysics, pop_of, idx_in_pop, transmission: str) -> tuple[dict, list[str]]:
    """Add every synapse and gap junction; returns summary counts and LEMS component texts."""
    syn = circuit.synapses
    lems: list[str] = []
    n_proj = n_conn = n_cont = 0
    if len(syn):
        pre = circuit.index_of(syn["pre"].to_numpy())
        post = circuit.index_of(syn["post"].to_numpy())
        area = syn["contact_area_um2"].to_numpy()
        spiking = (circuit.neurons["release"] == "spike").to_numpy()[pre]
        event = spiking if transmission == "event" else np.zeros(len(pre), bool)
        for r in circuit.receptor_types:
            rec = bio.receptor(r)
            w = syn[r].to_numpy() * area * rec.g_unit_pS * 1e-3  # nS
            on = w > 0
            if (on & event).any():
                _event_synapse(nml, doc, r, rec, bio)
                p, c = _projections(nml, net, f"proj_{r}", f"syn_{r}", on & event, pre, post, w, pop_of, idx_in_pop)
                n_proj, n_conn = n_proj + p, n_conn + c
            for kind in ("spike", "graded"):
                sel = on & ~event & (spiking == (kind == "spike"))
                if sel.any():
                    if not doc.silent_synapses:
                        doc.silent_synapses.append(nml.SilentSynapse(id="silent"))
                    cid = f"ksyn_{r}_{kind}"
                    lems.append(_kinetic_component(cid, rec, bio.release[kind], bio.mg_mM))
                    n_cont += _continuous(nml, net, f"cproj_{r}_{kind}", cid, sel, pre, post, w, pop_of, idx_in_pop)
    n_gap = _gap_junctions(nml, doc, net, circuit, bio, pop_of, idx_in_pop)
    counts = dict(projections=n_proj, connections=n_conn, electrical_connections=n_gap, continuous_connections=n_cont)
    return counts, lems


def _groups(sel, pre, post, pop_of):
    """(pre population, post population, edge indices) of the selected edges, sorted by pair."""
    edges = np.flatnonzero(sel)
    pp, qp = pop_of[pre[edges]], pop_of[post[edges]]
    order = np.lexsort((edges, qp, pp))
    edges, pp, qp = edges[order], pp[order], qp[order]
    cut = np.flatnonzero((np.diff(pp) != 0) | (np.diff(qp) != 0)) + 1
    for part in np.split(np.arange(len(edges)), cut):
        if len(part):
            yield int(pp[part[0]]), int(qp[part[0]]), edges[part]


def _projections(nml, net, pid, synapse, sel, pre, post, w, pop_of, idx_in_pop) -> tuple[int, int]:
    n_proj = n_conn = 0
    for a, b, edges in _groups(sel, pre, post, pop_of):
        conns = [nml.ConnectionWD(id=j, pre_cell_id=_cell_path(a, int(idx_in_pop[pre[e]])), post_cell_id=_cell_path(b, int(idx_in_pop[post[e]])),
                                  weight=float(w[e]), delay="0ms") for j, e in enumerate(edges)]
        net.projections.append(nml.Projection(id=f"{pid}_{a}_{b}", presynaptic_population=f"pop_{a}",
                                              postsynaptic_population=f"pop_{b}", synapse=synapse, connection_wds=conns))
        n_proj += 1
        n_conn += len(conns)
    return n_proj, n_conn


def _continuous(nml, net, pid, component, sel, pre, post, w, pop_of, idx_in_pop) -> int:
    n = 0
    for a, b, edges in _groups(sel, pre, post, pop_of):
        conns = [nml.ContinuousConnectionInstanceW(id=j, pre_cell=_cell_path(a, int(idx_in_pop[pre[e]])),
                                                   post_cell=_cell_path(b, int(idx_in_pop[post[e]])), pre_component="silent",
                                                   post_component=component, weight=float(w[e])) for j, e in enumerate(edges)]
        net.continuous_projections.append(nml.ContinuousProjection(id=f"{pid}_{a}_{b}", presynaptic_population=f"pop_{a}",
                                                                   postsynaptic_population=f"pop_{b}", continuous_connection_instance_ws=conns))
        n += len(conns)
    return n


def _gap_junctions(nml, doc, net, circuit: Circuit, bio: Biophysics, pop_of, idx_in_pop) -> int:
    gj = circuit.gap_junctions
    if not len(gj):
        return 0
    doc.gap_junctions.append(nml.GapJunction(id="gap", conductance=f"{bio.gap_unit_pS!r}pS"))
    a = circuit.index_of(gj["a"].to_numpy())
    b = circuit.index_of(gj["b"].to_numpy())
    count = gj["connexin_count"].to_numpy()
    sel = np.ones(len(a), bool)
    for x, y, edges in _groups(sel, a, b, pop_of):
        conns = [nml.ElectricalConnectionInstanceW(id=j, pre_cell=_cell_path(x, int(idx_in_pop[a[e]])), post_cell=_cell_path(y, int(idx_in_pop[b[e]])),
                                                   synapse="gap", weight=float(count[e])) for j, e in enumerate(edges)]
        net.electrical_projections.append(nml.ElectricalProjection(id=f"gap_{x}_{y}", presynaptic_population=f"pop_{x}",
                                                                   postsynaptic_population=f"pop_{y}", electrical_connection_instance_ws=conns))
    return len(gj)
