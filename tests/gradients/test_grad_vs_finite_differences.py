"""Reverse-mode gradients through the engine against central finite differences.

Oracle: (L(p + h) - L(p - h)) / 2h in float64 with h = 1e-5 |p|; the relative error of each
gradient entry must be < 1e-3. The model is a 3-cell HH chain with kinetic (Destexhe)
synapses and a gap junction, so the loss is a smooth function of every parameter, driven
hard enough that cells spike.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurophantom.biophysics import build_model
from neurophantom.engine import simulate_arrays
from neurophantom.sources.minimal import hh_cells
from neurophantom.types.stimulus import Step, Stimulus


@pytest.fixture(scope="module")
def problem():
    circuit = hh_cells(
        3,
        edges=[(0, 1, "ampa", 300.0), (1, 2, "gaba_a", 200.0), (0, 2, "ampa", 150.0)],
        gap_junctions=[(1, 2, 20.0)],
    )
    model = build_model(circuit, transmission="kinetic", v_init_mV=-65.0)
    stim = Stimulus(duration_ms=30.0, components=(Step(targets=(0,), amplitude_pA=900.0, start_ms=2.0),))
    target = jnp.linspace(-70.0, -50.0, 3)

    def loss(params):
        out = simulate_arrays(_replace(model, params), stim, dt_ms=0.025, sample_dt_ms=0.5)
        return jnp.mean((out["v"] - target[None, :]) ** 2)

    return model, loss


def _replace(model, params):
    from neurophantom.biophysics.model import Model

    return Model(params, model.index, model.meta)


NAMES = ["g_nS", "C_pF", "tau_decay_ms", "w_kinetic_nS", "g_gap_nS", "E_syn_mV", "alpha_per_mM_ms"]


def test_gradients_match_central_differences(problem):
    model, loss = problem
    params = dict(model.params)
    grads = jax.jit(jax.grad(loss))(params)
    f = jax.jit(loss)
    rng = np.random.default_rng(0)
    checked = 0
    for name in NAMES:
        flat = np.asarray(params[name]).ravel()
        # two entries per parameter array (all of them when small)
        picks = rng.choice(flat.size, size=min(2, flat.size), replace=False)
        for k in picks:
            h = 1e-5 * max(abs(flat[k]), 1e-3)
            up, dn = flat.copy(), flat.copy()
            up[k] += h
            dn[k] -= h
            pu = dict(params, **{name: jnp.asarray(up.reshape(params[name].shape))})
            pd = dict(params, **{name: jnp.asarray(dn.reshape(params[name].shape))})
            fd = (float(f(pu)) - float(f(pd))) / (2 * h)
            ad = float(np.asarray(grads[name]).ravel()[k])
            if abs(fd) < 1e-9:
                continue  # a parameter this loss does not depend on (e.g. unused receptor)
            assert abs(ad - fd) / abs(fd) < 1e-3, (name, k, ad, fd)
            checked += 1
    assert checked >= 10


def test_vmap_over_parameter_sets_equals_loop(problem):
    model, loss = problem
    scales = jnp.array([0.8, 1.0, 1.2])
    batched = jax.vmap(lambda s: loss(dict(model.params, g_nS=model.params["g_nS"] * s)))(scales)
    looped = jnp.array([loss(dict(model.params, g_nS=model.params["g_nS"] * s)) for s in scales])
    np.testing.assert_allclose(np.asarray(batched), np.asarray(looped), rtol=1e-10)
    assert len(set(np.round(np.asarray(looped), 6))) == 3
