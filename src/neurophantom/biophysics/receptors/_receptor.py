"""The ReceptorType record and the two transmission schemes the engine uses.

*Event-driven* (for presynaptic neurons that spike, ``release="spike"``): each spike adds a
normalised double-exponential conductance ``w (exp(-t/tau_decay) - exp(-t/tau_rise))/peak``
to the postsynaptic neuron (a single exponential when ``tau_rise_ms == 0``), as in Brette
et al. (2007).

*Kinetic* (graded presynaptic neurons, and spiking ones when a differentiable model is
wanted): transmitter concentration ``T = 1 / (1 + exp(-(V_pre - V_half)/k))`` in mM grades
with presynaptic voltage, and the fraction of open receptors follows
``dr/dt = alpha T (1 - r) - beta r`` with ``beta = 1 / tau_decay`` (Destexhe, Mainen &
Sejnowski 1994). With a wide sigmoid centred near rest this is the graded synapse of
C. elegans models (Wicks et al. 1996; c302).

References
----------
Destexhe A, Mainen ZF, Sejnowski TJ (1994) An efficient method for computing synaptic
conductances based on a kinetic model of receptor binding. Neural Comput 6:14-18.
Wicks SR, Roehrig CJ, Rankin CH (1996) A dynamic network simulation of the nematode tap
withdrawal circuit. J Neurosci 16:4017-4031.
"""

from __future__ import annotations

import dataclasses

from ..._errors import ValidationError


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReceptorType:
    """A postsynaptic receptor (ligand-gated channel or metabotropic receptor-channel pair)."""

    name: str
    transmitter: str
    E_mV: float
    g_unit_pS: float
    tau_rise_ms: float
    tau_decay_ms: float
    alpha_per_mM_ms: float
    mg_block: bool = False
    reference: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValidationError(f"receptor name {self.name!r} must be an identifier")
        if not (self.g_unit_pS > 0):
            raise ValidationError(f"receptor {self.name}: unitary conductance must be > 0 pS")
        if not (self.tau_decay_ms > 0) or self.tau_rise_ms < 0 or self.tau_rise_ms >= self.tau_decay_ms:
            raise ValidationError(f"receptor {self.name}: need 0 <= tau_rise_ms < tau_decay_ms")
        if not (self.alpha_per_mM_ms > 0):
            raise ValidationError(f"receptor {self.name}: binding rate must be > 0")
        if not (-150.0 <= self.E_mV <= 100.0):
            raise ValidationError(f"receptor {self.name}: reversal {self.E_mV} mV outside [-150, 100]")

    @property
    def beta_per_ms(self) -> float:
        return 1.0 / self.tau_decay_ms

    @property
    def excitatory(self) -> bool:
        """True when the reversal lies above a typical firing threshold (-50 mV)."""
        return self.E_mV > -50.0

    def with_params(self, **changes: float) -> "ReceptorType":
        fields = {f.name for f in dataclasses.fields(self)} - {"name", "transmitter", "reference", "mg_block"}
        unknown = set(changes) - fields
        if unknown:
            raise ValidationError(f"receptor {self.name}: unknown parameter(s) {sorted(unknown)}")
        return dataclasses.replace(self, **changes)
