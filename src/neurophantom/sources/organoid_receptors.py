"""Receptor densities of the synthetic organoid: rules, hidden variation and memory.

**Rule** (the "few hundred cell types" world). A contact's density of receptor ``r`` is

    log density = log D[pre type, post type, r] + BETA[r] x log(size / median size)

Pyramidal cells release glutamate (AMPA + NMDA), PV and SST cells GABA (GABA-A; SST
cells also recruit GABA-B on pyramidal cells, as dendrite-targeting inhibition does:
Urban-Ciecko et al. 2015). Larger synapses carry more AMPA receptors per area, while the
NMDA receptor count varies little with size (Takumi et al. 1999; Nusser et al. 1998), so
``BETA`` is +0.5 for AMPA, -0.5 for NMDA and 0 for GABA receptors (number proportional
to area: Nusser et al. 1997). PV cells get strong AMPA input, SST cells weak (Gulyas et
al. 1999; Silberberg & Markram 2007).

**Predictability** ``p`` in [0, 1]. For each receptor type, over the contacts that can
carry it (its transmitter is released there), the rule densities are permuted: the
contacts' normal scores (ranks of the rule density mapped through the inverse normal
CDF) are mixed with independent normal draws, ``u = sqrt(p) u_rule + sqrt(1 - p) z``,
and the densities are handed out in the order of ``u`` (a Gaussian copula). The marginal
distribution is exactly the rule's (the same values, permuted); at ``p = 1`` every
density is the rule's, at ``p = 0`` densities are independent of type and size, and in
between ``p`` is about the fraction of the variance of log density that type and size
explain (R^2 of the regression; less for receptors whose rule takes few distinct values).

**Memory**. Hebbian imprinting of a few patterns (disjoint sets of pyramidal cells):
on every pyramidal->pyramidal contact whose two cells belong to the same pattern, the
AMPA receptor number grows by the factor ``1 + memory_strength`` (Hopfield 1982;
assemblies as in Litwin-Kumar & Doiron 2014). How much of that shows in shape follows the
same knob as the rest of the receptor information: with predictability ``p`` the contact
grows by ``(1 + s)^(p / (1 + BETA_ampa))`` (structural plasticity: spine and PSD size
track AMPA content, Matsuzaki et al. 2001, 2004), so that the rule applied to the new size
accounts for a factor ``(1 + s)^p`` of the AMPA number, and the remaining factor
``(1 + s)^(1 - p)`` multiplies the AMPA and NMDA densities directly. At ``p = 1`` the
memory is fully visible in synapse sizes (a Rosetta map from shape recovers it); at
``p = 0`` no shape reveals it and only receptor barcodes can.

References
----------
Holtmaat A, Svoboda K (2009) Experience-dependent structural synaptic plasticity in the
mammalian brain. Nat Rev Neurosci 10:647-658.
Nusser Z, Cull-Candy S, Farrant M (1997) Differences in synaptic GABA(A) receptor number
underlie variation in GABA mini amplitude. Neuron 19:697-709.
Nusser Z et al. (1998) Cell type and pathway dependence of synaptic AMPA receptor number
and variability in the hippocampus. Neuron 21:545-559.
Takumi Y, Ramirez-Leon V, Laake P, Rinvik E, Ottersen OP (1999) Different modes of
expression of AMPA and NMDA receptors in hippocampal synapses. Nat Neurosci 2:618-624.
Gulyas AI et al. (1999) Precision and variability in postsynaptic target selection of
inhibitory cells in the hippocampal CA3 region. Eur J Neurosci 11:2283-2290.
Silberberg G, Markram H (2007) Disynaptic inhibition between neocortical pyramidal cells
mediated by Martinotti cells. Neuron 53:735-746.
Urban-Ciecko J, Fanselow EE, Barth AL (2015) Neocortical somatostatin neurons reversibly
silence excitatory transmission via GABAb receptors. Curr Biol 25:722-731.
Matsuzaki M et al. (2001) Dendritic spine geometry is critical for AMPA receptor
expression in hippocampal CA1 pyramidal neurons. Nat Neurosci 4:1086-1092.
Matsuzaki M et al. (2004) Structural basis of long-term potentiation in single dendritic
spines. Nature 429:761-766.
Hopfield JJ (1982) Neural networks and physical systems with emergent collective
computational abilities. PNAS 79:2554-2558.
Litwin-Kumar A, Doiron B (2014) Formation and maintenance of neuronal assemblies through
synaptic plasticity. Nat Commun 5:5319.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from .organoid_cells import TYPES

#: Receptor types of the organoid.
RECEPTOR_TYPES = ("ampa", "nmda", "gaba_a", "gaba_b")
#: Density (receptors/um^2) at the median contact size, per (pre type, post type).
DENSITY: dict[tuple[str, str], dict[str, float]] = {
    ("pyramidal", "pyramidal"): {"ampa": 600.0, "nmda": 20.0},
    ("pyramidal", "pv"): {"ampa": 250.0, "nmda": 20.0},
    ("pyramidal", "sst"): {"ampa": 400.0, "nmda": 20.0},
    ("pv", "pyramidal"): {"gaba_a": 1500.0},
    ("pv", "pv"): {"gaba_a": 600.0},
    ("pv", "sst"): {"gaba_a": 400.0},
    ("sst", "pyramidal"): {"gaba_a": 500.0, "gaba_b": 300.0},
    ("sst", "pv"): {"gaba_a": 400.0},
    ("sst", "sst"): {"gaba_a": 300.0},
}
#: Exponent of the size dependence of density.
BETA = {"ampa": 0.5, "nmda": -0.5, "gaba_a": 0.0, "gaba_b": 0.0}
#: Receptors scaled by Hebbian imprinting.
PLASTIC = ("ampa", "nmda")


def rule_densities(pre_t: np.ndarray, post_t: np.ndarray, size_um2: np.ndarray, median_um2: float) -> dict[str, np.ndarray]:
    """Rule densities per receptor (zero where the transmitter is not released)."""
    out = {r: np.zeros(len(size_um2)) for r in RECEPTOR_TYPES}
    rel = np.log(size_um2 / median_um2)
    for (a, b), table in DENSITY.items():
        m = (pre_t == TYPES.index(a)) & (post_t == TYPES.index(b))
        for r, d in table.items():
            out[r][m] = d * np.exp(BETA[r] * rel[m])
    return out


def _normal_scores(x: np.ndarray) -> np.ndarray:
    rank = np.empty(len(x))
    rank[np.argsort(x, kind="stable")] = np.arange(len(x))
    return ndtri((rank + 0.5) / len(x))


def scramble(dens: dict[str, np.ndarray], predictability: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Permute each receptor's densities so they follow the rule with ``predictability``."""
    out = {}
    p = float(predictability)
    for r in RECEPTOR_TYPES:
        d = dens[r].copy()
        support = np.flatnonzero(d > 0)
        z = rng.standard_normal(len(support))
        if len(support) > 1 and p < 1.0:
            u = np.sqrt(p) * _normal_scores(d[support]) + np.sqrt(1.0 - p) * z
            order = np.argsort(u, kind="stable")
            d[support[order]] = np.sort(d[support])
        out[r] = d
    return out


