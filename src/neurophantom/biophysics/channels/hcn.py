"""Hyperpolarisation-activated cation channel (HCN, I_h).

``I = g h (V - E_h)`` with the steady state and time constant of Huguenard & McCormick
(1992) for thalamic relay neurons.

References
----------
Huguenard JR, McCormick DA (1992) Simulation of the currents involved in rhythmic
oscillations in thalamic relay neurons. J Neurophysiol 68:1373-1383.
"""

from __future__ import annotations

import jax.numpy as jnp

from ._channel import ChannelType


def _hcn_kinetics(v, ca, p):
    h_inf = 1.0 / (1.0 + jnp.exp((v + 75.0) / 5.5))
    tau_h = 1.0 / (jnp.exp(-14.59 - 0.086 * v) + jnp.exp(-1.87 + 0.0701 * v))
    return ((h_inf, tau_h),)


HCN = ChannelType(
    name="hcn",
    ion="h",
    E_mV=-43.0,
    # HCN unitary conductance ~ 1 pS (DiFrancesco 1986).
    g_unit_pS=1.0,
    gates=("h",),
    powers=(1,),
    kinetics=_hcn_kinetics,
    reference="Huguenard & McCormick 1992",
)
