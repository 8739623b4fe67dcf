"""Every exported mechanism against Brian2 running the export (runtime mode, numpy target).

Oracle: Brian2's ``exponential_euler`` on the equations ``io.brian2_export`` writes. Six
neurons carry every channel type (Traub-Miles Na/K, leak, A-type K, L-type Ca with the
calcium pool, Ca-activated K, HCN), event synapses with a rise time and with the NMDA
magnesium block, kinetic synapses from graded neurons and gap junctions, under current
steps and conductance pulses. Both simulators apply the same scheme, so traces agree to
rounding: |dV| < 1e-6 mV, calcium and gates < 1e-9, conductances < 1e-9 nS, identical
spike steps.
"""

import numpy as np
import pytest

from neurophantom import NeurophantomError
from neurophantom.biophysics import build_model
from neurophantom.engine import simulate
from neurophantom.io.brian2_equations import neuron_equations
from neurophantom.io.brian2_export import run_brian2, to_brian2
from neurophantom.types.stimulus import Noise, Pulses, Step, Stimulus

pytestmark = [pytest.mark.xdist_group("brian2"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

T, DT = 40.0, 0.025
RECORD = ("v", "ca", "g_syn.ampa", "g_syn.nmda", "g_syn.gaba_b", "gate.hcn.h", "gate.ka.a", "gate.kca.z")
STIM = Stimulus(duration_ms=T, components=(
    Step(targets=(10, 11, 12, 13), amplitude_pA=900.0, start_ms=2.0, stop_ms=30.0),
    Step(targets=(14,), amplitude_pA=60.0, start_ms=5.0),
    Pulses(targets=(15, 13), amplitude=3.0, width_ms=2.0, period_ms=10.0, start_ms=5.0, kind="conductance", E_mV=0.0),
))


@pytest.fixture(scope="module")
def runs(ref):
    model = build_model(ref.every_mechanism())
    ours = simulate(model, STIM, dt_ms=DT, record=RECORD, progress=False)
    theirs, timings = run_brian2(model, duration_ms=T, dt_ms=DT, stimulus=STIM, record=RECORD, codegen_target="numpy")
    return ours, theirs


def test_every_mechanism_matches_brian2(runs):
    """One test on purpose (the fixture is the expensive part; see test_cobahh_vs_brian2)."""
    ours, theirs = runs
    # every mechanism is exercised
    for name in ("ca", "g_syn.ampa", "g_syn.nmda", "g_syn.gaba_b"):
        assert np.ptp(ours.traces[name]) > 1e-3, name
    v = ours.traces["v"]
    assert np.ptp(v[:, 4]) > 1.0 and np.ptp(v[:, 5]) > 1.0, "graded cells must respond"
    assert len(set(ours.spike_neuron_ids.tolist())) >= 3, "several cells must spike"
    # traces agree to rounding
    tol = {"v": 1e-6}
    for name in RECORD:
        a, b = ours.traces[name], theirs.traces[name]
        assert a.shape == b.shape
        assert np.max(np.abs(a - b)) < tol.get(name, 1e-9), name
    # identical spikes
    np.testing.assert_array_equal(ours.spike_neuron_ids, theirs.spike_neuron_ids)
    np.testing.assert_allclose(ours.spike_step_times_ms, theirs.spike_step_times_ms, atol=1e-9)


def test_equations_name_every_mechanism(ref):
    eqs = neuron_equations(build_model(ref.every_mechanism()))
    for token in ("I_na", "I_kdr", "I_leak", "I_ka", "I_cal", "I_kca", "I_hcn", "dca/dt", "B_nmda", "dgb_ampa/dt",
                  "dr_gaba_a/dt", "gc_gap", "gd_gap"):
        assert token in eqs, token


def test_noise_is_refused(ref):
    model = build_model(ref.every_mechanism())
    stim = Stimulus(duration_ms=5.0, components=(Noise(targets="all", sigma_pA=5.0),))
    with pytest.raises(NeurophantomError, match="noise"):
        to_brian2(model, dt_ms=0.1, duration_ms=5.0, stimulus=stim)