def choose_patterns(pyramidal_ids: np.ndarray, n_patterns: int, size: int, rng: np.random.Generator) -> list[list[int]]:
    """Disjoint memory patterns of pyramidal-cell ids, each sorted."""
    pick = rng.choice(pyramidal_ids, size=n_patterns * size, replace=False)
    return [sorted(int(i) for i in pick[k * size:(k + 1) * size]) for k in range(n_patterns)]


def assembly_wiring(p: np.ndarray, patterns: list[list[int]], p_assembly: float) -> np.ndarray:
    """Connection probabilities with pairs inside one pattern raised to at least
    ``p_assembly``: learning that stores an assembly grows synapses among its members as
    well as strengthening them (structural plasticity; Holtmaat & Svoboda 2009), so that
    every uncued member receives input from the cued half."""
    if p_assembly <= 0 or not patterns:
        return p
    out = p.copy()
    for members in patterns:
        idx = np.asarray(members, dtype=np.int64)
        block = np.maximum(out[np.ix_(idx, idx)], p_assembly)
        np.fill_diagonal(block, 0.0)
        out[np.ix_(idx, idx)] = block
    return out


def pattern_mask(pre: np.ndarray, post: np.ndarray, patterns: list[list[int]]) -> np.ndarray:
    """True on contacts whose pre and post neurons share a pattern."""
    label = {i: k for k, p in enumerate(patterns) for i in p}
    lp = np.array([label.get(int(i), -1) for i in pre])
    lq = np.array([label.get(int(i), -2) for i in post])
    return lp == lq


def structural_imprint(size_um2: np.ndarray, mask: np.ndarray, strength: float, predictability: float) -> tuple[np.ndarray, float]:
    """Grow pattern contacts by the visible part of the memory; return (sizes, the density
    factor left for :func:`imprint`)."""
    total = 1.0 + float(strength)
    grow = total ** (float(predictability) / (1.0 + BETA["ampa"]))
    return np.where(mask, size_um2 * grow, size_um2), total ** (1.0 - float(predictability))


def imprint(dens: dict[str, np.ndarray], mask: np.ndarray, strength: float) -> dict[str, np.ndarray]:
    """Scale AMPA and NMDA densities on pattern contacts by ``1 + strength``."""
    out = dict(dens)
    for r in PLASTIC:
        out[r] = np.where(mask, dens[r] * (1.0 + strength), dens[r])
    return out
