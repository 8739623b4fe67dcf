"""NeuroML exports run by the field's own tools: ``pynml -validate`` (jNeuroML) on the
organoid and the worm, and jNeuroML running an exported LEMS simulation against the engine.

Validation oracle: jNeuroML's ``-validate`` (the NeuroML 2.3.1 schema plus NeuroML's own
consistency tests), on an organoid export (every organoid channel including the calcium
pool and Ca-activated K, NMDA block) and a C. elegans export (its 80 best-connected
neurons: graded kinetic synapses, gap junctions, the worm's slow receptors), both with a
stimulus.

Agreement oracle: jNeuroML (forward Euler, the LEMS interpreter) running ``LEMS_X.xml`` of
six neurons that use every channel and receptor type (tests/reference/conftest.py
``every_mechanism``), with current steps, conductance pulses, a random initial voltage and
initial AMPA/NMDA conductances, against the engine at a fine step (``exp_midpoint``,
second order, dt 0.005 ms: spike times within 0.002 ms, voltages within 0.004 mV of a
0.001 ms run).
jNeuroML's error is first order in dt, so the check runs it at h = 0.01 and h/2 and asks
for (i) the same spike sequence, (ii) errors that halve with the step (a modelling
difference would not shrink), and (iii) Richardson-extrapolated values ``2 x(h/2) - x(h)``
that meet the engine's: spike times within 0.05 ms, subthreshold voltages before the
first spike within 0.01 mV (a few times the reference's own error plus the second-order
remainder). Measured over 16 ms (h = 0.01 ms): spike times 0.364 ms (h), 0.184 ms (h/2),
extrapolated 0.009 ms; voltages to 2.5 ms 0.059 / 0.029 / 0.0005 mV; graded cells over
the run 0.256 / 0.129 mV.
"""

import numpy as np
import pytest

from neurophantom.biophysics import build_model
from neurophantom.engine import simulate
from neurophantom.io.neuroml_export import write_neuroml
from neurophantom.io.neuroml_run import java_available, run_neuroml, validate_with_jnml
from neurophantom.sources import build_source
from neurophantom.types.stimulus import Pulses, Step, Stimulus

