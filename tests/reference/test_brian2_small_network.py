"""A small deterministic HH network in neurophantom against Brian2 running the exported model.

Oracle: Brian2 2.9 (C++ standalone, ``exponential_euler``) integrating the equations,
weights and connectivity that ``io.brian2_export`` writes for the same Model. Fourteen
Traub-Miles cells with constant current steps (no noise), 30 single-exponential event
synapses (AMPA 5 ms, GABA-A 10 ms), 1 s at dt = 0.025 ms: every spike of every neuron must
be matched, at the same step (within 0.1 ms; the two schemes are term for term the same,
so in practice the times are identical).
"""

import numpy as np
import pytest

from neurophantom.biophysics import biophysics_for, build_model
from neurophantom.engine import simulate
from neurophantom.io.brian2_export import run_brian2
from neurophantom.sources.cobahh import BIOPHYSICS_OVERRIDES
from neurophantom.sources.minimal import hh_cells
from neurophantom.types.stimulus import Step, Stimulus

pytestmark = [pytest.mark.xdist_group("brian2"), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

N, DT, T = 14, 0.025, 1000.0


def _network():
    rng = np.random.default_rng(20070101)
    edges = []
    for pre in range(N):
        for post in rng.choice(N, 3, replace=False):
            if post != pre:
                exc = pre < 10
                edges.append((pre, int(post), "ampa" if exc else "gaba_a", 300.0 if exc else 1500.0))
    circuit = hh_cells(N, edges=edges)
    model = build_model(circuit, biophysics_for(circuit).override(BIOPHYSICS_OVERRIDES))
    amps = np.linspace(180.0, 700.0, N)
    stim = Stimulus(duration_ms=T, components=tuple(
        Step(targets=(i,), amplitude_pA=float(a), start_ms=float(5 * i)) for i, a in enumerate(amps)))
    return model, stim


@pytest.fixture(scope="module")
def runs(ref):
    model, stim = _network()
    ours = simulate(model, stim, dt_ms=DT, record=(), progress=False)
    with ref.build_dir("small_network") as d:
        theirs, _ = run_brian2(model, duration_ms=T, dt_ms=DT, stimulus=stim, mode="cpp_standalone", directory=d)
    return ours, theirs


def test_every_spike_matches_brian2(runs):
    ours, theirs = runs
    a, b = ours.spike_trains(step_times=True), theirs.spike_trains()
    assert sum(len(t) for t in a.values()) > 300, "the network must be active"
    assert sum(len(a[i]) > 5 for i in range(N)) >= 10, "most neurons must fire"
    for i in range(N):
        assert len(a[i]) == len(b[i]), (i, len(a[i]), len(b[i]))
        if len(a[i]):
            assert np.max(np.abs(a[i] - b[i])) <= 0.1, i


def test_synapses_change_the_spike_trains():
    """The comparison is not vacuous: without the synapses the trains differ."""
    model, stim = _network()
    free = model.with_params(w_event_nS=np.zeros_like(np.asarray(model.params["w_event_nS"])))
    short = Stimulus(duration_ms=200.0, components=stim.components)
    with_syn = simulate(model, short, dt_ms=DT, record=(), progress=False).spike_trains(step_times=True)
    without = simulate(free, short, dt_ms=DT, record=(), progress=False).spike_trains(step_times=True)
    assert any(len(with_syn[i]) != len(without[i]) or np.any(with_syn[i] != without[i]) for i in range(N))
