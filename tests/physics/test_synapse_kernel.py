"""Event-driven synaptic conductance against its analytic double exponential.

Oracle: one presynaptic spike delivered at t_d gives
g(t) = w (exp(-(t - t_d)/tau_d) - exp(-(t - t_d)/tau_r)) / peak, with ``peak`` the maximum
of the bracket (so the peak conductance equals w), and w exp(-(t - t_d)/tau_d) when
tau_r = 0. The engine advances these decays exactly.
"""

import numpy as np
import pytest

from neurophantom.biophysics import build_model, preset
from neurophantom.engine import simulate
from neurophantom.sources.minimal import hh_cells
from neurophantom.types.stimulus import Step, Stimulus


def _pair(density):
    """HH presynaptic cell -> leak-only postsynaptic cell through one AMPA synapse."""
    return hh_cells(2, na=[50.0, 0.0], kdr=[30.0, 0.0], release=["spike", "graded"], edges=[(0, 1, "ampa", density)], receptors=("ampa",))


@pytest.mark.parametrize("tau_rise_ms", [0.0, 0.5])
def test_single_spike_conductance_kernel(tau_rise_ms):
    bio = preset("default").override({"receptors.ampa.tau_rise_ms": tau_rise_ms, "receptors.ampa.tau_decay_ms": 5.0})
    circuit = _pair(density=200.0)
    w = 200.0 * 0.5 * bio.receptor("ampa").g_unit_pS * 1e-3  # nS
    model = build_model(circuit, bio, v_init_mV=-60.0)
    dt = 0.01
    stim = Stimulus(duration_ms=40.0, components=(Step(targets=(0,), amplitude_pA=3000.0, start_ms=1.0, stop_ms=2.0),))
    rec = simulate(model, stim, dt_ms=dt, record=("g_syn.ampa",))
    assert rec.spike_neuron_ids.tolist() == [0], "the pulse must elicit exactly one spike"
    t_d = rec.spike_step_times_ms[0] + dt  # delivered at the end of the crossing step
    g = rec.trace("g_syn.ampa", 1)
    s = np.clip(rec.time_ms - t_d, 0, None)
    if tau_rise_ms == 0:
        kernel = np.exp(-s / 5.0)
    else:
        tr, td = tau_rise_ms, 5.0
        tp = td * tr / (td - tr) * np.log(td / tr)
        kernel = (np.exp(-s / td) - np.exp(-s / tr)) / (np.exp(-tp / td) - np.exp(-tp / tr))
    expected = np.where(rec.time_ms >= t_d - 1e-9, w * kernel, 0.0)
    assert np.max(np.abs(g - expected)) < 1e-9 * w
    assert g.max() == pytest.approx(w, rel=2e-3 if tau_rise_ms else 1e-12)
