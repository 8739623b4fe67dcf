"""Export a Circuit to a NeuroML 2 document (libNeuroML), validated against the schema.

What is written, for the channel and receptor models of a
:class:`~neurophantom.biophysics.Biophysics`:

- one single-compartment ``Cell`` per distinct membrane (area and channel densities): a
  spherical soma with the neuron's membrane area, ``ChannelDensity`` entries (density x
  unitary conductance as mS/cm^2, the channel's reversal), specific capacitance, spike
  threshold and initial potential;
- ion channels: ``na`` and ``kdr`` as ``ionChannelHH`` with the Traub-Miles rates written
  in NeuroML's standard forms (``HHExpLinearRate``, ``HHExpRate``, ``HHSigmoidRate``;
  exact, including ``VT_mV``), ``leak`` as ``ionChannelPassive``;
- one ``Population`` (a list of instances at the soma positions) per cell;
- one synapse component per receptor type (``expOneSynapse`` when ``tau_rise_ms`` is 0,
  else ``expTwoSynapse``, base conductance 1 nS) and one ``Projection`` per (presynaptic
  population, postsynaptic population, receptor) with ``connectionWD`` weights in nS
  (density x contact area x unitary conductance);
- gap junctions as an ``electricalProjection`` of a ``gapJunction`` of one channel's
  conductance, weighted by the connexin count.

Not exported (an error names them): channels other than ``na``, ``kdr``, ``leak`` (their
kinetics have no NeuroML standard form), synapses from graded (non-spiking) neurons (the
Destexhe release kinetics differ from NeuroML's ``gradedSynapse``), NMDA magnesium block,
unobserved (NaN) densities.

References
----------
Cannon RC, Gleeson P, Crook S, et al. (2014) LEMS: a language for expressing complex
biological models in concise and hierarchical form and its use in underpinning NeuroML 2.
Front Neuroinform 8:79.
Vella M, Cannon RC, Crook S, et al. (2014) libNeuroML and PyLEMS: using Python
combined with the new XML-based NeuroML 2 standard. Front Neuroinform 8:38.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from pathlib import Path

import numpy as np

from .._errors import NeurophantomError
from ..biophysics.library import Biophysics
from ..biophysics.model import biophysics_for
from ..types.circuit import Circuit
from ._atomic import atomic_write_bytes

EXPORTED_CHANNELS = ("na", "kdr", "leak")
SCHEMA = "NeuroML_v2.3.1.xsd"


@dataclasses.dataclass(frozen=True)
class NeuroMLSummary:
    """Counts of what was written (for checks and the CLI)."""

    cells: int
    populations: int
    neurons: int
    projections: int
    connections: int
    electrical_connections: int


def _channels(nml, bio: Biophysics, names) -> list:
    out = []
    for ch in names:
        rec = bio.channel(ch)
        if ch == "leak":
            out.append(nml.IonChannel(id="leak", type="ionChannelPassive", conductance="1pS" if rec.g_unit_pS == 1.0 else f"{rec.g_unit_pS}pS"))
            continue
        vt = float(rec.params["VT_mV"])
        rate = lambda kind, r, mid, scale: nml.HHRate(type=kind, rate=f"{r}per_ms", midpoint=f"{mid}mV", scale=f"{scale}mV")  # noqa: E731
        if ch == "na":
            gates = [
                nml.GateHHRates(id="m", instances=3, forward_rate=rate("HHExpLinearRate", 1.28, vt + 13, 4),
                                reverse_rate=rate("HHExpLinearRate", 1.4, vt + 40, -5)),
                nml.GateHHRates(id="h", instances=1, forward_rate=rate("HHExpRate", 0.128, vt + 17, -18),
                                reverse_rate=rate("HHSigmoidRate", 4.0, vt + 40, 5)),
            ]
        else:
            gates = [nml.GateHHRates(id="n", instances=4, forward_rate=rate("HHExpLinearRate", 0.16, vt + 15, 5),
                                     reverse_rate=rate("HHExpRate", 0.5, vt + 10, -40))]
        out.append(nml.IonChannelHH(id=ch, species=rec.ion, conductance=f"{rec.g_unit_pS}pS", gate_hh_rates=gates,
                                    notes=f"{rec.reference}; exact Traub-Miles rates with VT = {vt} mV"))
    return out


def _cell(nml, k: int, area_um2: float, dens: dict, bio: Biophysics, v_init_mV: float, thr_mV: float):
    diam = math.sqrt(area_um2 / math.pi)  # sphere of the neuron's membrane area
    seg = nml.Segment(id=0, name="soma", proximal=nml.Point3DWithDiam(x=0, y=0, z=0, diameter=diam),
                      distal=nml.Point3DWithDiam(x=0, y=0, z=0, diameter=diam))
    morph = nml.Morphology(id=f"morph_{k}", segments=[seg], segment_groups=[nml.SegmentGroup(id="all", members=[nml.Member(segments=0)])])
    cds = []
    for ch, d in dens.items():
        rec = bio.channel(ch)
        g_mS_cm2 = d * rec.g_unit_pS * 0.1  # pS/um^2 -> mS/cm^2
        cds.append(nml.ChannelDensity(id=f"{ch}_all", ion_channel=ch, cond_density=f"{g_mS_cm2!r}mS_per_cm2",
                                      erev=f"{rec.E_mV!r}mV", ion=rec.ion if ch != "leak" else "non_specific", segment_groups="all"))
    mem = nml.MembraneProperties(
        channel_densities=cds,
        spike_threshes=[nml.SpikeThresh(value=f"{thr_mV!r}mV")],
        specific_capacitances=[nml.SpecificCapacitance(value=f"{bio.cm_pF_per_um2 * 100.0!r}uF_per_cm2")],
        init_memb_potentials=[nml.InitMembPotential(value=f"{v_init_mV!r}mV")],
    )
    intra = nml.IntracellularProperties(resistivities=[nml.Resistivity(value="0.1kohm_cm")])
    return nml.Cell(id=f"cell_{k}", morphology=morph, biophysical_properties=nml.BiophysicalProperties(
        id=f"bio_{k}", membrane_properties=mem, intracellular_properties=intra))


def _check(circuit: Circuit, bio: Biophysics) -> None:
    other = [c for c in circuit.channel_types if c not in EXPORTED_CHANNELS and np.any(circuit.neurons[c].to_numpy() != 0)]
    if other:
        raise NeurophantomError(f"cannot export channel(s) {other} to NeuroML (no standard form; exported: {', '.join(EXPORTED_CHANNELS)})")
    for table, cols in (("neurons", circuit.channel_types), ("synapses", circuit.receptor_types)):
        df = getattr(circuit, table)
        for c in cols:
            if np.isnan(df[c].to_numpy()).any():
                raise NeurophantomError(f"cannot export unobserved (NaN) {table} column {c!r} to NeuroML")
    graded = set(circuit.neurons.loc[circuit.neurons["release"] == "graded", "id"].to_numpy().tolist())
    syn = circuit.synapses
    if len(syn) and syn["pre"].isin(graded).any():
        raise NeurophantomError("cannot export synapses from graded (non-spiking) neurons to NeuroML (release kinetics differ from gradedSynapse)")
    blocked = [r for r in circuit.receptor_types if bio.receptor(r).mg_block and len(syn) and np.any(syn[r].to_numpy() > 0)]
    if blocked:
        raise NeurophantomError(f"cannot export magnesium-blocked receptor(s) {blocked} to NeuroML")


def to_neuroml(circuit: Circuit, biophysics: Biophysics | None = None, *, network_id: str = "network",
               spike_threshold_mV: float = -20.0):
    """Build the NeuroML document of ``circuit`` (see module docstring); returns (document, summary)."""
    import neuroml as nml

    bio = biophysics if biophysics is not None else biophysics_for(circuit)
    _check(circuit, bio)
    nrn = circuit.neurons
    chans = [c for c in circuit.channel_types if np.any(nrn[c].to_numpy() > 0)]
    doc = nml.NeuroMLDocument(id=network_id, notes=f"neurophantom export of a {circuit.provenance.source} circuit")
    for ch in _channels(nml, bio, chans):
        doc.ion_channel_hhs.append(ch) if isinstance(ch, nml.IonChannelHH) else doc.ion_channel.append(ch)
    v0 = next((bio.channel("leak").E_mV for c in chans if c == "leak"), -65.0)
    key = np.column_stack([nrn["area_um2"].to_numpy()] + [nrn[c].to_numpy() for c in chans])
    uniq, cell_of = np.unique(key, axis=0, return_inverse=True)
    cell_of = cell_of.ravel()
    net = nml.Network(id=network_id)
    pop_of, idx_in_pop = np.zeros(len(nrn), np.int64), np.zeros(len(nrn), np.int64)
    for k, row in enumerate(uniq):
        doc.cells.append(_cell(nml, k, float(row[0]), dict(zip(chans, map(float, row[1:]))), bio, v0, spike_threshold_mV))
        members = np.flatnonzero(cell_of == k)
        pop_of[members], idx_in_pop[members] = k, np.arange(len(members))
        inst = [nml.Instance(id=int(j), location=nml.Location(x=float(nrn["x_um"].iat[i]), y=float(nrn["y_um"].iat[i]), z=float(nrn["z_um"].iat[i])))
                for j, i in enumerate(members)]
        net.populations.append(nml.Population(id=f"pop_{k}", component=f"cell_{k}", type="populationList", size=len(members), instances=inst))
    n_proj, n_conn = _projections(nml, doc, net, circuit, bio, pop_of, idx_in_pop)
    n_gap = _gap_junctions(nml, doc, net, circuit, bio, pop_of, idx_in_pop)
    doc.networks.append(net)
    return doc, NeuroMLSummary(cells=len(uniq), populations=len(uniq), neurons=len(nrn), projections=n_proj,
                               connections=n_conn, electrical_connections=n_gap)


def _cell_path(pop: int, i: int) -> str:
    return f"../pop_{pop}/{i}/cell_{pop}"


def _projections(nml, doc, net, circuit: Circuit, bio: Biophysics, pop_of, idx_in_pop) -> tuple[int, int]:
    syn = circuit.synapses
    if not len(syn):
        return 0, 0
    pre = circuit.index_of(syn["pre"].to_numpy())
    post = circuit.index_of(syn["post"].to_numpy())
    area = syn["contact_area_um2"].to_numpy()
    n_proj = n_conn = 0
    for r in circuit.receptor_types:
        rec = bio.receptor(r)
        w = syn[r].to_numpy() * area * rec.g_unit_pS * 1e-3  # nS
        on = w > 0
        if not on.any():
            continue
        if rec.tau_rise_ms > 0:
            doc.exp_two_synapses.append(nml.ExpTwoSynapse(id=f"syn_{r}", gbase="1nS", erev=f"{rec.E_mV!r}mV",
                                                          tau_rise=f"{rec.tau_rise_ms!r}ms", tau_decay=f"{rec.tau_decay_ms!r}ms"))
        else:
            doc.exp_one_synapses.append(nml.ExpOneSynapse(id=f"syn_{r}", gbase="1nS", erev=f"{rec.E_mV!r}mV", tau_decay=f"{rec.tau_decay_ms!r}ms"))
        pp, qp = pop_of[pre[on]], pop_of[post[on]]
        for a, b in sorted(set(zip(pp.tolist(), qp.tolist()))):
            sel = np.flatnonzero(on)[(pp == a) & (qp == b)]
            conns = [nml.ConnectionWD(id=j, pre_cell_id=_cell_path(a, int(idx_in_pop[pre[e]])), post_cell_id=_cell_path(b, int(idx_in_pop[post[e]])),
                                      weight=float(w[e]), delay="0ms") for j, e in enumerate(sel)]
            net.projections.append(nml.Projection(id=f"proj_{r}_{a}_{b}", presynaptic_population=f"pop_{a}",
                                                  postsynaptic_population=f"pop_{b}", synapse=f"syn_{r}", connection_wds=conns))
            n_proj += 1
            n_conn += len(conns)
    return n_proj, n_conn


def _gap_junctions(nml, doc, net, circuit: Circuit, bio: Biophysics, pop_of, idx_in_pop) -> int:
    gj = circuit.gap_junctions
    if not len(gj):
        return 0
    doc.gap_junctions.append(nml.GapJunction(id="gap", conductance=f"{bio.gap_unit_pS!r}pS"))
    a = circuit.index_of(gj["a"].to_numpy())
    b = circuit.index_of(gj["b"].to_numpy())
    count = gj["connexin_count"].to_numpy()
    pa, pb = pop_of[a], pop_of[b]
    for x, y in sorted(set(zip(pa.tolist(), pb.tolist()))):
        sel = np.flatnonzero((pa == x) & (pb == y))
        conns = [nml.ElectricalConnectionInstanceW(id=j, pre_cell=_cell_path(x, int(idx_in_pop[a[e]])), post_cell=_cell_path(y, int(idx_in_pop[b[e]])),
                                                   synapse="gap", weight=float(count[e])) for j, e in enumerate(sel)]
        net.electrical_projections.append(nml.ElectricalProjection(id=f"gap_{x}_{y}", presynaptic_population=f"pop_{x}",
                                                                   postsynaptic_population=f"pop_{y}", electrical_connection_instance_ws=conns))
    return len(gj)


def validate(path: str | Path) -> None:
    """Validate a NeuroML file against the schema shipped with libNeuroML (offline; lxml)."""
    from lxml import etree
    import neuroml

    xsd = Path(neuroml.__file__).parent / "nml" / SCHEMA
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    doc = etree.parse(str(path))
    if not schema.validate(doc):
        err = schema.error_log.last_error
        raise NeurophantomError(f"NeuroML file {path} is not valid against {SCHEMA}: line {err.line}: {err.message}")


def write_neuroml(circuit: Circuit, path: str | Path, biophysics: Biophysics | None = None, *,
                  spike_threshold_mV: float = -20.0) -> NeuroMLSummary:
    """Export ``circuit`` to ``path`` (``.net.nml``), atomically, after schema validation."""
    import neuroml.writers as writers

    doc, summary = to_neuroml(circuit, biophysics, spike_threshold_mV=spike_threshold_mV)
    with tempfile.TemporaryDirectory(prefix="np_nml_") as d:
        tmp = Path(d) / Path(path).name
        writers.NeuroMLWriter.write(doc, str(tmp))
        validate(tmp)
        atomic_write_bytes(path, tmp.read_bytes())
    return summary
