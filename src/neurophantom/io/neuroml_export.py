"""Export a Circuit to NeuroML 2 (libNeuroML) with its stimulus, initial state and a LEMS
simulation file, for every channel and receptor of the biophysics library.

Three files, written atomically side by side (``X.net.nml`` names the set):

- ``X.net.nml``: the NeuroML document, valid under the NeuroML 2.3.1 schema and
  ``pynml -validate``:

  - one single-compartment ``cell`` per distinct membrane and initial state (area,
    channel densities, initial voltage and calcium): a sphere of the neuron's membrane
    area, ``channelDensity`` entries (density x unitary conductance, the channel's
    reversal), specific capacitance, spike threshold, initial potential; with a calcium
    channel or a calcium-activated one, a ``fixedFactorConcentrationModel`` calcium pool
    whose ``rho = 1/(2 F shell)`` and decay are the engine's pool exactly;
  - ion channels: ``na``/``kdr`` as ``ionChannelHH`` with the Traub-Miles rates in
    NeuroML's standard forms (exact, including ``VT_mV``), ``leak`` as
    ``ionChannelPassive``, ``cal`` (``HHSigmoidVariable`` and ``fixedTimeCourse``),
    ``ka``, ``hcn`` and ``kca`` with gate types from :mod:`.neuroml_types` where no
    standard form exists (``<ComponentType>`` elements in the same document);
  - event synapses from spiking neurons: ``expOneSynapse`` (no rise time),
    ``expTwoSynapse`` (peak-normalised double exponential, as the engine's) or
    ``blockingPlasticSynapse`` with the Jahr-Stevens magnesium block
    (``voltageConcDepBlockMechanism``: scaling 3.57 mM and 1/0.062 mV), base 1 nS,
    ``connectionWD`` weights in nS, one connection per synapse row;
  - kinetic synapses (graded presynaptic neurons, or every synapse with
    ``transmission="kinetic"``): ``continuousProjection`` from a ``silentSynapse`` to an
    ``npKineticSynapse`` (Destexhe et al. 1994, :mod:`.neuroml_types`);
  - gap junctions: ``electricalProjection`` of one channel's ``gapJunction`` weighted by
    the connexin count;
  - the stimulus and initial synaptic conductances as ``inputList`` entries
    (:mod:`.neuroml_inputs`).

- ``X.components.xml``: LEMS ``<Component>`` instances of the custom synapse and input
  types (NeuroML's schema has no element for instances of custom types), when there are any;
- ``LEMS_X.xml``: the LEMS simulation (duration, step, spike and voltage output files) that
  ``pynml LEMS_X.xml`` runs with jNeuroML (:mod:`.neuroml_run`).

What differs from the engine, by construction: jNeuroML integrates with forward Euler (the
engine with exponential Euler), so both converge to the same ODE solution as dt shrinks;
a NeuroML cell spikes on each upward threshold crossing, the engine on ``V > threshold``
outside a refractory period (the same spikes unless V stays above threshold for longer
than the refractory period); an event reaches its synapse in jNeuroML one step later.
Gates start at their steady state for the initial voltage (gate overrides in the initial
state are refused). Unobserved (NaN) densities and stimulus noise are refused.

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
from typing import Any, Mapping

import numpy as np

from .._errors import NeurophantomError
from ..biophysics.library import Biophysics
from ..biophysics.model import biophysics_for
from ..types.circuit import Circuit
from ..types.stimulus import Stimulus
from . import neuroml_types as types
from ._atomic import atomic_write_bytes
from .neuroml_inputs import InputSpec, initial_conductance_inputs, stimulus_inputs
from .neuroml_network import add_connections

FARADAY_C_PER_MOL = 96485.33212  # as the engine's calcium pool (biophysics/model.py)
SCHEMA = "NeuroML_v2.3.1.xsd"


@dataclasses.dataclass(frozen=True)
class NeuroMLSummary:
    """Counts of what was written (for checks and the CLI), and the files."""

    cells: int
    populations: int
    neurons: int
    projections: int
    connections: int
    electrical_connections: int
    continuous_connections: int = 0
    inputs: int = 0
    files: tuple[str, ...] = ()


def _traub_miles(nml, rec):
    vt = float(rec.params["VT_mV"])
    rate = lambda kind, r, mid, scale: nml.HHRate(type=kind, rate=f"{r}per_ms", midpoint=f"{mid}mV", scale=f"{scale}mV")  # noqa: E731
    if rec.name == "na":
        return {"gate_hh_rates": [
            nml.GateHHRates(id="m", instances=3, forward_rate=rate("HHExpLinearRate", 1.28, vt + 13, 4),
                            reverse_rate=rate("HHExpLinearRate", 1.4, vt + 40, -5)),
            nml.GateHHRates(id="h", instances=1, forward_rate=rate("HHExpRate", 0.128, vt + 17, -18),
                            reverse_rate=rate("HHSigmoidRate", 4.0, vt + 40, 5))]}
    return {"gate_hh_rates": [nml.GateHHRates(id="n", instances=4, forward_rate=rate("HHExpLinearRate", 0.16, vt + 15, 5),
                                              reverse_rate=rate("HHExpRate", 0.5, vt + 10, -40))]}


def _channels(nml, bio: Biophysics, names) -> list:
    out = []
    for ch in names:
        rec = bio.channel(ch)
        if ch == "leak":
            out.append(nml.IonChannel(id="leak", type="ionChannelPassive", conductance=f"{rec.g_unit_pS!r}pS"))
            continue
        if ch in ("na", "kdr"):
            gates = _traub_miles(nml, rec)
        elif ch in ("cal", "ka", "hcn", "kca"):
            gates = types.gates(nml, ch, rec.params)
        else:
            raise NeurophantomError(f"channel {ch!r} has no NeuroML form; cannot export this circuit")
        out.append(nml.IonChannelHH(id=ch, species=rec.ion, conductance=f"{rec.g_unit_pS!r}pS",
                                    notes=f"{rec.reference}; exact library kinetics", **gates))
    return out


@dataclasses.dataclass(frozen=True)
class _Membrane:
    area_um2: float
    dens: dict
    v0_mV: float
    ca0_uM: float | None  # None: no calcium pool


def _cell(nml, k: int, mem: _Membrane, bio: Biophysics, thr_mV: float):
    diam = math.sqrt(mem.area_um2 / math.pi)  # sphere of the neuron's membrane area
    seg = nml.Segment(id=0, name="soma", proximal=nml.Point3DWithDiam(x=0, y=0, z=0, diameter=diam),
                      distal=nml.Point3DWithDiam(x=0, y=0, z=0, diameter=diam))
    morph = nml.Morphology(id=f"morph_{k}", segments=[seg], segment_groups=[nml.SegmentGroup(id="all", members=[nml.Member(segments=0)])])
    cds = []
    for ch, d in mem.dens.items():
        rec = bio.channel(ch)
        g_mS_cm2 = d * rec.g_unit_pS * 0.1  # pS/um^2 -> mS/cm^2
        cds.append(nml.ChannelDensity(id=f"{ch}_all", ion_channel=ch, cond_density=f"{g_mS_cm2!r}mS_per_cm2",
                                      erev=f"{rec.E_mV!r}mV", ion=rec.ion if ch != "leak" else "non_specific", segment_groups="all"))
    mem_props = nml.MembraneProperties(
        channel_densities=cds,
        spike_threshes=[nml.SpikeThresh(value=f"{thr_mV!r}mV")],
        specific_capacitances=[nml.SpecificCapacitance(value=f"{bio.cm_pF_per_um2 * 100.0!r}uF_per_cm2")],
        init_memb_potentials=[nml.InitMembPotential(value=f"{mem.v0_mV!r}mV")],
    )
    species = []
    if mem.ca0_uM is not None:
        species = [nml.Species(id="ca", ion="ca", concentration_model="ca_pool", initial_concentration=f"{mem.ca0_uM * 1e-3!r}mM",
                               initial_ext_concentration="2mM", segment_groups="all")]
    intra = nml.IntracellularProperties(resistivities=[nml.Resistivity(value="0.1kohm_cm")], species=species)
    return nml.Cell(id=f"cell_{k}", morphology=morph, biophysical_properties=nml.BiophysicalProperties(
        id=f"bio_{k}", membrane_properties=mem_props, intracellular_properties=intra))


def _calcium_pool(nml, bio: Biophysics):
    """The engine's pool: d[Ca]/dt = (rest - Ca)/tau + I_Ca/(2 F area shell), as fixedFactorConcentrationModel."""
    rho = 1.0 / (2.0 * FARADAY_C_PER_MOL * bio.ca_shell_um * 1e-6)  # mol / (m A s)
    return nml.FixedFactorConcentrationModel(id="ca_pool", ion="ca", resting_conc=f"{bio.ca_rest_uM * 1e-3!r}mM",
                                             decay_constant=f"{bio.ca_tau_ms!r}ms", rho=f"{rho!r}mol_per_m_per_A_per_s")


