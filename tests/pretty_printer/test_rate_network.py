"""The trained rate networks: they solve their tasks, their integrator is right, training is
deterministic, and the weight cache round-trips without pickle.

Oracles: held-out task scores against stated accuracies; the rate ODE written out here
independently and integrated by scipy's ``solve_ivp`` (RK45, rtol 1e-9); bitwise equality
of two training runs.
"""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

from neurophantom import CorruptDataError
from neurophantom.sources.trained import (
    TrainConfig, UnitModel, encode_inputs, init_params, load_network, run, save_network, shunt_schedule, train,
)
from neurophantom.sources.tasks import get_task, make_trials
from neurophantom.validate.task_score import task_score

pytestmark = pytest.mark.xdist_group("pretty_printer")

#: Stated accuracies on held-out trials (fraction correct; chance 0.5).
REQUIRED = {"flipflop": 0.98, "context_decision": 0.95}


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_cached_rate_network_solves_its_task(name):
    net = load_network(name, 0)
    assert net.config.task == name and net.scores["heldout"] >= REQUIRED[name]
    score = task_score(net, name)  # recomputed, not read from the cache
    assert score >= REQUIRED[name], score


def _reference_rhs(net, drive, unit: UnitModel):
    """dV/dt of every unit, written from the model's equations (trained.py docstring)."""
    n_in = net.n_inputs
    wp, wm = np.maximum(net.W, 0), np.maximum(-net.W, 0)

    def rhs(_t, v):
        t = 1 / (1 + np.exp(-(v - unit.vhalf_mV) / unit.slope_mV))
        se = unit.kappa_exc * t / (unit.kappa_exc * t + 1)
        si = unit.kappa_inh * t / (unit.kappa_inh * t + 1)
        vr = v[n_in:]
        syn = wp @ se * (unit.E_exc_mV - vr) + wm @ si * (unit.E_inh_mV - vr)
        dv_in = (unit.E_leak_mV + unit.input_gain_mV * drive - v[:n_in]) / unit.tau_ms
        dv_rec = (unit.E_leak_mV - vr + syn) / unit.tau_ms
        return np.concatenate([dv_in, dv_rec])

    return rhs


def test_rate_dynamics_match_solve_ivp_and_converge_first_order():
    net = load_network("flipflop", 0)
    task = get_task("flipflop")
    x = np.zeros((1, 1, task.n_channels))
    x[0, 0, 1] = -1.0  # bit 1 held at -1 for the whole run
    drive = encode_inputs(task, x)[0, 0]
    t_end = 60.0
    ref = solve_ivp(_reference_rhs(net, drive, net.unit), (0, t_end), np.full(net.W.shape[1], net.unit.E_leak_mV),
                    rtol=1e-9, atol=1e-9).y[:, -1]
    errs = []
    for dt in (0.02, 0.01):
        steps = int(round(t_end / dt)) + 1  # V[:, k] is the state at k dt
        d = jnp.broadcast_to(jnp.asarray(drive), (1, steps, drive.size))
        v, _ = run({"W": jnp.asarray(net.W), "C": jnp.asarray(net.C), "d": jnp.asarray(net.d)}, d, unit=net.unit, dt_ms=dt)
        errs.append(np.abs(np.asarray(v)[0, -1] - ref).max())
    assert errs[1] < 0.02, errs  # mV, after 60 ms of a 32-unit network
    assert 1.6 < errs[0] / errs[1] < 2.4, errs  # exponential Euler is first order


def test_training_is_deterministic_for_a_seed():
    cfg = TrainConfig(task="flipflop", n_units=4, iterations=3, batch=2)
    a, b = train(cfg), train(cfg)
    for name in ("W", "C", "d"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    task = get_task("flipflop")
    w0 = init_params(cfg, task, UnitModel())["W"]
    assert not np.array_equal(a.W, np.asarray(w0))  # training moved the weights
    assert not np.array_equal(w0, init_params(cfg.model_copy(update={"seed": 1}), task, UnitModel())["W"])
    assert shunt_schedule(0, 9) == 0.0 and shunt_schedule(9, 9) == 1.0  # ends conductance-based


def test_cache_round_trip_and_corrupt_files(tmp_path):
    net = load_network("flipflop", 0)
    save_network(net, tmp_path)
    back = load_network("flipflop", 0, tmp_path)
    np.testing.assert_array_equal(back.W, net.W)
    assert back.config == net.config and back.unit == net.unit and back.scores == net.scores
    (tmp_path / "flipflop_seed0.npz").write_bytes(b"not a zip file")
    with pytest.raises(CorruptDataError, match="unreadable"):
        load_network("flipflop", 0, tmp_path)
    np.savez(tmp_path / "flipflop_seed0.npz", W=np.array([object()], dtype=object), C=net.C, d=net.d)
    with pytest.raises(CorruptDataError):  # object arrays would need pickle: refused
        load_network("flipflop", 0, tmp_path)


def test_rate_network_refuses_mismatched_trials():
    net = load_network("flipflop", 0)
    tr = make_trials("context_decision", "heldout", 1)
    with pytest.raises(Exception, match="trained for 'flipflop'"):
        net.simulate(tr)
    with pytest.raises(Exception, match="shapes"):
        dataclasses.replace(net, C=net.C[:1])
