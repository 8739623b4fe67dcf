"""Passive membrane and synaptic conductances against their analytic solutions.

Oracle: for a leak conductance g_L, capacitance C and a current step I switched on at t0,
V(t) = E_L + I/g_L (1 - exp(-(t - t0) g_L / C)). Exponential Euler is exact for this
linear equation, so float64 results must agree to rounding (relative error < 1e-6).
"""

import numpy as np

from neurophantom.biophysics import build_model
from neurophantom.engine import simulate
from neurophantom.types.stimulus import Step, Stimulus

from neurophantom.sources.minimal import COBAHH_AREA_UM2 as AREA_UM2
from neurophantom.sources.minimal import passive_cells


def test_passive_step_response_matches_exponential():
    circuit = passive_cells(1, leak=0.5)
    model = build_model(circuit)
    g_L_nS = 0.5 * AREA_UM2 * 1.0 * 1e-3  # density x area x 1 pS
    C_pF = AREA_UM2 * 0.01
    E_L = -60.0
    I = 150.0
    t0 = 5.0
    stim = Stimulus(duration_ms=200.0, components=(Step(targets=(0,), amplitude_pA=I, start_ms=t0),))
    rec = simulate(model, stim, dt_ms=0.1, sample_dt_ms=0.5)
    t = rec.time_ms
    expected = E_L + np.where(t > t0, I / g_L_nS * (1 - np.exp(-(t - t0) * g_L_nS / C_pF)), 0.0)
    v = rec.trace("v", 0)
    rel = np.abs(v - expected) / np.abs(expected)
    assert rel.max() < 1e-6, rel.max()
    # The tau of this cell is C/g = 20 ms: the trace must actually have moved.
    assert v[-1] - v[0] > 0.99 * I / g_L_nS


def test_passive_response_independent_of_dt():
    """Exactness implies dt-independence at shared sample times (to rounding)."""
    circuit = passive_cells(1, leak=0.3)
    model = build_model(circuit)
    stim = Stimulus(duration_ms=50.0, components=(Step(targets=(0,), amplitude_pA=-80.0, start_ms=10.0, stop_ms=30.0),))
    a = simulate(model, stim, dt_ms=0.5, sample_dt_ms=1.0).trace("v", 0)
    b = simulate(model, stim, dt_ms=0.01, sample_dt_ms=1.0).trace("v", 0)
    assert np.max(np.abs(a - b)) < 1e-9


def _gap_pair_error(dt_ms):
    """Max |error| of a gap-coupled passive pair against its exact solution."""
    circuit = passive_cells(2, leak=0.5, gap_junctions=[(0, 1, 50.0)])
    model = build_model(circuit, v_init_mV=np.array([-40.0, -60.0]))
    rec = simulate(model, Stimulus(duration_ms=20.0), dt_ms=dt_ms, sample_dt_ms=0.1)
    v = rec.traces["v"]
    g_L = 0.5 * AREA_UM2 * 1e-3
    g_c = 50.0 * 100.0 * 1e-3  # connexins x 100 pS (default gap_unit_pS)
    C = AREA_UM2 * 0.01
    t = rec.time_ms
    # Symmetric pair: the difference decays at (g_L + 2 g_c)/C, the mean at g_L/C.
    diff = 20.0 * np.exp(-t * (g_L + 2 * g_c) / C)
    mean = -60.0 + 10.0 * np.exp(-t * g_L / C)
    exact = np.stack([mean + diff / 2, mean - diff / 2], axis=1)
    return np.max(np.abs(v - exact))


def test_gap_junction_pair_converges_to_analytic_solution():
    """The partner's voltage is frozen over a step, so coupling is first order in dt."""
    e1, e2 = _gap_pair_error(0.02), _gap_pair_error(0.01)
    assert e2 < 2e-3  # mV, on a 20 mV initial difference
    assert 1.8 < e1 / e2 < 2.2  # first order
