"""The observation model is differentiable: jax.grad against central finite differences.

System identification fits Models to fluorescence by gradient descent through the engine
and this model, so the gradient with respect to indicator parameters, optics, the input
activity, and (end to end) synaptic weights of the simulated circuit must be right.
Float64 central differences with a relative step of 1e-4 have a truncation error
O(step^2) ~ 1e-8 and a rounding error ~ 1e-16 |loss| / step, both far below the stated
1e-5 relative tolerance (a step of 1e-6 is not: rounding then reaches ~3e-5 for the
weakest parameter).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from neurophantom.biophysics import build_model
from neurophantom.engine import simulate_arrays
from neurophantom.instruments.dynamic import (
    INDICATORS,
    Activity,
    OpticsParams,
    Timing,
    activity_from_recording,
    fluorescence_from_activity,
    indicator_params,
)
from neurophantom.instruments.dynamic.forward import SOURCE_SPIKES, SOURCE_VOLTAGE
from neurophantom.sources.minimal import hh_cells
from neurophantom.types.stimulus import Step, Stimulus

TIMING = Timing(sample_dt_ms=1.0, frame_period_ms=20.0, exposure_ms=15.0, n_frames=14)


def _central(f, x, eps):
    return (f(x + eps) - f(x - eps)) / (2 * eps)


@pytest.fixture(scope="module")
def setup(fake_recording):
    T = 300
    t = np.arange(T)
    v = np.stack([np.full(T, -65.0), np.where((t > 80) & (t < 200), -28.0, -62.0)], axis=1)
    act = activity_from_recording(fake_recording(T, 1.0, v=v, spikes=[(30.4, 0), (41.9, 0), (150.2, 0)]))
    optics = OpticsParams(
        photons_rest=jnp.array([900.0, 1300.0]), neuropil_fraction=jnp.asarray(0.25),
        neuropil_weights=jnp.array([[0.0, 1.0], [1.0, 0.0]]), bleach_rate_per_ms=jnp.asarray(1 / 3000.0),
    )
    weights = jnp.asarray(np.random.default_rng(0).normal(size=(TIMING.n_frames, 2)))
    source = jnp.array([SOURCE_SPIKES, SOURCE_VOLTAGE])
    return act, optics, weights, source


FIELDS = ("spike_increment_uM", "tau_decay_ms", "tau_rise_ms", "kd_uM", "hill", "dynamic_range", "influx_uM_per_ms", "influx_vhalf_mV")


def test_grad_wrt_indicator_parameters(setup):
    act, optics, weights, source = setup
    p0 = indicator_params(INDICATORS["gcamp6f"])
    loss = jax.jit(lambda p: jnp.sum(weights * fluorescence_from_activity(act, p, optics, source, timing=TIMING)))
    grad = jax.jit(jax.grad(loss))(p0)
    for field in FIELDS:
        x0 = getattr(p0, field)
        fd = float(_central(lambda x: loss(p0._replace(**{field: x})), x0, 1e-4 * abs(float(x0))))
        g = float(getattr(grad, field))
        assert g != 0.0, field
        assert g == pytest.approx(fd, rel=1e-5), field


def test_grad_wrt_activity_and_optics(setup):
    act, optics, weights, source = setup
    p = indicator_params(INDICATORS["gcamp6f"])

    @jax.jit
    def loss(v, rest):
        a = act._replace(v_mV=v)
        return jnp.sum(weights * fluorescence_from_activity(a, p, optics._replace(photons_rest=rest), source, timing=TIMING))

    gv, grest = jax.jit(jax.grad(loss, argnums=(0, 1)))(act.v_mV, optics.photons_rest)
    for j, col in ((120, 1), (150, 1), (60, 1)):
        e = jnp.zeros_like(act.v_mV).at[j, col].set(1e-3)
        fd = (loss(act.v_mV + e, optics.photons_rest) - loss(act.v_mV - e, optics.photons_rest)) / 2e-3
        assert float(gv[j, col]) == pytest.approx(float(fd), rel=1e-5)
    assert float(jnp.abs(gv[:, 0]).max()) == 0.0  # the spiking neuron's calcium ignores V
    for i in range(2):
        e = jnp.zeros(2).at[i].set(1e-3)
        fd = (loss(act.v_mV, optics.photons_rest + e) - loss(act.v_mV, optics.photons_rest - e)) / 2e-3
        assert float(grest[i]) == pytest.approx(float(fd), rel=1e-6)


def test_grad_through_engine_and_instrument():
    """d(fluorescence loss)/d(synaptic weight) of a graded pair, simulated with the engine."""
    c = hh_cells(2, na=0.0, kdr=0.0, release="graded", edges=[(0, 1, "ampa", 300.0)], receptors=("ampa",))
    model = build_model(c)
    stim = Stimulus(duration_ms=60.0, components=(Step(targets=(0,), amplitude_pA=500.0, start_ms=10.0, stop_ms=50.0),))
    timing = Timing(sample_dt_ms=1.0, frame_period_ms=10.0, exposure_ms=10.0, n_frames=6)
    ind = indicator_params(INDICATORS["gcamp6f"])
    optics = OpticsParams(jnp.array([1000.0, 1000.0]), jnp.asarray(0.0), jnp.zeros((2, 2)), jnp.asarray(0.0))
    empty = jnp.zeros(0, jnp.int32)

    @jax.jit
    def loss(w):
        v = simulate_arrays(model.with_params(w_kinetic_nS=w), stim, dt_ms=0.1, sample_dt_ms=1.0, record=("v",))["v"]
        act = Activity(v, jnp.full_like(v, 0.05), empty, empty, jnp.zeros(0))
        f = fluorescence_from_activity(act, ind, optics, jnp.array([SOURCE_VOLTAGE] * 2), timing=timing)
        return jnp.sum(f[:, 1])

    w0 = model.params["w_kinetic_nS"]
    g = jax.jit(jax.grad(loss))(w0)
    fd = _central(loss, w0, 1e-4 * w0)
    assert float(g[0]) > 0  # a stronger excitatory synapse brightens the postsynaptic cell
    np.testing.assert_allclose(np.asarray(g), np.asarray(fd), rtol=1e-5)