def _check(circuit: Circuit, init: Mapping[str, Any]) -> None:
    for table, cols in (("neurons", circuit.channel_types), ("synapses", circuit.receptor_types)):
        df = getattr(circuit, table)
        for c in cols:
            if np.isnan(df[c].to_numpy()).any():
                raise NeurophantomError(f"cannot export unobserved (NaN) {table} column {c!r} to NeuroML")
    gates = [k for k in init if k.startswith("gate.")]
    if gates:
        raise NeurophantomError(f"cannot export initial gate values {gates} to NeuroML (gates start at steady state there)")
    unknown = set(init) - {"v", "ca"} - {k for k in init if k.startswith("g_syn.")} - set(gates)
    if unknown:
        raise NeurophantomError(f"unknown initial-state variable(s) {sorted(unknown)}")


def _membranes(circuit: Circuit, bio: Biophysics, chans, init) -> tuple[list[_Membrane], np.ndarray]:
    nrn = circuit.neurons
    n = len(nrn)
    has_ca = any(bio.channel(c).carries_calcium or bio.channel(c).calcium_dependent for c in chans)
    leak_E = bio.channel("leak").E_mV if "leak" in chans else -65.0
    v0 = np.broadcast_to(np.asarray(init.get("v", leak_E), np.float64), (n,))
    ca0 = np.broadcast_to(np.asarray(init.get("ca", bio.ca_rest_uM), np.float64), (n,))
    key = np.column_stack([nrn["area_um2"].to_numpy(), v0, ca0] + [nrn[c].to_numpy() for c in chans])
    uniq, cell_of = np.unique(key, axis=0, return_inverse=True)
    mems = [_Membrane(float(r[0]), dict(zip(chans, map(float, r[3:]))), float(r[1]), float(r[2]) if has_ca else None) for r in uniq]
    return mems, cell_of.ravel()


