"""Fine-tuning through the engine: exact write-back, determinism, and that it helps.

Oracles: the model rebuilt from the written-back circuit must carry exactly the tuned
conductances; two runs with one seed must give identical tables; and on held-out trials
the tuned circuit must follow the rate network more closely than the untuned compile.
"""

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from neurophantom.biophysics import build_model
from neurophantom.sources.pretty_printer import build, Config
from neurophantom.sources.pretty_printer_compile import compile_network
from neurophantom.sources.pretty_printer_finetune import FineTuneConfig, _init_theta, _tuned, fine_tune, write_back
from neurophantom.sources.pretty_printer_run import circuit_outputs, kinetic_edges
from neurophantom.sources.tasks import get_task, make_trials
from neurophantom.sources.trained import RateNetwork, TrainConfig, UnitModel, init_params, load_network

pytestmark = pytest.mark.xdist_group("pretty_printer")


@pytest.fixture(scope="module")
def small():
    """A 4-unit flip-flop network (initial weights, readout set) and its compiled circuit."""
    cfg = TrainConfig(task="flipflop", n_units=4)
    unit = UnitModel()
    p = init_params(cfg, get_task("flipflop"), unit)
    net = RateNetwork(task="flipflop", W=np.asarray(p["W"]), C=np.full((3, 4), 0.5), d=np.full(3, -0.2), unit=unit, config=cfg)
    circuit, interface = compile_network(net)
    return net, circuit, interface


@pytest.mark.parametrize("granularity", ["synapse", "neuron"])
def test_write_back_reproduces_the_tuned_conductances(small, granularity):
    _, circuit, _ = small
    model = build_model(circuit)
    rng = np.random.default_rng(0)
    zero, gain_of_edge = _init_theta(model, granularity)
    theta = {k: jnp.asarray(rng.normal(0, 0.3, v.shape)) for k, v in zero.items()}
    tuned = _tuned(model, theta, gain_of_edge)
    back = build_model(write_back(circuit, model, tuned))
    np.testing.assert_allclose(np.asarray(back.params["w_kinetic_nS"]), np.asarray(tuned.params["w_kinetic_nS"]), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(back.params["g_nS"]), np.asarray(tuned.params["g_nS"]), rtol=1e-12)
    assert not np.allclose(np.asarray(back.params["w_kinetic_nS"]), np.asarray(model.params["w_kinetic_nS"]))


def test_fine_tuning_is_deterministic(small):
    net, circuit, interface = small
    cfg = FineTuneConfig(iterations=2, trials=1, windows=4, batch=2, window_ms=20.0, validation_trials=1, eval_every=1,
                         learning_rate=0.05)
    (a, ra), (b, rb) = fine_tune(circuit, interface, net, cfg), fine_tune(circuit, interface, net, cfg)
    for table in ("neurons", "synapses"):
        pd.testing.assert_frame_equal(getattr(a, table), getattr(b, table), check_exact=True)
    assert ra == rb and len(ra["checkpoints"]) == 3
    changed = not a.synapses.equals(circuit.synapses)
    assert changed == (ra["chosen_iteration"] > 0)  # the untuned circuit is kept unless a step helped


def test_fine_tuned_flipflop_follows_the_rate_network_better():
    net = load_network("flipflop", 0)
    tuned = build(Config(task="flipflop"))
    untuned, interface = compile_network(net)
    trials = make_trials("flipflop", "heldout", 12, seed=5)
    _, y_rate = net.simulate(trials)
    err = {}
    for label, c in (("untuned", untuned), ("tuned", tuned)):
        y = circuit_outputs(build_model(c), interface, trials)
        err[label] = (np.sqrt(np.mean((y - y_rate) ** 2)), get_task("flipflop").score(y, trials))
    assert err["tuned"][0] < 0.5 * err["untuned"][0], err
    assert err["tuned"][1] >= err["untuned"][1], err


def test_model_edges_are_read_back_as_the_circuit_synapses(small):
    _, circuit, _ = small
    model = build_model(circuit)
    pre, post, rec = kinetic_edges(model)
    ids = model.neuron_ids
    got = {(int(ids[a]), int(ids[b]), model.meta.receptors[r]) for a, b, r in zip(pre, post, rec)}
    syn = circuit.synapses
    want = {(int(a), int(b), r) for r in circuit.receptor_types for a, b in zip(syn["pre"][syn[r] > 0], syn["post"][syn[r] > 0])}
    assert got == want and len(pre) == len(want)
