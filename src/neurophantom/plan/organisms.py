"""Organisms the planner knows: neuron count, synapse count, brain or CNS volume.

Each number is a :class:`~neurophantom.instruments.specs.Cited` value with its source and
certainty. Volumes are what must be imaged: the whole animal for C. elegans (its nervous
system runs through the body), the brain for the others, the whole CNS for human (the
plan's 1400 cm^3).

References
----------
White JG, Southgate E, Thomson JN, Brenner S (1986) The structure of the nervous system of
the nematode Caenorhabditis elegans. Phil Trans R Soc Lond B 314:1-340.
Cook SJ et al. (2019) Whole-animal connectomes of both Caenorhabditis elegans sexes.
Nature 571:63-71.
Zheng Z et al. (2018) A complete electron microscopy volume of the brain of adult
Drosophila melanogaster. Cell 174:730-743.
Dorkenwald S et al. (2024) Neuronal wiring diagram of an adult brain. Nature 634:124-138.
Ahrens MB et al. (2013) Whole-brain functional imaging at cellular resolution using
light-sheet microscopy. Nat Methods 10:413-420.
Herculano-Houzel S, Mota B, Lent R (2006) Cellular scaling rules for rodent brains. PNAS
103:12138-12143.
Herculano-Houzel S et al. (2007) Cellular scaling rules for primate brains. PNAS
104:3562-3567.
Azevedo FAC et al. (2009) Equal numbers of neuronal and nonneuronal cells make the human
brain an isometrically scaled-up primate brain. J Comp Neurol 513:532-541.
Pakkenberg B et al. (2003) Aging and the human neocortex. Exp Gerontol 38:95-99.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._errors import NeurophantomError
from ..instruments.specs import Certainty, Cited


@dataclass(frozen=True)
class Organism:
    """One organism: what an upload must image and then emulate."""

    name: str
    label: str
    neurons: Cited
    synapses: Cited
    volume_cm3: Cited

    def cited(self) -> dict[str, Cited]:
        return {"neurons": self.neurons, "synapses": self.synapses, "volume_cm3": self.volume_cm3}


def _c(v: float, unit: str, src: str, cert: Certainty) -> Cited:
    return Cited(float(v), unit, src, cert)


ORGANISMS: dict[str, Organism] = {o.name: o for o in (
    Organism("celegans", "C. elegans (hermaphrodite)",
             _c(302, "neurons", "White et al. 1986", "high"),
             _c(7.0e3, "synapses", "White et al. 1986; Cook et al. 2019 (~7000 chemical synapses "
                "incl. neuromuscular)", "medium"),
             _c(3.0e-6, "cm^3", "whole adult body, ~1 mm long x ~65 um wide cylinder (derived)",
                "medium")),
    Organism("drosophila", "Drosophila melanogaster (adult)",
             _c(1.39e5, "neurons", "Dorkenwald et al. 2024 (FlyWire, 139,255 neurons)", "high"),
             _c(5.45e7, "synapses", "Dorkenwald et al. 2024 (FlyWire, ~54.5M chemical synapses)",
                "medium"),
             _c(7.0e-5, "cm^3", "Zheng et al. 2018 (FAFB, ~0.07 mm^3 imaged brain)", "medium")),
    Organism("zebrafish_larva", "Danio rerio larva (6-7 dpf)",
             _c(1.0e5, "neurons", "Ahrens et al. 2013 (~1e5 neurons)", "medium"),
             _c(1.0e8, "synapses", "estimate: ~1000 synapses per neuron", "low"),
             _c(1.0e-4, "cm^3", "estimate: brain ~0.8 x 0.5 x 0.4 mm, ~0.1 mm^3", "low")),
    Organism("mouse", "Mus musculus (adult)",
             _c(7.1e7, "neurons", "Herculano-Houzel et al. 2006 (71 million)", "high"),
             _c(1.0e11, "synapses", "estimate: ~7e7 neurons x ~1e3-1e4 synapses each", "low"),
             _c(0.45, "cm^3", "brain ~0.4-0.5 g (Herculano-Houzel et al. 2006)", "medium")),
    Organism("marmoset", "Callithrix jacchus (adult)",
             _c(6.4e8, "neurons", "Herculano-Houzel et al. 2007 (636 million)", "high"),
             _c(1.0e12, "synapses", "estimate: ~6e8 neurons x ~2e3 synapses each", "low"),
             _c(7.8, "cm^3", "brain mass ~7.8 g (Herculano-Houzel et al. 2007)", "medium")),
    Organism("macaque", "Macaca mulatta (adult)",
             _c(6.4e9, "neurons", "Herculano-Houzel et al. 2007 (6.38 billion)", "high"),
             _c(2.0e13, "synapses", "estimate: ~6e9 neurons x ~3e3 synapses each", "low"),
             _c(87.0, "cm^3", "brain mass ~87 g (Herculano-Houzel et al. 2007)", "medium")),
    Organism("human", "Homo sapiens (adult)",
             _c(8.6e10, "neurons", "Azevedo et al. 2009 (86 billion)", "high"),
             _c(1.5e14, "synapses", "Pakkenberg et al. 2003 (neocortex ~1.5e14; whole brain "
                "1e14-1e15)", "medium"),
             _c(1400.0, "cm^3", "the plan: human central nervous system about 1400 cm^3", "medium")),
)}

ALIASES = {"c_elegans": "celegans", "c.elegans": "celegans", "worm": "celegans",
           "fly": "drosophila", "zebrafish": "zebrafish_larva", "rhesus": "macaque"}


def get_organism(name: str) -> Organism:
    """The organism registered as ``name`` (or a common alias such as ``fly``)."""
    key = ALIASES.get(name.strip().lower(), name.strip().lower())
    try:
        return ORGANISMS[key]
    except KeyError:
        raise NeurophantomError(f"unknown organism {name!r}; choose one of {sorted(ORGANISMS)}") from None