def to_neuroml(circuit: Circuit, biophysics: Biophysics | None = None, *, network_id: str = "network",
               spike_threshold_mV: float = -20.0, stimulus: Stimulus | None = None, init: Mapping[str, Any] | None = None,
               transmission: str = "event"):
    """Build the NeuroML document of ``circuit`` (see module docstring).

    Returns (document, LEMS component texts, summary, neuron placement): the placement maps
    each neuron (Circuit order) to its population index and index in that population.
    """
    import neuroml as nml

    if transmission not in ("event", "kinetic"):
        raise NeurophantomError(f"unknown transmission {transmission!r} (expected 'event' or 'kinetic')")
    init = dict(init or {})
    bio = biophysics if biophysics is not None else biophysics_for(circuit)
    _check(circuit, init)
    nrn = circuit.neurons
    chans = [c for c in circuit.channel_types if np.any(nrn[c].to_numpy() > 0)]
    doc = nml.NeuroMLDocument(id=network_id, notes=f"neurophantom export of a {circuit.provenance.source} circuit")
    kin = {c: dict(bio.channel(c).params) for c in chans}
    doc.ComponentType.extend(types.gate_types(nml, kin) + types.synapse_and_input_types(nml))
    for ch in _channels(nml, bio, chans):
        doc.ion_channel_hhs.append(ch) if isinstance(ch, nml.IonChannelHH) else doc.ion_channel.append(ch)
    mems, cell_of = _membranes(circuit, bio, chans, init)
    if mems[0].ca0_uM is not None:
        doc.fixed_factor_concentration_models.append(_calcium_pool(nml, bio))
    net = nml.Network(id=network_id)
    pop_of, idx_in_pop = np.zeros(len(nrn), np.int64), np.zeros(len(nrn), np.int64)
    for k, mem in enumerate(mems):
        doc.cells.append(_cell(nml, k, mem, bio, spike_threshold_mV))
        members = np.flatnonzero(cell_of == k)
        pop_of[members], idx_in_pop[members] = k, np.arange(len(members))
        inst = [nml.Instance(id=int(j), location=nml.Location(x=float(nrn["x_um"].iat[i]), y=float(nrn["y_um"].iat[i]), z=float(nrn["z_um"].iat[i])))
                for j, i in enumerate(members)]
        net.populations.append(nml.Population(id=f"pop_{k}", component=f"cell_{k}", type="populationList", size=len(members), instances=inst))
    counts, lems = add_connections(nml, doc, net, circuit, bio, pop_of, idx_in_pop, transmission)
    specs = stimulus_inputs(nml, stimulus, circuit.index_of, len(nrn))
    specs += initial_conductance_inputs(init, {r: bio.receptor(r) for r in circuit.receptor_types}, bio.mg_mM, len(nrn))
    n_inputs = _add_inputs(nml, doc, net, specs, pop_of, idx_in_pop, lems)
    doc.networks.append(net)
    summary = NeuroMLSummary(cells=len(mems), populations=len(mems), neurons=len(nrn), inputs=n_inputs, **counts)
    return doc, lems, summary, (pop_of, idx_in_pop)


