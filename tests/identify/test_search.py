"""The derivative-free coordinate search of ``fit_map`` on objectives with a known answer.

Oracle: the objective's own minimum. A rough bowl (a quadratic with ripples, like a
spiking network's loss where a small change recruits or silences a cell) traps gradient
descent in the ripple nearest the start; the coordinate search, which compares whole-loss
values across the axis, reaches the bowl's bottom to its grid resolution. The search
returns what the validation trials prefer (early stopping), not what the training
trials prefer.
"""

import jax
import jax.numpy as jnp
import numpy as np

from neurophantom.identify.fit import SEARCH_OFFSETS, coordinate_search

TARGET = jnp.array([1.3, -0.9, 0.4])


def _rough(u):
    return float(jnp.sum((u - TARGET) ** 2) + 0.5 * jnp.sum(jnp.sin(12.0 * (u - TARGET)) ** 2))


class _Obj:
    """The two methods coordinate_search uses; ``trials`` picks the loss."""

    def loss(self, u, trials):
        return trials(u)


def test_search_leaves_the_ripple_gradient_descent_stays_in():
    u0 = jnp.zeros(3)
    bounds = (jnp.full(3, -5.0), jnp.full(3, 5.0))
    u, _ = coordinate_search(_Obj(), u0, _rough, _rough, cycles=3, bounds=bounds, history=[], t0=0.0)
    # Resolution after three cycles: the smallest offset of the last cycle.
    step = float(np.min(np.abs(SEARCH_OFFSETS))) / 4.0
    assert float(jnp.max(jnp.abs(u - TARGET))) < 2 * step + 0.05, u
    g = jax.grad(lambda v: jnp.sum((v - TARGET) ** 2) + 0.5 * jnp.sum(jnp.sin(12.0 * (v - TARGET)) ** 2))
    v = u0
    for _ in range(500):
        v = v - 0.01 * g(v)
    assert float(jnp.max(jnp.abs(v - TARGET))) > 0.3, "the ripples trap plain gradient descent"
    assert _rough(u) < _rough(v)


def test_search_keeps_what_validation_prefers():
    u0 = jnp.zeros(3)
    bounds = (jnp.full(3, -5.0), jnp.full(3, 5.0))
    history: list = []
    u, best_val = coordinate_search(_Obj(), u0, _rough, lambda v: float(jnp.sum(v**2)), cycles=2, bounds=bounds,
                                    history=history, t0=0.0)
    assert np.allclose(np.asarray(u), 0.0) and best_val == 0.0  # training moved, validation disagreed
    assert [h["step"] for h in history] == ["search_1", "search_2"]
    assert history[-1]["train_loss"] < _rough(u0)
