"""Convergence order: the error of the first spike time vs dt follows the scheme's order.

Oracle: a reference at a 16x finer dt with the second-order scheme; the log-log slope of
|t_spike(dt) - t_ref| over dt must be within 0.2 of the nominal order (1 for exp_euler,
2 for exp_midpoint). Spike times are compared over the first 5 spikes (a smooth
functional of the trajectory).
"""

import numpy as np
import pytest

from neurophantom.biophysics import build_model
from neurophantom.engine import simulate
from neurophantom.sources.minimal import hh_cells
from neurophantom.types.stimulus import Step, Stimulus


@pytest.fixture(scope="module")
def setup():
    model = build_model(hh_cells(1), v_init_mV=-60.0)
    stim = Stimulus(duration_ms=40.0, components=(Step(targets=(0,), amplitude_pA=1000.0),))
    ref = simulate(model, stim, dt_ms=0.025 / 64, sample_dt_ms=0.5, method="exp_midpoint").spike_times_ms[:5]
    return model, stim, ref


@pytest.mark.parametrize("method,order", [("exp_euler", 1.0), ("exp_midpoint", 2.0)])
def test_convergence_order(setup, method, order):
    model, stim, ref = setup
    dts = np.array([0.025, 0.0125, 0.00625, 0.003125])
    errs = []
    for dt in dts:
        t = simulate(model, stim, dt_ms=float(dt), sample_dt_ms=0.5, method=method).spike_times_ms[:5]
        errs.append(np.max(np.abs(t - ref)))
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.2, (slope, errs)
