"""NeuroML 2 export: schema validity, round-trip counts and weights, exact channel rates,
the calcium pool, kinetic synapses, inputs and initial state (jNeuroML itself runs in
test_neuroml_jnml.py).

Oracles: the NeuroML 2.3.1 XML schema shipped with libNeuroML (lxml validation);
libNeuroML's own reader for the round trip (counts and weights against the Circuit's
tables); the NeuroML core-type definitions of ``HHExpRate``, ``HHSigmoidRate`` and
``HHExpLinearRate`` (NeuroML2CoreTypes/Channels.xml) evaluated on the exported
parameters against the library's Traub-Miles kinetics.
"""

from pathlib import Path

import numpy as np
import pytest

from neurophantom import NeurophantomError
from neurophantom.biophysics import biophysics_for, build_model
from neurophantom.biophysics.channels.hh import _kdr_kinetics, _na_kinetics
from neurophantom.io.neuroml_export import to_neuroml, validate, write_neuroml
from neurophantom.sources import build_source
from neurophantom.sources.minimal import hh_cells
from neurophantom.types.stimulus import Noise, Pulses, Step, Stimulus, Waveform

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def cobahh(tmp_path_factory):
    circuit = build_source("cobahh", seed=3, options={"n_neurons": 400})
    path = tmp_path_factory.mktemp("nml") / "cobahh.net.nml"
    summary = write_neuroml(circuit, path)
    import neuroml.loaders

    return circuit, path, summary, neuroml.loaders.read_neuroml2_file(str(path))


def test_file_is_schema_valid(cobahh):
    _, path, _, _ = cobahh
    validate(path)  # raises on any schema violation


def test_round_trip_counts_and_weights(cobahh):
    circuit, _, summary, doc = cobahh
    net = doc.networks[0]
    assert sum(p.size for p in net.populations) == circuit.n_neurons == summary.neurons
    assert sum(len(p.instances) for p in net.populations) == circuit.n_neurons
    conns = {pr.synapse: [c for c in pr.connection_wds] for pr in net.projections}
    syn = circuit.synapses
    bio = biophysics_for(circuit)
    for rec in ("ampa", "gaba_a"):
        rows = syn[syn[rec] > 0]
        w = rows[rec] * rows["contact_area_um2"] * bio.receptor(rec).g_unit_pS * 1e-3
        got = np.array([float(c.weight) for c in conns[f"syn_{rec}"]])
        assert len(got) == len(rows)
        np.testing.assert_allclose(np.sort(got), np.sort(w.to_numpy()), rtol=1e-12)
    assert sum(len(v) for v in conns.values()) == len(syn) == summary.connections
    # single-exponential receptors as in the COBAHH header overrides
    assert {s.id for s in doc.exp_one_synapses} == {"syn_ampa", "syn_gaba_a"}
    taus = {s.id: s.tau_decay for s in doc.exp_one_synapses}
    assert taus == {"syn_ampa": "5.0ms", "syn_gaba_a": "10.0ms"}


def test_channel_densities_are_the_benchmark_values(cobahh):
    _, _, _, doc = cobahh
    (cell,) = doc.cells
    dens = {cd.ion_channel: cd.cond_density for cd in cell.biophysical_properties.membrane_properties.channel_densities}
    assert dens == {"na": "100.0mS_per_cm2", "kdr": "30.0mS_per_cm2", "leak": "0.05mS_per_cm2"}
    diam = cell.morphology.segments[0].proximal.diameter
    assert np.pi * float(diam) ** 2 == pytest.approx(20000.0, rel=1e-12)


def _neuroml_rate(rate, v):
    """NeuroML2 core-type rate (per ms) at membrane potential v (mV)."""
    r, mid, scale = (float(str(x).replace(u, "")) for x, u in ((rate.rate, "per_ms"), (rate.midpoint, "mV"), (rate.scale, "mV")))
    x = (v - mid) / scale
    if rate.type == "HHExpRate":
        return r * np.exp(x)
    if rate.type == "HHSigmoidRate":
        return r / (1 + np.exp(-x))
    assert rate.type == "HHExpLinearRate"
    return r * x / -np.expm1(-x)


