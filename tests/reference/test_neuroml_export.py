"""NeuroML 2 export: schema validity, round-trip counts and weights, exact channel rates.

Oracles: the NeuroML 2.3.1 XML schema shipped with libNeuroML (lxml validation);
libNeuroML's own reader for the round trip (counts and weights against the Circuit's
tables); the NeuroML core-type definitions of ``HHExpRate``, ``HHSigmoidRate`` and
``HHExpLinearRate`` (NeuroML2CoreTypes/Channels.xml) evaluated on the exported
parameters against the library's Traub-Miles kinetics.
"""

import numpy as np
import pytest

from neurophantom import NeurophantomError
from neurophantom.biophysics import biophysics_for
from neurophantom.biophysics.channels.hh import _kdr_kinetics, _na_kinetics
from neurophantom.io.neuroml_export import to_neuroml, validate, write_neuroml
from neurophantom.sources import build_source
from neurophantom.sources.minimal import hh_cells

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


def test_unexportable_channels_raise_and_write_nothing(tmp_path, ref):
    with pytest.raises(NeurophantomError, match="cannot export channel"):
        write_neuroml(ref.every_mechanism(), tmp_path / "x.net.nml")
    assert not (tmp_path / "x.net.nml").exists()


def test_graded_synapses_raise():
    circuit = hh_cells(2, release=["graded", "spike"], edges=[(0, 1, "ampa", 100.0)])
    with pytest.raises(NeurophantomError, match="graded"):
        to_neuroml(circuit)


def test_validation_rejects_a_broken_file(cobahh, tmp_path):
    _, path, _, _ = cobahh
    bad = tmp_path / "bad.net.nml"
    bad.write_text(path.read_text().replace('type="ionChannelPassive"', 'type="notAType"', 1))
    with pytest.raises(NeurophantomError, match="not valid"):
        validate(bad)
