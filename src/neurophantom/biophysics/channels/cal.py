"""L-type (high-voltage-activated) calcium channel.

``I = g m^2 (V - E_Ca)`` with a Boltzmann steady state and a constant activation time
constant, the simplified form used for C. elegans muscle and neuron models (Boyle & Cohen
2008) and for cortical HVA currents. The calcium it carries drives the intracellular
calcium pool (see ``biophysics.calcium``).

References
----------
Boyle JH, Cohen N (2008) Caenorhabditis elegans body wall muscles are simple actuators.
Biosystems 94:170-181.
"""

from __future__ import annotations

import jax.numpy as jnp

from ._channel import ChannelType


def _cal_kinetics(v, ca, p):
    m_inf = 1.0 / (1.0 + jnp.exp(-(v - p["vhalf_mV"]) / p["k_mV"]))
    return ((m_inf, jnp.full_like(v, p["tau_ms"])),)


CAL = ChannelType(
    name="cal",
    ion="ca",
    E_mV=60.0,
    # Cav1 unitary conductance ~ 5-25 pS depending on charge carrier (Hille 2001).
    g_unit_pS=10.0,
    gates=("m",),
    powers=(2,),
    kinetics=_cal_kinetics,
    params={"vhalf_mV": -20.0, "k_mV": 6.0, "tau_ms": 1.0},
    carries_calcium=True,
    reference="Boyle & Cohen 2008",
)