def test_exported_rates_equal_library_kinetics(cobahh):
    _, _, _, doc = cobahh
    v = np.linspace(-100.0, 60.0, 4001) + 1e-7  # avoid the removable singular points exactly
    p = {"VT_mV": -63.0}
    lib = {("na", "m"): _na_kinetics(v, None, p)[0], ("na", "h"): _na_kinetics(v, None, p)[1],
           ("kdr", "n"): _kdr_kinetics(v, None, p)[0]}
    for ch in doc.ion_channel_hhs:
        for gate in ch.gate_hh_rates:
            a, b = _neuroml_rate(gate.forward_rate, v), _neuroml_rate(gate.reverse_rate, v)
            x_inf, tau = lib[(ch.id, gate.id)]
            np.testing.assert_allclose(a / (a + b), np.asarray(x_inf), rtol=1e-9, atol=1e-14)
            np.testing.assert_allclose(1 / (a + b), np.asarray(tau), rtol=1e-9)
    assert {(c.id, g.id, g.instances) for c in doc.ion_channel_hhs for g in c.gate_hh_rates} == {
        ("na", "m", 3), ("na", "h", 1), ("kdr", "n", 4)}


def test_gap_junctions_become_electrical_projections(tmp_path):
    circuit = hh_cells(4, edges=[(0, 1, "ampa", 100.0)], gap_junctions=[(1, 2, 20.0), (2, 3, 5.0), (0, 3, 1.0)])
    summary = write_neuroml(circuit, tmp_path / "gj.net.nml")
    import neuroml.loaders

    doc = neuroml.loaders.read_neuroml2_file(str(tmp_path / "gj.net.nml"))
    conns = [c for ep in doc.networks[0].electrical_projections for c in ep.electrical_connection_instance_ws]
    assert summary.electrical_connections == len(conns) == 3
    assert sorted(float(c.weight) for c in conns) == [1.0, 5.0, 20.0]


def test_every_mechanism_exports_schema_valid(tmp_path, ref):
    circuit = ref.every_mechanism()
    summary = write_neuroml(circuit, tmp_path / "em.net.nml")
    validate(tmp_path / "em.net.nml")
    import neuroml.loaders

    doc = neuroml.loaders.read_neuroml2_file(str(tmp_path / "em.net.nml"))
    assert {c.id for c in doc.ion_channel_hhs} == {"na", "kdr", "ka", "cal", "kca", "hcn"}
    assert {t.name for t in doc.ComponentType} >= {"np_ka_a_inf", "np_ka_b_tau", "np_hcn_h_tau", "np_kca_z_inf", "npKineticSynapse"}
    assert [s.id for s in doc.blocking_plastic_synapses] == ["syn_nmda"]
    # four spiking cells send event synapses, the two graded cells kinetic ones; two gap junctions
    syn = circuit.synapses
    graded = circuit.neurons.loc[circuit.neurons["release"] == "graded", "id"]
    assert summary.continuous_connections == int(syn["pre"].isin(graded).sum()) == 3
    assert summary.connections == len(syn) - 3 and summary.electrical_connections == 2
    assert [Path(f).name for f in summary.files] == ["em.net.nml", "em.components.xml", "LEMS_em.xml"]
    # kinetic transmission: every synapse continuous, spiking cells with the spike release sigmoid
    _, lems, kin, _ = to_neuroml(circuit, transmission="kinetic")
    assert kin.connections == 0 and kin.continuous_connections == len(syn)
    rel = biophysics_for(circuit).release["spike"]
    assert any('id="ksyn_ampa_spike"' in x and f'vhalf="{rel.vhalf_mV!r}mV"' in x for x in lems)


