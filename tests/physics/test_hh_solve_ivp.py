"""A single Traub-Miles HH neuron against scipy's solve_ivp (LSODA, rtol 1e-10).

Oracle: the same ODEs integrated by an independent adaptive solver with event location at
the -20 mV upward crossing. The second-order exponential midpoint scheme at dt = 2.5 us
keeps every spike over 500 ms within 0.05 ms of the reference.
"""

import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.special import exprel

from neurophantom.biophysics import build_model
from neurophantom.engine import simulate
from neurophantom.sources.minimal import COBAHH_AREA_UM2, hh_cells
from neurophantom.types.stimulus import Step, Stimulus

VT, E_L, E_K, E_NA = -63.0, -60.0, -90.0, 50.0
C = COBAHH_AREA_UM2 * 0.01
G_NA, G_K, G_L = 1000 * COBAHH_AREA_UM2 * 1e-3, 300 * COBAHH_AREA_UM2 * 1e-3, 0.5 * COBAHH_AREA_UM2 * 1e-3


def _rates(v):
    am = 0.32 * 4 / exprel((13 - v + VT) / 4)
    bm = 0.28 * 5 / exprel((v - VT - 40) / 5)
    ah = 0.128 * np.exp((17 - v + VT) / 18)
    bh = 4 / (1 + np.exp((40 - v + VT) / 5))
    an = 0.032 * 5 / exprel((15 - v + VT) / 5)
    bn = 0.5 * np.exp((10 - v + VT) / 40)
    return am, bm, ah, bh, an, bn


def reference_spikes(i_pA, t_end=500.0, v0=-60.0):
    def f(t, y):
        v, m, h, n = y
        am, bm, ah, bh, an, bn = _rates(v)
        i = G_L * (E_L - v) + G_NA * m**3 * h * (E_NA - v) + G_K * n**4 * (E_K - v) + i_pA
        return [i / C, am * (1 - m) - bm * m, ah * (1 - h) - bh * h, an * (1 - n) - bn * n]

    am, bm, ah, bh, an, bn = _rates(v0)
    y0 = [v0, am / (am + bm), ah / (ah + bh), an / (an + bn)]
    ev = lambda t, y: y[0] + 20.0  # noqa: E731
    ev.direction = 1
    sol = solve_ivp(f, (0, t_end), y0, method="LSODA", rtol=1e-10, atol=1e-10, events=ev)
    return sol.t_events[0]


@pytest.mark.parametrize("i_pA", [300.0, 1000.0, 3000.0])
def test_hh_spike_times_match_solve_ivp(i_pA):
    model = build_model(hh_cells(1), v_init_mV=-60.0)
    stim = Stimulus(duration_ms=500.0, components=(Step(targets=(0,), amplitude_pA=i_pA),))
    rec = simulate(model, stim, dt_ms=0.0025, sample_dt_ms=1.0, method="exp_midpoint")
    ref = reference_spikes(i_pA)
    assert len(ref) > 5, "the step must drive repetitive firing"
    assert len(rec.spike_times_ms) == len(ref)
    assert np.max(np.abs(rec.spike_times_ms - ref)) < 0.05
