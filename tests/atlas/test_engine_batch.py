"""Steady states and batch stimulation of a graded network against the integrator itself.

Oracles: the Newton steady state must be where a long exponential-Euler run ends (two
different algorithms on the same equations); its implicit derivative must match central
finite differences; one batched ``stimulate_each`` call must give, trial by trial, what
separate ``simulate`` calls from the same rested state give."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurophantom import NeurophantomError
from neurophantom.biophysics.model import build_model
from neurophantom.engine import simulate
from neurophantom.engine.batch import stimulate_each
from neurophantom.engine.steady import initial_values, rest_stability, steady_state, steady_voltage
from neurophantom.sources.minimal import _neurons
from neurophantom.sources._tables import make_circuit
from neurophantom.types import Provenance
from neurophantom.types.stimulus import Step, Stimulus


@pytest.fixture(scope="module")
def chain():
    """Four graded worm-like cells: 0 -> 1 -> 2 (ACh cation), 2 -| 3 (GluCl), 1 = 3 gap."""
    from neurophantom.biophysics.library import preset

    n = 4
    nrn = _neurons(n, "g", 100.0, "graded", {"leak": 2.0, "kdr": 1.0, "cal": 0.1, "kca": 0.1})
    rows = [(0, 1, "nach"), (1, 2, "nach"), (2, 3, "glucl")]
    syn = {"synapse_id": list(range(3)), "pre": [r[0] for r in rows], "post": [r[1] for r in rows],
           "x_um": [0.0] * 3, "y_um": [0.0] * 3, "z_um": [0.0] * 3, "contact_area_um2": [1.0] * 3,
           "nach": [10.0 if r[2] == "nach" else 0.0 for r in rows], "glucl": [20.0 if r[2] == "glucl" else 0.0 for r in rows]}
    gj = {"a": [1], "b": [3], "connexin_count": [2.0], "x_um": [0.0], "y_um": [0.0], "z_um": [0.0]}
    c = make_circuit(neurons=nrn, synapses=syn, gap_junctions=gj, channel_types=("leak", "kdr", "cal", "kca"),
                     receptor_types=("nach", "glucl"),
                     provenance=Provenance(source="test", metadata={"biophysics": preset("celegans").to_dict()}))
    return c, build_model(c)


def test_steady_state_is_where_a_long_run_ends(chain):
    c, m = chain
    st = steady_state(m, iterations=30)
    assert float(st.residual_mV_per_ms) < 1e-9
    rec = simulate(m, Stimulus(duration_ms=600.0), dt_ms=0.1, sample_dt_ms=10.0)
    np.testing.assert_allclose(rec.traces["v"][-1], np.asarray(st.state.v), atol=1e-6)
    assert rest_stability(m, st.state.v) < 0
    i = np.array([15.0, 0, 0, 0])
    held = steady_state(m, i, v0=st.state.v, iterations=30)
    run = simulate(m, Stimulus(duration_ms=600.0, components=(Step(targets=(0,), amplitude_pA=15.0),)), dt_ms=0.1,
                   sample_dt_ms=10.0, init=initial_values(st))
    np.testing.assert_allclose(run.traces["v"][-1], np.asarray(held.state.v), atol=1e-6)
    dv = np.asarray(held.state.v - st.state.v)
    assert dv[0] > dv[1] > 0 and dv[2] > 0  # the excitatory chain carries the step downstream


def test_implicit_gradient_matches_finite_differences(chain):
    c, m = chain
    i = jnp.array([15.0, 0, 0, 0])
    v0 = steady_state(m, i, iterations=30).state.v  # Newton restarts there: 8 steps converge

    def f(scale):
        mm = m.with_params(w_kinetic_nS=m.params["w_kinetic_nS"] * scale)
        return steady_voltage(mm, i, v0, iterations=8)[2]

    g = float(jax.jit(jax.grad(f))(1.0))
    h = 1e-4
    fj = jax.jit(f)
    fd = (float(fj(1.0 + h)) - float(fj(1.0 - h))) / (2 * h)
    assert g == pytest.approx(fd, rel=1e-5)
    assert abs(g) > 1e-3


def test_stimulate_each_is_one_simulation_per_target(chain):
    c, m = chain
    names = list(c.neurons["name"])
    out = stimulate_each(m, ["g0", "g2"], amplitude=15.0, start_ms=20.0, stop_ms=120.0, duration_ms=200.0, dt_ms=0.1,
                         sample_dt_ms=1.0, neuron_names=names)
    assert out.target_names == ("g0", "g2") and out.traces["v"].shape == (2, 200, 4) and out.initial_state == "rest"
    st = steady_state(m, iterations=40)
    rest = st.state.v
    for k, t in enumerate((0, 2)):
        ref = simulate(m, Stimulus(duration_ms=200.0, components=(Step(targets=(t,), amplitude_pA=15.0, start_ms=20.0, stop_ms=120.0),)),
                       dt_ms=0.1, sample_dt_ms=1.0, init=initial_values(st))
        np.testing.assert_allclose(out.traces["v"][k], ref.traces["v"], atol=1e-9)
    # From rest, nothing moves before the stimulus starts.
    assert np.abs(out.traces["v"][:, :20] - np.asarray(rest)).max() < 1e-9
    with pytest.raises(NeurophantomError, match="unknown neuron name 'nope'"):
        stimulate_each(m, ["nope"], amplitude=1.0, start_ms=0.0, stop_ms=1.0, duration_ms=2.0, dt_ms=0.1, neuron_names=names)
