"""C. elegans neuron classes and their channel sets.

Every neuron belongs to one membrane class. Most take their Cook et al. (2019) role
(``sensory``, ``interneuron``, ``motor``, ``other``): graded neurons with leak, the
delayed rectifier, the L-type calcium channel (EGL-19) and the calcium-activated K channel
(SLO), at the c302-style densities of :mod:`.celegans_params` (each class gets its own
copy, which the atlas fit scales per class). Neurons whose electrophysiology is measured
and different get their own set:

- ``awa`` (AWAL, AWAR): calcium action potentials. AWA fires all-or-none spikes carried
  by EGL-19 and repolarised by the fast Shaker-type K channel SHK-1 (Liu et al. 2018):
  ten times the L-type density of a graded neuron plus an A-type (fast, inactivating) K
  channel. An isolated cell is graded up to a 10 pA step (peak -31 mV) and jumps to a
  calcium plateau near -4 mV at 20 pA (all-or-none), where a graded cell reaches -21 mV.
- ``rmd`` (RMDL/R, RMDDL/R, RMDVL/R): plateau potentials through EGL-19 (Mellem et al.
  2008): eight times the L-type density of a graded neuron.

Gap junctions are grouped by the classes of their two neurons (``pair_class``: the two
Cook roles, sorted, e.g. ``interneuron-motor``), one conductance per count for each group.

References
----------
Liu Q, Kidd PB, Dobosiewicz M, Bargmann CI (2018) C. elegans AWA olfactory neurons fire
calcium-mediated all-or-none action potentials. Cell 175:57-70.
Mellem JE, Brockie PJ, Madsen DM, Maricq AV (2008) Action potentials contribute to neuronal
signaling in C. elegans. Nat Neurosci 11:865-867.
"""

from __future__ import annotations

import re

#: Channel types of the worm membrane (``ka`` only in classes that carry it).
CHANNEL_TYPES = ("leak", "kdr", "cal", "kca", "ka")
#: The membrane classes, in a fixed order (fit parameters are indexed by it).
CLASSES = ("sensory", "interneuron", "motor", "other", "awa", "rmd")
#: Density of each channel type, per class, relative to the graded baseline
#: (``leak_pS_per_um2``, ``kdr_per_um2``, ``cal_per_um2``, ``kca_per_um2`` of the Config);
#: ``ka`` is absolute (channels/um^2, 20 pS each).
CLASS_FACTORS: dict[str, dict[str, float]] = {
    "sensory": {}, "interneuron": {}, "motor": {}, "other": {},
    "awa": {"cal": 10.0, "ka": 1.0},
    "rmd": {"cal": 8.0},
}
_SPECIAL = (("awa", re.compile(r"^AWA[LR]$")), ("rmd", re.compile(r"^RMD[DV]?[LR]$")))
_ROLES = ("sensory", "interneuron", "motor", "other")


def membrane_class(name: str, role: str) -> str:
    """The membrane class of neuron ``name`` whose Cook role is ``role``."""
    for cls, pattern in _SPECIAL:
        if pattern.match(name):
            return cls
    return role if role in _ROLES else "other"


def pair_class(role_a: str, role_b: str) -> str:
    """Gap-junction group of two neurons with Cook roles ``role_a`` and ``role_b``."""
    a, b = sorted((role_a if role_a in _ROLES else "other", role_b if role_b in _ROLES else "other"))
    return f"{a}-{b}"


#: Every gap-junction pair class, in a fixed order.
PAIR_CLASSES = tuple(sorted({pair_class(a, b) for a in _ROLES for b in _ROLES}))


def densities(cls: str, base: dict[str, float]) -> dict[str, float]:
    """Channel densities of class ``cls`` given the graded baseline ``base``."""
    f = CLASS_FACTORS[cls]
    out = {ch: base[ch] * f.get(ch, 1.0) for ch in ("leak", "kdr", "cal", "kca")}
    out["ka"] = f.get("ka", 0.0)
    return out
