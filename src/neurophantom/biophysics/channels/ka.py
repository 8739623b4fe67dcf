"""A-type transient potassium channel (Connor-Stevens model).

``I = g a^3 b (V - E_K)`` with the fitted steady states and time constants of the
Connor-Stevens model as given by Dayan & Abbott (2001), eq. 6.14-6.16.

References
----------
Connor JA, Stevens CF (1971) J Physiol 213:21-30.
Dayan P, Abbott LF (2001) Theoretical Neuroscience, MIT Press, section 6.2.
"""

from __future__ import annotations

import jax.numpy as jnp

from ._channel import ChannelType


def _ka_kinetics(v, ca, p):
    a_inf = (0.0761 * jnp.exp((v + 94.22) / 31.84) / (1.0 + jnp.exp((v + 1.17) / 28.93))) ** (1.0 / 3.0)
    tau_a = 0.3632 + 1.158 / (1.0 + jnp.exp((v + 55.96) / 20.12))
    b_inf = 1.0 / (1.0 + jnp.exp((v + 53.3) / 14.54)) ** 4
    tau_b = 1.24 + 2.678 / (1.0 + jnp.exp((v + 50.0) / 16.027))
    return (a_inf, tau_a), (b_inf, tau_b)


KA = ChannelType(
    name="ka",
    ion="k",
    E_mV=-75.0,
    g_unit_pS=20.0,
    gates=("a", "b"),
    powers=(3, 1),
    kinetics=_ka_kinetics,
    reference="Connor & Stevens 1971; Dayan & Abbott 2001 eq. 6.14-6.16",
)