def _add_inputs(nml, doc, net, specs: list[InputSpec], pop_of, idx_in_pop, lems: list[str]) -> int:
    n = 0
    for s in specs:
        if s.standard is not None:
            doc.pulse_generators.append(s.standard)
        else:
            lems.append(s.lems)
        for pop in sorted(set(pop_of[s.neurons].tolist())):
            sel = pop_of[s.neurons] == pop
            ws = [nml.InputW(id=j, target=f"../pop_{pop}/{int(idx_in_pop[i])}/cell_{pop}", destination="synapses", weight=float(w))
                  for j, (i, w) in enumerate(zip(s.neurons[sel], s.weights[sel]))]
            net.input_lists.append(nml.InputList(id=f"in_{s.id}_{pop}", populations=f"pop_{pop}", component=s.id, input_ws=ws))
            n += len(ws)
    return n


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


def sibling_paths(path: str | Path) -> tuple[Path, Path, Path]:
    """(``X.net.nml``, ``X.components.xml``, ``LEMS_X.xml``) of an export named by ``path``."""
    p = Path(path)
    stem = p.name[: -len(".net.nml")] if p.name.endswith(".net.nml") else p.stem
    return p, p.with_name(f"{stem}.components.xml"), p.with_name(f"LEMS_{stem}.xml")


def write_neuroml(circuit: Circuit, path: str | Path, biophysics: Biophysics | None = None, *,
                  spike_threshold_mV: float = -20.0, stimulus: Stimulus | None = None, init: Mapping[str, Any] | None = None,
                  duration_ms: float | None = None, dt_ms: float = 0.025, transmission: str = "event",
                  record_v: bool = True) -> NeuroMLSummary:
    """Export ``circuit`` to ``path`` (``X.net.nml``) plus ``X.components.xml`` and ``LEMS_X.xml``.

    Parameters
    ----------
    stimulus, init
        Inputs and initial state as for :func:`~neurophantom.engine.simulate` (no noise,
        no gate overrides).
    duration_ms, dt_ms
        Simulated time (default: the stimulus's, else 100 ms) and jNeuroML's step.
    transmission
        ``"event"`` or ``"kinetic"``, as :func:`~neurophantom.biophysics.build_model`.
    record_v
        Write every neuron's membrane potential (besides the spikes) in the simulation.
    """
    import neuroml.writers as writers

    from .neuroml_run import lems_simulation

    if not (dt_ms > 0):
        raise NeurophantomError(f"dt_ms must be > 0, got {dt_ms}")
    duration = float(duration_ms if duration_ms is not None else stimulus.duration_ms if stimulus is not None else 100.0)
    if not (duration > 0):
        raise NeurophantomError(f"duration_ms must be > 0, got {duration}")
    nml_path, comp_path, lems_path = sibling_paths(path)
    doc, lems, summary, placement = to_neuroml(circuit, biophysics, spike_threshold_mV=spike_threshold_mV, stimulus=stimulus,
                                               init=init, transmission=transmission)
    comp = '<?xml version="1.0" encoding="UTF-8"?>\n<Lems>\n' + "\n".join(f"  {c}" for c in lems) + "\n</Lems>\n"
    spiking = (circuit.neurons["release"] == "spike").to_numpy()
    sim = lems_simulation(doc, nml_path.name, comp_path.name if lems else None, placement, spiking, duration_ms=duration, dt_ms=dt_ms,
                          record_v=record_v, stem=lems_path.stem)
    with tempfile.TemporaryDirectory(prefix="np_nml_") as d:
        tmp = Path(d) / nml_path.name
        writers.NeuroMLWriter.write(doc, str(tmp))
        validate(tmp)
        if lems:  # jLEMS refuses an empty <Lems> include
            atomic_write_bytes(comp_path, comp.encode())
        elif comp_path.exists():
            comp_path.unlink()  # a stale one from an earlier export
        atomic_write_bytes(lems_path, sim.encode())
        atomic_write_bytes(nml_path, tmp.read_bytes())
    files = (nml_path,) + ((comp_path,) if lems else ()) + (lems_path,)
    return dataclasses.replace(summary, files=tuple(str(f) for f in files))
