"""Soma layout: from a Circuit's soma positions to sites on the routing lattice.

``"circuit"`` keeps the relative arrangement of the Circuit's positions (um): they are
mapped by one isotropic affine map onto a grid of soma sites with about
``site_slack`` sites per neuron over the positions' bounding box (axes along which all
positions are equal collapse to one site), then each neuron, in Circuit row order, takes
its nearest free site (ties broken by site coordinates). Distances are therefore
compressed, not kept: a 1 mm worm and a 0.2 mm organoid both become a compact block of
somata with free lattice corridors between them. ``"grid"`` fills a cube of sites in
Circuit row order (used when a Circuit has no positions, e.g. all zeros).

Axis order is (z, y, x) everywhere: column ``z_um`` maps to lattice axis 0.
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np

from .config import TissueConfig


@dataclasses.dataclass(frozen=True)
class SiteMap:
    """Integer soma sites and the affine map from Circuit um to (float) site coordinates."""

    sites: np.ndarray  # (N, 3) int, >= 0
    origin_um: np.ndarray  # (3,)
    sites_per_um: float  # 0 for the grid layout
    offset: np.ndarray  # (3,) added after scaling (shift that made sites >= 0)

    def to_site(self, pos_um: np.ndarray) -> np.ndarray:
        """Float site coordinates of positions (um, z/y/x columns)."""
        return (np.asarray(pos_um, float) - self.origin_um) * self.sites_per_um + self.offset


def _grid_sites(n: int) -> np.ndarray:
    m = max(1, math.ceil(round(n ** (1 / 3), 9)))
    return np.stack(np.unravel_index(np.arange(n), (m, m, m)), axis=1).astype(np.int64)


def _nearest_free(want: np.ndarray, taken: set) -> tuple[int, int, int]:
    base = np.rint(want).astype(np.int64)
    for r in itertools.count(0):
        best = None
        rng = range(-r, r + 1)
        for d in itertools.product(rng, rng, rng):
            if max(abs(d[0]), abs(d[1]), abs(d[2])) != r:
                continue
            c = tuple(int(v) for v in base + d)
            if c in taken:
                continue
            key = (float(np.sum((np.asarray(c) - want) ** 2)), c)
            if best is None or key < best:
                best = key
        if best is not None:
            return best[1]


def soma_sites(positions_um: np.ndarray, config: TissueConfig) -> SiteMap:
    """Soma sites for neurons at ``positions_um`` ((N, 3) array, columns z, y, x)."""
    pos = np.asarray(positions_um, dtype=float)
    n = len(pos)
    lo = pos.min(axis=0) if n else np.zeros(3)
    span = (pos.max(axis=0) - lo) if n else np.zeros(3)
    active = span > 1e-9 * max(float(span.max()), 1e-12)
    mode = config.layout
    if mode == "auto":
        mode = "circuit" if active.any() else "grid"
    if mode == "grid" or not active.any():
        sites = _grid_sites(n)
        return SiteMap(sites=sites, origin_um=lo, sites_per_um=0.0, offset=np.zeros(3))
    k = (n * config.site_slack / float(np.prod(span[active]))) ** (1.0 / int(active.sum()))
    want = (pos - lo) * k
    taken: set = set()
    chosen = []
    for w in want:
        c = _nearest_free(w, taken)
        taken.add(c)
        chosen.append(c)
    sites = np.asarray(chosen, dtype=np.int64)
    shift = -sites.min(axis=0)
    return SiteMap(sites=sites + shift, origin_um=lo, sites_per_um=float(k), offset=shift.astype(float))
