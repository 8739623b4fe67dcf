"""Which receptors a C. elegans connection carries: from data, or the old seeded guess.

``signs="expression"`` (default): for each fast transmitter of the presynaptic neuron
(Wang et al. 2024), the postsynaptic neuron's own ionotropic receptor genes decide
(CeNGEN expression of the Fenyves et al. 2020 gene lists, through ``wormneuroatlas``):

==========  ========================  =========================  ==========================
transmitter excitatory genes -> type  inhibitory genes -> type   neither profiled nor found
==========  ========================  =========================  ==========================
ACh         acr-*, unc-29/38/63, ...  acc-1..3, lgc-47..49       ``nach`` (most neurons
            -> ``nach``               -> ``acc``                 express the cation channel)
Glu         glr-*, nmr-* -> ``ampa``  glc-*, avr-14/15 -> ``glucl``  both, half each
GABA        exp-1, lgc-35 -> ``exp1`` unc-49, lgc-36..38, ...   ``gaba_a``
                                      -> ``gaba_a``
==========  ========================  =========================  ==========================

A neuron expressing both kinds gets both, half the density each (the sign data's "0").
Nothing is drawn at random: two seeds give the same receptors. Betaine -> ``nach``
(ACR-23/LGC-41, Peden et al. 2013); a presynaptic neuron with only monoamines or
neuropeptides gets the slow metabotropic pair ``gpcr_exc`` + ``gpcr_inh`` (half each:
the net sign of most worm GPCR pathways is not in the installed data, so the atlas fit
learns it as a shared conductance); one with no known transmitter gets
``unknown_transmitter_receptor``.

``signs="guess"``: the previous c302-style rule (ACh -> ``nach``, GABA -> ``gaba_a``,
glutamate -> ``ampa`` or ``glucl`` by a seeded draw with ``glucl_fraction``).

References
----------
Fenyves BG et al. (2020) PLoS Comput Biol 16:e1007974. Taylor SR et al. (2021) Cell
184:4329. Wang C et al. (2024) eLife 13:RP95402. Peden AS et al. (2013) Nat Neurosci
16:1794. Putrenko I et al. (2005) J Biol Chem 280:6392 (ACC channels). Beg AA,
Jorgensen EM (2003) Nat Neurosci 6:1145 (EXP-1).
"""

from __future__ import annotations

#: Receptor types a data-grounded worm synapse can carry.
RECEPTOR_TYPES = ("nach", "acc", "ampa", "glucl", "gaba_a", "exp1", "gpcr_exc", "gpcr_inh")
#: Receptors of the slow extrasynaptic pathway.
SLOW = ("gpcr_exc", "gpcr_inh")
#: Sign-data transmitter key -> (excitatory type, inhibitory type).
BY_SIGN = {"ACh": ("nach", "acc"), "Glu": ("ampa", "glucl"), "GABA": ("exp1", "gaba_a")}
#: Receptors when the postsynaptic neuron has no expression call for the transmitter.
NO_DATA = {"ACh": ("nach",), "Glu": ("ampa", "glucl"), "GABA": ("gaba_a",)}
#: Wang 2024 / cect transmitter class -> sign-data key (or a receptor directly).
TRANSMITTER_KEY = {"Acetylcholine": "ACh", "Glutamate": "Glu", "GABA": "GABA"}
DIRECT = {"Betaine": ("nach",), "ExcitatoryChem": ("nach",), "InhibitoryChem": ("gaba_a",)}
MODULATORS = {"Dopamine", "Serotonin", "Tyramine", "Octopamine"}


def fast_transmitters(classes: set[str], atlas_entry: tuple[str, ...]) -> list[str]:
    """Fast transmitters of one connection: its own class labels, else the neuron's atlas entry."""
    known = set(TRANSMITTER_KEY) | set(DIRECT)
    fast = [c for c in sorted(classes) if c in known]
    if not fast:
        fast = [t for t in atlas_entry if t in known]
    return list(dict.fromkeys(fast))


def expression_receptors(transmitters: list[str], modulators: bool, post: str, expr, unknown: str) -> list[tuple[str, float]]:
    """(receptor, share of the connection's density) for one connection (see module docstring)."""
    keys: list[tuple[str, ...]] = []
    for t in transmitters:
        if t in DIRECT:
            keys.append(DIRECT[t])
            continue
        k = TRANSMITTER_KEY[t]
        exc, inh = post in expr.exc[k], post in expr.inh[k]
        if post in expr.profiled and (exc or inh):
            keys.append(BY_SIGN[k] if exc and inh else (BY_SIGN[k][0],) if exc else (BY_SIGN[k][1],))
        else:
            keys.append(NO_DATA[k])
    if not keys:
        keys.append(SLOW if modulators else (unknown,))
    out: dict[str, float] = {}
    for group in keys:
        for r in group:
            out[r] = out.get(r, 0.0) + 1.0 / (len(keys) * len(group))
    return sorted(out.items())


def guessed_receptors(transmitters: list[str], glu_inhibitory: bool, unknown: str) -> list[tuple[str, float]]:
    """The previous seeded rule (``signs="guess"``)."""
    names = []
    for t in transmitters:
        if t in DIRECT:
            names.append(DIRECT[t][0])
        else:
            names.append({"ACh": "nach", "GABA": "gaba_a", "Glu": "glucl" if glu_inhibitory else "ampa"}[TRANSMITTER_KEY[t]])
    names = list(dict.fromkeys(names)) or [unknown]
    return [(r, 1.0 / len(names)) for r in names]


def net_sign(densities: dict[str, float], bio) -> float:
    """+1 when every receptor of a row is excitatory, -1 when every one is inhibitory, 0 mixed."""
    kinds = {bio.receptor(r).excitatory for r, d in densities.items() if d > 0}
    if len(kinds) != 1:
        return 0.0
    return 1.0 if kinds == {True} else -1.0