pytestmark = [
    pytest.mark.skipif(not java_available(), reason="jNeuroML needs Java, which is not installed (.ci/run installs default-jre-headless)"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

T, H = 16.0, 0.01
STIM = Stimulus(duration_ms=T, components=(
    Step(targets=(10, 11, 12, 13), amplitude_pA=900.0, start_ms=2.0),
    Step(targets=(14,), amplitude_pA=60.0, start_ms=5.0),
    Pulses(targets=(15, 13), amplitude=3.0, width_ms=2.0, period_ms=10.0, start_ms=5.0, kind="conductance", E_mV=0.0),
))


def _subcircuit(circuit, n: int):
    """The ``n`` most connected neurons with every synapse and gap junction among them."""
    syn, gj = circuit.synapses, circuit.gap_junctions
    degree = (syn["pre"].value_counts().add(syn["post"].value_counts(), fill_value=0)
              .add(gj["a"].value_counts(), fill_value=0).add(gj["b"].value_counts(), fill_value=0))
    keep = set(degree.sort_values(ascending=False, kind="stable").index[:n].tolist())
    return circuit.replace(neurons=circuit.neurons[circuit.neurons["id"].isin(keep)].reset_index(drop=True),
                           synapses=syn[syn["pre"].isin(keep) & syn["post"].isin(keep)].reset_index(drop=True),
                           gap_junctions=gj[gj["a"].isin(keep) & gj["b"].isin(keep)].reset_index(drop=True))


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    d = tmp_path_factory.mktemp("nml")
    org = build_source("organoid", seed=2, options={"n_neurons": 12, "n_patterns": 1, "pattern_size": 4})
    # guess: no expression-atlas load (5 s CPU); the 80 best-connected neurons (the whole worm's
    # 6,000 graded connections take jNeuroML's tests 8 s instead of 3 s)
    worm = _subcircuit(build_source("celegans", seed=0, options={"extrasynaptic": True, "signs": "guess"}), 80)
    stim = Stimulus(duration_ms=50.0, components=(Step(targets=tuple(org.neuron_ids[:3]), amplitude_pA=100.0, start_ms=5.0),))
    s_org = write_neuroml(org, d / "organoid.net.nml", stimulus=stim)
    wstim = Stimulus(duration_ms=50.0, components=(Step(targets=tuple(worm.neuron_ids[:5]), amplitude_pA=5.0, start_ms=5.0),))
    s_worm = write_neuroml(worm, d / "worm.net.nml", stimulus=wstim)
    return org, worm, s_org, s_worm, validate_with_jnml([s_org.files[0], s_worm.files[0]])


def test_pynml_validates_organoid_and_worm(exports):
    org, worm, s_org, s_worm, report = exports
    assert report.count("Valid against schema and all tests") == 2, report
    # the exports hold what makes them hard: the calcium machinery, graded synapses, gaps, inputs
    assert {"cal", "kca"} <= set(org.channel_types) and s_org.connections > 0 and s_org.inputs == 3
    text = open(s_org.files[0]).read()
    assert "fixedFactorConcentrationModel" in text and "np_kca_z_inf" in text and "blockingPlasticSynapse" in text
    assert s_worm.continuous_connections == int((worm.synapses[list(worm.receptor_types)].to_numpy() > 0).sum())
    assert s_worm.electrical_connections == len(worm.gap_junctions) > 0 and s_worm.inputs == 5
    comps = open(s_worm.files[1]).read()
    used = [r for r in worm.receptor_types if (worm.synapses[r] > 0).any()]
    assert len(used) >= 5 and {"gpcr_exc", "gpcr_inh"} <= set(used)
    for r in used:
        assert f'id="ksyn_{r}_graded"' in comps, r


def test_validation_fails_on_a_broken_file(ref, tmp_path):
    """The validator can fail (a small export of its own: each expensive fixture feeds one test)."""
    from neurophantom import NeurophantomError

    good = write_neuroml(ref.every_mechanism(), tmp_path / "good.net.nml").files[0]
    bad = tmp_path / "bad.net.nml"
    bad.write_text(open(good).read().replace('type="ionChannelPassive"', 'type="notAType"', 1))
    with pytest.raises(NeurophantomError, match="validation failed"):
        validate_with_jnml([bad])


@pytest.fixture(scope="module")
def agreement(ref, tmp_path_factory):
    circuit = ref.every_mechanism()
    rng = np.random.default_rng(7)
    init = {"v": -62.0 + 4.0 * rng.standard_normal(6), "g_syn.ampa": np.array([0, 0, 5.0, 0, 0, 2.0]),
            "g_syn.nmda": np.array([0, 3.0, 0, 0, 0, 0])}
    engine = simulate(build_model(circuit), STIM, dt_ms=0.005, method="exp_midpoint", record=("v",), sample_dt_ms=H,
                      init=init, progress=False)
    d = tmp_path_factory.mktemp("agree")
    runs = {}
    for h in (H, H / 2):
        s = write_neuroml(circuit, d / f"em{h}.net.nml", stimulus=STIM, init=init, dt_ms=h)
        runs[h] = run_neuroml(s.files[-1], circuit.neuron_ids)[0]
    return engine, runs[H], runs[H / 2]


def _spikes(rec):
    order = np.lexsort((rec.spike_times_ms, rec.spike_neuron_ids))
    return rec.spike_neuron_ids[order], rec.spike_times_ms[order]


def test_jneuroml_converges_to_the_engine(agreement):
    engine, coarse, fine = agreement
    (ie, te), (ic, tc), (i_f, tf) = _spikes(engine), _spikes(coarse), _spikes(fine)
    assert len(set(ie.tolist())) >= 3 and len(te) >= 5, "several cells must spike"
    np.testing.assert_array_equal(ic, ie)
    np.testing.assert_array_equal(i_f, ie)
    e_h, e_h2 = np.abs(tc - te).max(), np.abs(tf - te).max()
    assert 0.4 < e_h2 / e_h < 0.6, (e_h, e_h2)  # first order: the gap halves with the step
    assert np.abs(2 * tf - tc - te).max() < 0.05, (e_h, e_h2)
    # subthreshold voltages of every cell until 2.5 ms (the first spike is at 3.25 ms): same picture
    k = int(2.5 / H)
    vc, vf, ve = coarse.traces["v"][:k], fine.traces["v"][::2][:k], engine.traces["v"][:k]
    np.testing.assert_allclose(coarse.time_ms[:k], engine.time_ms[:k], atol=1e-9)
    assert np.abs(vf - ve).max() < 0.6 * np.abs(vc - ve).max()
    assert np.abs(2 * vf - vc - ve).max() < 0.01
    # graded cells (kinetic synapses, HCN, calcium) over the whole run
    g = [4, 5]
    assert np.ptp(ve[:, g]) > 1.0
    n = min(len(engine.time_ms), len(coarse.time_ms))
    dc = np.abs(coarse.traces["v"][:n, g] - engine.traces["v"][:n, g]).max()
    df = np.abs(fine.traces["v"][::2][:n, g] - engine.traces["v"][:n, g]).max()
    assert df < 0.65 * dc and df < 0.3, (dc, df)
