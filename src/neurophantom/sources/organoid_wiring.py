"""Wiring of the synthetic organoid: who contacts whom, release sites and contact sizes.

- **Connection probability** falls with soma distance and depends on the two types:
  ``p = P[pre type, post type] x exp(-d / length_um)`` (no autapses). ``P`` follows the
  qualitative pattern of paired recordings in cortex: interneurons connect densely and
  locally, PV cells inhibit each other, SST cells inhibit pyramidal and PV cells but
  hardly each other (Pfeffer et al. 2013; Jiang et al. 2015; Campagnola et al. 2022).
- **Release sites**: a presynaptic neuron's contacts are grouped in random order into
  sites; a site takes two partners (a dyad: one release site, two postsynaptic
  densities, as in polyadic cortical and C. elegans synapses) with probability
  ``dyad_probability`` while two partners remain, else one. The site lies half way from
  the presynaptic soma to its partners' centroid, plus a 5 um jitter.
- **Contact size**: each partner's postsynaptic area is log-normal (spine and PSD sizes
  are log-normal: Loewenstein, Kuras & Rumpel 2011; Arellano et al. 2007).

References
----------
Pfeffer CK, Xue M, He M, Huang ZJ, Scanziani M (2013) Inhibition of inhibition in visual
cortex. Nat Neurosci 16:1068-1076.
Jiang X et al. (2015) Principles of connectivity among morphologically defined cell types
in adult neocortex. Science 350:aac9462.
Campagnola L et al. (2022) Local connectivity and synaptic dynamics in mouse and human
neocortex. Science 375:eabj5861.
Loewenstein Y, Kuras A, Rumpel S (2011) Multiplicative dynamics underlie the emergence of
the log-normal distribution of spine sizes in the neocortex in vivo. J Neurosci
31:9481-9488.
Arellano JI, Benavides-Piccione R, DeFelipe J, Yuste R (2007) Ultrastructure of dendritic
spines: correlation between synaptic and spine morphologies. Front Neurosci 1:131-143.
"""

from __future__ import annotations

import numpy as np

from .organoid_cells import TYPES

#: Peak connection probability P[pre][post] at zero distance.
P_CONNECT: dict[str, dict[str, float]] = {
    "pyramidal": {"pyramidal": 0.3, "pv": 0.5, "sst": 0.3},
    "pv": {"pyramidal": 0.6, "pv": 0.5, "sst": 0.1},
    "sst": {"pyramidal": 0.4, "pv": 0.3, "sst": 0.02},
}


def connection_probability(t: np.ndarray, pos: np.ndarray, length_um: float) -> np.ndarray:
    """``(N, N)`` probability that neuron ``i`` contacts ``j`` (``t``: type index per neuron)."""
    P = np.array([[P_CONNECT[a][b] for b in TYPES] for a in TYPES])
    d = np.linalg.norm(pos[:, None, :] - pos[None, :, :], axis=-1)
    p = P[t[:, None], t[None, :]] * np.exp(-d / length_um)
    np.fill_diagonal(p, 0.0)
    return p


def draw_contacts(p: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Bernoulli draw of every ordered pair: (pre, post) index arrays, sorted by pre."""
    pre, post = np.nonzero(rng.random(p.shape) < p)
    return pre.astype(np.int64), post.astype(np.int64)


def release_sites(pre: np.ndarray, post: np.ndarray, dyad_probability: float,
                  rng: np.random.Generator) -> np.ndarray:
    """A release-site id per contact: contacts of one presynaptic neuron paired into dyads."""
    site = np.empty(len(pre), dtype=np.int64)
    next_id = 0
    for a in np.unique(pre):
        rows = rng.permutation(np.flatnonzero(pre == a))
        k = 0
        while k < len(rows):
            take = 2 if (len(rows) - k >= 2 and rng.random() < dyad_probability) else 1
            site[rows[k:k + take]] = next_id
            next_id += 1
            k += take
    return site


def site_positions(site: np.ndarray, pre: np.ndarray, post: np.ndarray, pos: np.ndarray,
                   rng: np.random.Generator) -> np.ndarray:
    """Per-contact (x, y, z): the site's point half way to its partners' centroid."""
    n_sites = int(site.max()) + 1 if len(site) else 0
    centroid = np.zeros((n_sites, 3))
    np.add.at(centroid, site, pos[post])
    centroid /= np.bincount(site, minlength=n_sites)[:, None]
    pre_of_site = np.zeros(n_sites, dtype=np.int64)
    pre_of_site[site] = pre
    where = 0.5 * (pos[pre_of_site] + centroid) + rng.normal(0.0, 5.0, (n_sites, 3))
    return where[site]


def contact_sizes(n: int, median_um2: float, sigma_log: float, rng: np.random.Generator) -> np.ndarray:
    """Log-normal postsynaptic contact areas (um^2)."""
    return median_um2 * np.exp(sigma_log * rng.standard_normal(n))
