"""Calcium-activated potassium channel (SK-like, small conductance).

``I = g z (V - E_K)``; the gate relaxes to the Hill function
``z_inf = Ca^n / (Ca^n + Kd^n)`` of the intracellular calcium concentration (uM) with a
fixed time constant.

References
----------
Hirschberg B, Maylie J, Adelman JP, Marrion NV (1998) Gating of recombinant
small-conductance Ca-activated K+ channels by calcium. J Gen Physiol 111:565-581
(Kd ~ 0.3-0.7 uM, Hill coefficient ~ 4).
"""

from __future__ import annotations

import jax.numpy as jnp

from ._channel import ChannelType


def _kca_kinetics(v, ca, p):
    can = jnp.maximum(ca, 0.0) ** p["hill"]
    z_inf = can / (can + p["kd_uM"] ** p["hill"])
    return ((z_inf, jnp.full_like(v, p["tau_ms"])),)


KCA = ChannelType(
    name="kca",
    ion="k",
    E_mV=-90.0,
    g_unit_pS=10.0,
    gates=("z",),
    powers=(1,),
    kinetics=_kca_kinetics,
    params={"kd_uM": 0.5, "hill": 4.0, "tau_ms": 5.0},
    calcium_dependent=True,
    reference="Hirschberg et al. 1998",
)
