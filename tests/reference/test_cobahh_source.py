"""The COBAHH source against the benchmark's published numbers and Brian2's ``connect(p=...)``.

Oracles: Brette et al. (2007) / Brian2's example constants (membrane 200 pF, g_Na 20 uS,
g_Kd 6 uS, g_L 10 nS, we 6 nS, wi 67 nS, tau 5 / 10 ms, E 0 / -80 mV, threshold -20 mV,
refractory 3 ms); the binomial law of out-degrees that independent connection with
probability p implies (mean and variance within sampling error); the example's normal
initial-state distributions (mean and sd within sampling error).
"""

import numpy as np
import pytest

from neurophantom import NeurophantomError
from neurophantom.biophysics import build_model
from neurophantom.sources import build_source
from neurophantom.sources.cobahh import initial_state


@pytest.fixture(scope="module")
def circuit():
    return build_source("cobahh", seed=11)


def test_membrane_and_synapse_constants(circuit):
    model = build_model(circuit)
    p = model.params
    np.testing.assert_allclose(np.asarray(p["C_pF"]), 200.0, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(p["g_nS"]), np.broadcast_to([20000.0, 6000.0, 10.0], (4000, 3)), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(p["E_ch_mV"]), [50.0, -90.0, -60.0])
    assert float(p["kin.na.VT_mV"]) == float(p["kin.kdr.VT_mV"]) == -63.0
    np.testing.assert_allclose(np.asarray(p["E_syn_mV"]), [0.0, -80.0])
    np.testing.assert_allclose(np.asarray(p["tau_decay_ms"]), [5.0, 10.0])
    np.testing.assert_allclose(np.asarray(p["tau_rise_ms"]), [0.0, 0.0])
    pre = np.asarray(model.index["ev_pre"])
    w = np.asarray(p["w_event_nS"])
    np.testing.assert_allclose(w[pre < 3200], 6.0, rtol=1e-12)
    np.testing.assert_allclose(w[pre >= 3200], 67.0, rtol=1e-12)
    assert model.meta.spike_threshold_mV == -20.0 and model.meta.refractory_ms == 3.0
    assert (circuit.neurons["cell_type"] == "excitatory").sum() == 3200


def test_connectivity_is_bernoulli(circuit):
    syn = circuit.synapses
    n, p = 4000, 0.02
    pairs = syn["pre"].to_numpy() * n + syn["post"].to_numpy()
    assert np.unique(pairs).size == pairs.size, "at most one synapse per ordered pair"
    out_deg = np.bincount(syn["pre"].to_numpy(), minlength=n)
    in_deg = np.bincount(syn["post"].to_numpy(), minlength=n)
    mean, var = n * p, n * p * (1 - p)
    for deg in (out_deg, in_deg):
        assert abs(deg.mean() - mean) < 4 * np.sqrt(var / n)
        assert abs(deg.var() / var - 1) < 0.15
    autapses = int(np.sum(syn["pre"].to_numpy() == syn["post"].to_numpy()))
    assert abs(autapses - n * p) < 4 * np.sqrt(n * p), "Brian2's connect(p=...) keeps autapses"
    exc = syn["pre"].to_numpy() < 3200
    assert np.all(syn.loc[exc, "gaba_a"] == 0) and np.all(syn.loc[~exc, "ampa"] == 0)


def test_expected_in_degree_option_scales_p():
    c = build_source("cobahh", seed=2, options={"n_neurons": 10000, "expected_in_degree": 80})
    in_deg = np.bincount(c.synapses["post"].to_numpy(), minlength=10000)
    assert abs(in_deg.mean() - 80) < 4 * np.sqrt(80 / 10000)


def test_same_seed_same_tables_other_seed_differs(circuit):
    again = build_source("cobahh", seed=11)
    assert circuit.synapses.equals(again.synapses) and circuit.neurons.equals(again.neurons)
    other = build_source("cobahh", seed=12)
    assert not circuit.synapses[["pre", "post"]].equals(other.synapses[["pre", "post"]])


def test_initial_state_distributions(circuit):
    init = initial_state(circuit, 0)
    n = 4000
    for key, mean, sd in (("v", -65.0, 5.0), ("g_syn.ampa", 40.0, 15.0), ("g_syn.gaba_a", 200.0, 120.0)):
        x = init[key]
        assert x.shape == (n,)
        assert abs(x.mean() - mean) < 4 * sd / np.sqrt(n), key
        assert abs(x.std() / sd - 1) < 0.05, key
    assert all(np.all(init[k] == 0) for k in ("gate.na.m", "gate.na.h", "gate.kdr.n"))
    assert not np.array_equal(init["v"], initial_state(circuit, 1)["v"])


def test_bad_options_are_one_line_errors():
    with pytest.raises(NeurophantomError, match="bad options for source 'cobahh'"):
        build_source("cobahh", options={"p_connect": 1.5})
    with pytest.raises(NeurophantomError, match="bad options"):
        build_source("cobahh", options={"neurons": 10})