def test_calcium_pool_is_the_engines(tmp_path, ref):
    """fixedFactorConcentrationModel: dC/dt = rho I_Ca / area (SI); the engine: ca_per_pA_ms per pA."""
    circuit = ref.every_mechanism()
    doc = to_neuroml(circuit)[0]
    (pool,) = doc.fixed_factor_concentration_models
    rho = float(pool.rho.replace("mol_per_m_per_A_per_s", ""))
    area_m2 = circuit.neurons["area_um2"].to_numpy() * 1e-12
    per_pA_uM_per_ms = rho * 1e-12 / area_m2 * 1e3 * 1e-3  # mol/m^3 = mM -> uM; per s -> per ms
    model = build_model(circuit)
    np.testing.assert_allclose(per_pA_uM_per_ms, np.asarray(model.params["ca_per_pA_ms"]), rtol=1e-12)
    assert pool.decay_constant == "50.0ms" and pool.resting_conc == f"{0.05e-3!r}mM"


def test_kinetic_synapse_components_carry_the_receptor_kinetics(ref):
    circuit = ref.every_mechanism()
    _, lems, _, _ = to_neuroml(circuit)
    bio = biophysics_for(circuit)
    text = "\n".join(lems)
    for r in ("ampa", "nmda", "gaba_a"):
        rec, rel = bio.receptor(r), bio.release["graded"]
        assert (f'id="ksyn_{r}_graded" type="npKineticSynapse" gbase="1nS" erev="{rec.E_mV!r}mV" alpha="{rec.alpha_per_mM_ms!r}per_ms" '
                f'tauDecay="{rec.tau_decay_ms!r}ms" vhalf="{rel.vhalf_mV!r}mV"') in text, r
    assert 'id="ksyn_nmda_graded"' in text and 'mg="1.0mM"' in text


def test_stimulus_and_initial_state_become_inputs(ref):
    circuit = ref.every_mechanism()
    stim = Stimulus(duration_ms=30.0, components=(
        Step(targets=(10, 11), amplitude_pA=50.0, start_ms=2.0, stop_ms=12.0),
        Pulses(targets=(15,), amplitude=3.0, width_ms=2.0, period_ms=10.0, start_ms=5.0, kind="conductance", E_mV=0.0),
        Waveform(targets=(14,), values=np.array([0.0, 5.0, 5.0, 0.0, -2.0]), sample_dt_ms=1.0, start_ms=1.0),
    ))
    v0 = np.linspace(-70.0, -60.0, 6)
    doc, lems, summary, _ = to_neuroml(circuit, stimulus=stim, init={"v": v0, "g_syn.ampa": np.array([0, 0, 4.0, 0, 0, 0])})
    pgs = {p.id: (p.delay, p.duration, p.amplitude) for p in doc.pulse_generators}
    assert pgs["stim0"] == ("2.0ms", "10.0ms", "50.0pA")
    assert pgs["stim2_0_1"] == ("2.0ms", "2.0ms", "5.0pA") and pgs["stim2_0_4"] == ("5.0ms", "1.0ms", "-2.0pA")
    assert sum('type="npConductancePulse"' in x for x in lems) == 3  # pulses at 5, 15, 25 ms
    weights = {il.component: [float(i.weight) for i in il.input_ws] for il in doc.networks[0].input_lists}
    assert weights["init_ampa"] == [4.0]
    assert summary.inputs == 2 + 3 + 2 + 1
    # one cell per initial voltage, holding it
    assert sorted(float(c.biophysical_properties.membrane_properties.init_memb_potentials[0].value[:-2]) for c in doc.cells) == list(v0)


def test_noise_and_gate_overrides_are_refused(ref):
    circuit = ref.every_mechanism()
    with pytest.raises(NeurophantomError, match="noise"):
        to_neuroml(circuit, stimulus=Stimulus(duration_ms=5.0, components=(Noise(targets="all", sigma_pA=5.0),)))
    with pytest.raises(NeurophantomError, match="gate"):
        to_neuroml(circuit, init={"gate.na.m": np.zeros(6)})


def test_validation_rejects_a_broken_file(cobahh, tmp_path):
    _, path, _, _ = cobahh
    bad = tmp_path / "bad.net.nml"
    bad.write_text(path.read_text().replace('type="ionChannelPassive"', 'type="notAType"', 1))
    with pytest.raises(NeurophantomError, match="not valid"):
        validate(bad)
