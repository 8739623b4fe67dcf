"""Gate steady states and time constants of every channel of a Model, at voltage ``v``.

The kinetics functions come from the biophysics library (``biophysics/channels``); the
engine calls them once per step for all neurons at once. The Traub-Miles sodium and
potassium channels of COBAHH (``biophysics/channels/hh.py``) have a fused form here: the
same rate functions with one exponential shared between ``beta_m`` and ``beta_h`` and
``x/(exp(x) - 1)`` from ``exp`` (a series near 0) instead of ``expm1``, about 30% fewer
cycles per neuron (the HH update dominates the step once spike delivery is sparse).
``tests/reference/test_fused_rates.py`` holds them equal to the library's functions.
"""

from __future__ import annotations

import jax.numpy as jnp

from ..biophysics.channels import hh
from ..biophysics.model import Model


def _x_over_expm1(x, ex):
    """``x / (exp(x) - 1)`` given ``ex = exp(x)``; a four-term series where cancellation bites.

    Threshold by precision: float64 |x| < 1e-5 (series error < 1e-22, cancellation
    < 2e-11 beyond), float32 |x| < 0.1 (series error < 5e-11, cancellation < 1e-6).
    """
    tiny = 1e-5 if x.dtype == jnp.float64 else 1e-1
    small = jnp.abs(x) < tiny
    series = 1.0 - x / 2.0 + x * x / 12.0 - x * x * x * x / 720.0
    return jnp.where(small, series, x / jnp.where(small, 1.0, ex - 1.0))


def _rates(alpha, beta):
    s = alpha + beta
    return alpha / s, 1.0 / s


def fused_na(v, ca, p):
    """Traub-Miles sodium gates (m, h): same functions as ``hh._na_kinetics``."""
    u = v - p["VT_mV"]
    x_am, x_bm = (13.0 - u) / 4.0, (u - 40.0) / 5.0
    e_bm = jnp.exp(x_bm)  # beta_h's exp((40 - u)/5) is 1/e_bm
    alpha_m = 0.32 * 4.0 * _x_over_expm1(x_am, jnp.exp(x_am))
    beta_m = 0.28 * 5.0 * _x_over_expm1(x_bm, e_bm)
    alpha_h = 0.128 * jnp.exp((17.0 - u) / 18.0)
    beta_h = 4.0 / (1.0 + 1.0 / e_bm)
    return _rates(alpha_m, beta_m), _rates(alpha_h, beta_h)


def fused_kdr(v, ca, p):
    """Traub-Miles delayed-rectifier gate (n): same function as ``hh._kdr_kinetics``."""
    u = v - p["VT_mV"]
    x_an = (15.0 - u) / 5.0
    alpha_n = 0.032 * 5.0 * _x_over_expm1(x_an, jnp.exp(x_an))
    beta_n = 0.5 * jnp.exp((10.0 - u) / 40.0)
    return (_rates(alpha_n, beta_n),)


#: Library kinetics function -> its fused equivalent.
FUSED = {hh._na_kinetics: fused_na, hh._kdr_kinetics: fused_kdr}


def channel_rates(model: Model, v, ca, *, fused: bool = True):
    """Per channel: tuple of (x_inf, tau_ms) per gate, each shaped like ``v``."""
    p, m = model.params, model.meta
    out = []
    for ch, kin, names in zip(m.channels, m.kinetics, m.kinetic_param_names):
        if kin is None:
            out.append(())
            continue
        kp = {k: p[f"kin.{ch}.{k}"] for k in names}
        fn = FUSED.get(kin, kin) if fused else kin
        out.append(fn(v, ca, kp))
    return out
