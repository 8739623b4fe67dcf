"""The engine's fast paths against the straightforward forms they replace.

Oracles: the biophysics library's Traub-Miles kinetics (for the fused rates), numpy's
``flatnonzero`` (for spike compaction), the exact solution of ``dx/dt = a - b x`` (for the
membrane step with any sign of conductance), central finite differences (for gradients
through event delivery, whose primal is a data-dependent loop), and the dense delivery
branch (for the sparse one, on a network bursting past ``k_deliver``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurophantom.biophysics import build_model
from neurophantom.biophysics.channels.hh import _kdr_kinetics, _na_kinetics
from neurophantom.biophysics.model import Model
from neurophantom.engine import simulate, simulate_arrays
from neurophantom.engine.rates import fused_kdr, fused_na
from neurophantom.engine.step import _relax_linear, compact
from neurophantom.sources import build_source
from neurophantom.sources.cobahh import initial_state
from neurophantom.sources.minimal import hh_cells
from neurophantom.types.stimulus import Step, Stimulus

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("vt", [-63.0, -51.7])
def test_fused_rates_equal_library(dtype, rtol, vt):
    # a dense grid plus the removable singular points of the exprel terms
    special = vt + np.array([13.0, 40.0, 15.0])[None, :] + np.array([0.0, 1e-9, -1e-5])[:, None]
    v = np.concatenate([np.linspace(-150.0, 100.0, 250001), special.ravel()])
    v = jnp.asarray(v, dtype)
    p = {"VT_mV": jnp.asarray(vt, dtype)}
    lib = [x for pair in (*_na_kinetics(v, None, p), *_kdr_kinetics(v, None, p)) for x in pair]
    fused = [x for pair in (*fused_na(v, None, p), *fused_kdr(v, None, p)) for x in pair]
    for a, b in zip(lib, fused):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        assert np.all(np.isfinite(b))
        np.testing.assert_allclose(b, a, rtol=rtol, atol=0)


def test_compact_equals_flatnonzero():
    rng = np.random.default_rng(0)
    f = jax.jit(compact, static_argnums=1)
    for n, p, size in [(4000, 0.004, 36), (4000, 0.02, 36), (4000, 0.0, 36), (4000, 1.0, 36), (97, 0.3, 64), (70000, 0.004, 336)]:
        mask = rng.random(n) < p
        ids, count = f(jnp.asarray(mask), size)
        ref = np.flatnonzero(mask)
        assert int(count) == ref.size
        k = min(size, ref.size)
        np.testing.assert_array_equal(np.asarray(ids)[:k], ref[:k])
        assert np.all(np.asarray(ids)[k:] == n)


def test_membrane_step_exact_for_any_conductance_sign():
    import mpmath

    mpmath.mp.dps = 50
    h = 0.1
    for drive, rate in [(5.0, 0.3), (5.0, -0.7), (-2.0, 0.0), (1.0, 1e-9), (3.0, 40.0), (2.0, -3e-7)]:
        x0 = -65.0
        got = float(_relax_linear(jnp.asarray(x0), jnp.asarray(drive), jnp.asarray(rate), h))
        a, b, x = mpmath.mpf(drive), mpmath.mpf(rate), mpmath.mpf(x0)
        exact = x + a * h if rate == 0 else a / b + (x - a / b) * mpmath.exp(-b * h)
        assert got == pytest.approx(float(exact), rel=1e-13, abs=1e-13)


def test_event_weight_gradients_match_central_differences():
    circuit = hh_cells(3, edges=[(0, 1, "ampa", 300.0), (0, 2, "gaba_a", 200.0), (1, 2, "ampa", 150.0)])
    model = build_model(circuit, v_init_mV=-65.0)
    stim = Stimulus(duration_ms=30.0, components=(Step(targets=(0,), amplitude_pA=900.0, start_ms=2.0),))

    def loss(params):
        out = simulate_arrays(Model(params, model.index, model.meta), stim, dt_ms=0.05, sample_dt_ms=0.5)
        return jnp.mean((out["v"][:, 1:] + 60.0) ** 2)

    grads = jax.jit(jax.grad(loss))(dict(model.params))["w_event_nS"]
    f = jax.jit(loss)
    w = np.asarray(model.params["w_event_nS"])
    for k in range(w.size):
        h = 1e-5 * abs(w[k])
        up, dn = w.copy(), w.copy()
        up[k] += h
        dn[k] -= h
        fd = (float(f(dict(model.params, w_event_nS=jnp.asarray(up)))) - float(f(dict(model.params, w_event_nS=jnp.asarray(dn))))) / (2 * h)
        assert abs(fd) > 1e-3
        assert abs(float(grads[k]) - fd) < 1e-3 * abs(fd), (k, float(grads[k]), fd)


def test_sparse_delivery_equals_dense_fallback():
    """COBAHH's initial burst exceeds a tiny k_deliver: the dense branch must give the same run."""
    circuit = build_source("cobahh", seed=7, options={"n_neurons": 300, "p_connect": 0.2})
    model = build_model(circuit)
    init = initial_state(circuit, 7)
    stim = Stimulus(duration_ms=30.0)
    runs = [simulate(model, stim, dt_ms=0.1, init=init, record=("v",), k_deliver=k, progress=False) for k in (2, 300)]
    counts = np.bincount(np.round(runs[1].spike_step_times_ms / 0.1).astype(int))
    assert counts.max() > 2 and np.sum((counts >= 1) & (counts <= 2)) > 10, "both branches must be exercised"
    np.testing.assert_array_equal(runs[0].spike_neuron_ids, runs[1].spike_neuron_ids)
    np.testing.assert_allclose(runs[0].traces["v"], runs[1].traces["v"], rtol=0, atol=1e-9)
