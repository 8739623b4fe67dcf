"""Fast sodium and delayed-rectifier potassium channels (Traub-Miles kinetics).

The rate functions are those of the Brette et al. (2007) COBAHH benchmark (after Traub &
Miles 1991), written exactly as in Brian2's ``COBAHH`` example so that the two simulators
can be compared term for term; ``VT_mV`` shifts the activation curves.

References
----------
Traub RD, Miles R (1991) Neuronal Networks of the Hippocampus. Cambridge University Press.
Brette R et al. (2007) Simulation of networks of spiking neurons: a review of tools and
strategies. J Comput Neurosci 23:349-398 (benchmark 3, COBAHH).
"""

from __future__ import annotations

import jax.numpy as jnp

from ._channel import ChannelType, exprel, from_alpha_beta


def _na_kinetics(v, ca, p):
    vt = p["VT_mV"]
    alpha_m = 0.32 * 4.0 / exprel((13.0 - v + vt) / 4.0)
    beta_m = 0.28 * 5.0 / exprel((v - vt - 40.0) / 5.0)
    alpha_h = 0.128 * jnp.exp((17.0 - v + vt) / 18.0)
    beta_h = 4.0 / (1.0 + jnp.exp((40.0 - v + vt) / 5.0))
    return from_alpha_beta(alpha_m, beta_m), from_alpha_beta(alpha_h, beta_h)


def _kdr_kinetics(v, ca, p):
    vt = p["VT_mV"]
    alpha_n = 0.032 * 5.0 / exprel((15.0 - v + vt) / 5.0)
    beta_n = 0.5 * jnp.exp((10.0 - v + vt) / 40.0)
    return (from_alpha_beta(alpha_n, beta_n),)


NA = ChannelType(
    name="na",
    ion="na",
    E_mV=50.0,
    # Single Nav channel conductance ~ 15-20 pS (Hille, Ion Channels of Excitable Membranes, 3rd ed.).
    g_unit_pS=20.0,
    gates=("m", "h"),
    powers=(3, 1),
    kinetics=_na_kinetics,
    params={"VT_mV": -63.0},
    reference="Traub & Miles 1991; Brette et al. 2007 (COBAHH)",
)

KDR = ChannelType(
    name="kdr",
    ion="k",
    E_mV=-90.0,
    # Delayed-rectifier Kv unitary conductance ~ 10 pS (Hille 2001).
    g_unit_pS=10.0,
    gates=("n",),
    powers=(4,),
    kinetics=_kdr_kinetics,
    params={"VT_mV": -63.0},
    reference="Traub & Miles 1991; Brette et al. 2007 (COBAHH)",
)
