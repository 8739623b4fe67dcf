"""Compilation of a rate network into a conductance-based circuit.

Oracles: the analytic steady states of Destexhe receptor kinetics and of a passive
membrane (for the engine-measured calibration); the rate network's weights (each synapse's
conductance must be ``|W_ij| g_leak``, its receptor the weight's sign); Dale's law; and an
exact solution -- at a fixed point receptors sit at their steady state, so the compiled
circuit's resting state must equal the rate network's to numerical precision.
"""

import jax
import numpy as np
import pandas as pd
import pytest

from neurophantom import NeurophantomError
from neurophantom.biophysics import build_model, preset
from neurophantom.sources.pretty_printer_compile import AREA_UM2, calibrate, compile_network
from neurophantom.sources.pretty_printer_run import run_batch, trial_drives
from neurophantom.sources.tasks import Trials
from neurophantom.sources.trained import UnitModel, load_network

pytestmark = pytest.mark.xdist_group("pretty_printer")


@pytest.fixture(scope="module")
def net():
    return load_network("flipflop", 0)


@pytest.fixture(scope="module")
def calibration():
    return calibrate(preset("default"))


@pytest.fixture(scope="module")
def compiled(net, calibration):
    return compile_network(net, calibration=calibration)


def test_calibration_recovers_the_analytic_unit(calibration):
    expected = UnitModel.from_biophysics(preset("default"))
    assert abs(calibration.g_leak_nS - 0.5 * AREA_UM2 / 1000) < 1e-6  # 0.5 pS/um^2 x 1000 um^2
    for name in ("E_leak_mV", "tau_ms", "vhalf_mV", "slope_mV", "kappa_exc", "kappa_inh"):
        assert getattr(calibration, name) == pytest.approx(getattr(expected, name), rel=1e-6), name
    assert calibration.max_residual < 1e-8


def test_calibration_measures_rather_than_copies(net):
    world = preset("default").override({"release.graded.vhalf_mV": -30.0})
    cal = calibrate(world)
    assert cal.vhalf_mV == pytest.approx(-30.0, abs=1e-4)
    with pytest.raises(NeurophantomError, match="trained for another world"):
        compile_network(net, bio=world, calibration=cal)


def test_weights_become_dale_receptor_densities(net, compiled, calibration):
    circuit, interface = compiled
    syn, nrn = circuit.synapses, circuit.neurons
    name = dict(zip(nrn["id"], nrn["name"]))
    # Dale's law: every neuron releases one transmitter, and _E/_I says which.
    for pre, rows in syn.groupby("pre"):
        uses = {r for r in ("ampa", "gaba_a") if (rows[r] > 0).any()}
        assert uses == ({"ampa"} if name[pre].endswith("_E") else {"gaba_a"}), name[pre]
    # Conductance of every row = |W_ij| g_leak, receptor by sign.
    g = (syn["contact_area_um2"] * (syn["ampa"] * 10e-3 + syn["gaba_a"] * 20e-3)).to_numpy()
    unit_names = [p.unit for p in interface.inputs] + [f"h{i:02d}" for i in range(net.n_units)]
    col = {u: k for k, u in enumerate(unit_names)}
    unit = {i: col[n.rsplit("_", 1)[0]] for i, n in name.items()}
    i = np.array([unit[p] for p in syn["post"]]) - net.n_inputs
    j = np.array([unit[p] for p in syn["pre"]])
    np.testing.assert_allclose(g, np.abs(net.W[i, j]) * calibration.g_leak_nS, rtol=1e-12)
    np.testing.assert_array_equal(net.W[i, j] > 0, syn["ampa"].to_numpy() > 0)
    assert syn["synapse_id"].nunique() == np.count_nonzero(net.W)  # one release site per weight
    # Twins are one population: the same presynaptic partners with the same conductances.
    per_site = syn.groupby("synapse_id").agg(
        pre=("pre", "nunique"), rows=("post", "size"), ampa=("ampa", "nunique"), gaba=("gaba_a", "nunique"), i=("post", "first")
    )
    assert (per_site[["pre", "ampa", "gaba"]] == 1).all().all()
    twins = np.array([len(interface.readout_ids[unit[p] - net.n_inputs]) for p in per_site["i"]])
    np.testing.assert_array_equal(per_site["rows"].to_numpy(), twins)


def test_compilation_is_deterministic(net, calibration, compiled):
    again, itf = compile_network(net)  # calibration measured afresh
    circuit, interface = compiled
    for table in ("neurons", "synapses", "gap_junctions"):
        pd.testing.assert_frame_equal(getattr(circuit, table), getattr(again, table), check_exact=True)
    assert circuit.header() == again.header()


def test_fixed_point_equals_the_rate_network(net, compiled):
    circuit, interface = compiled
    model = build_model(circuit)
    steps = 800
    trials = Trials(task="flipflop", dt_ms=1.0, inputs=np.zeros((1, steps, 3)), targets=np.zeros((1, steps, 3)),
                    mask=np.zeros((1, steps, 3)), answer=np.zeros((1, 3)))
    v_rate, _ = net.simulate(trials)
    drives = trial_drives(model, interface, trials)
    v = np.asarray(jax.jit(lambda m, d: run_batch(m, d, None, dt_ms=0.25, sample_every=4))(model, drives))
    unit_of = {}
    for k, pop in enumerate(interface.inputs):
        unit_of.update({i: k for i in pop.ids})
    for u, ids in enumerate(interface.readout_ids):
        unit_of.update({i: net.n_inputs + u for i in ids})
    cols = [unit_of[int(i)] for i in model.neuron_ids]
    assert np.abs(np.diff(v_rate[0, -50:], axis=0)).max() < 1e-6  # the rate network has settled
    assert np.abs(v[0, -1] - v_rate[0, -1, cols]).max() < 1e-3  # mV
