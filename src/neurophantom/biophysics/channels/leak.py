"""Passive leak channel: a voltage-independent conductance with a fixed reversal.

Modelled as channels of 1 pS so that a density in channels/um^2 reads directly as
pS/um^2 (0.5 pS/um^2 = 5e-5 S/cm^2, the COBAHH leak).

References
----------
Hodgkin AL, Huxley AF (1952) J Physiol 117:500-544.
"""

from ._channel import ChannelType

LEAK = ChannelType(
    name="leak",
    ion="leak",
    E_mV=-60.0,
    g_unit_pS=1.0,
    gates=(),
    powers=(),
    kinetics=None,
    reference="Hodgkin & Huxley 1952",
)
