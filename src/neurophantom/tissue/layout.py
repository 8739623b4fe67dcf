"""Soma layout: a sheet of somata over a neuropil, like a cortical slab or a ganglion.

The phantom volume is a slab: one layer of somata at low z, a neuropil above it where
every axon and dendrite grows and every contact is made, and a free border around both.
Neurites leave each soma upward into the neuropil (and sideways into the narrow gaps
between somata), so a soma can never be walled in by its neighbours' arbors.

Soma placement within the sheet (axes y, x of the phantom):

``"circuit"``
    Order-preserving: the Circuit's positions are projected on the plane of their two
    widest axes (the narrowest, e.g. the thickness of an organoid slab or of the worm,
    is dropped); neurons are sorted along the widest axis and dealt into the columns of
    a near-square grid, then sorted along the second axis within each column. Distances
    and densities are not kept (a worm's crowded head ganglia would choke the neuropil
    above them), the order along both axes is: anterior neurons stay anterior, left
    stays left, neighbours stay near.
``"grid"``
    A near-square grid filled in Circuit row order (used when all positions are equal).

The Circuit's synapse positions are not used: a contact forms where the arbors meet in
the neuropil, and the Phantom's synapse table records where that is.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .config import TissueConfig


@dataclasses.dataclass(frozen=True)
class SiteMap:
    """Soma sites on the sheet: (N, 2) integer (row, column) sites >= 0.

    ``plane`` are the two Circuit axes (0 = z_um, 1 = y_um, 2 = x_um) that were kept, the
    first being the one dealt into columns; ``mode`` is "circuit" or "grid".
    """

    sites: np.ndarray
    plane: tuple[int, int]
    mode: str


def _shape(n: int) -> tuple[int, int]:
    cols = max(1, math.ceil(math.sqrt(n) - 1e-9))
    return max(1, math.ceil(n / cols)), cols


def soma_sites(positions_um: np.ndarray, config: TissueConfig) -> SiteMap:
    """Sheet sites for neurons at ``positions_um`` ((N, 3) array, columns z, y, x)."""
    pos = np.asarray(positions_um, dtype=float)
    n = len(pos)
    span = np.ptp(pos, axis=0) if n else np.zeros(3)
    order = sorted(range(3), key=lambda a: (-span[a], a))
    plane = (order[0], order[1])
    mode = config.layout
    if mode == "auto":
        mode = "circuit" if span.max() > 0 else "grid"
    rows, cols = _shape(n)
    sites = np.zeros((n, 2), dtype=np.int64)
    if mode == "grid":
        sites[:, 0], sites[:, 1] = np.divmod(np.arange(n), cols)
        return SiteMap(sites, plane, mode)
    by_first = np.lexsort((np.arange(n), pos[:, plane[0]]))
    for c in range(cols):
        members = by_first[c * rows:(c + 1) * rows]
        members = members[np.lexsort((members, pos[members, plane[1]]))]
        sites[members, 0] = np.arange(len(members))
        sites[members, 1] = c
    return SiteMap(sites, plane, mode)
