"""Membrane stain: which specimen voxels carry membrane, resampled onto the scan grid.

A membrane stain (a lipophilic or membrane-anchored dye for light microscopy; osmium or
another heavy metal for X-ray and EM) marks the surface of every cell. In a label volume
the surface is the set of foreground voxels with a 6-neighbour of another label
(``skimage.segmentation.find_boundaries``, mode ``"inner"``, connectivity 1); at the
volume's edge the missing neighbour repeats the edge voxel, so the cut face is not a
membrane. The result on the scan grid is the fraction of each scan voxel's volume that
is stained (area-weighted, :func:`~neurophantom.instruments.grid.resample_axis`).

Each scan block reads the specimen block that covers it plus one voxel on every side,
so a block's values do not depend on how the volume is split.
"""

from __future__ import annotations

import numpy as np
from skimage.segmentation import find_boundaries

from .grid import ScanGrid, resample_axis, source_range


def read_block(src, lo, hi) -> np.ndarray:
    """``src[lo:hi]`` as numpy, from a numpy, zarr or dask array (dask computed in-thread)."""
    sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
    block = src[sl]
    if hasattr(block, "compute"):
        block = block.compute(scheduler="synchronous")
    return np.asarray(block)


def membrane_mask(labels: np.ndarray) -> np.ndarray:
    """Foreground voxels that touch another label (6-connectivity), as bool."""
    if labels.size == 0:
        return np.zeros(labels.shape, dtype=bool)
    return find_boundaries(labels, connectivity=1, mode="inner", background=0) & (labels != 0)


def membrane_fraction(labels_src, specimen_shape, specimen_voxel_nm, grid: ScanGrid, start, stop) -> np.ndarray:
    """Stained volume fraction of scan voxels ``start..stop`` (z, y, x), float64 in [0, 1]."""
    need = [source_range(start[a], stop[a], specimen_voxel_nm[a], grid.voxel_size_nm[a], specimen_shape[a]) for a in range(3)]
    lo = [max(0, j0 - 1) for j0, _ in need]
    hi = [min(specimen_shape[a], j1 + 1) for a, (_, j1) in enumerate(need)]
    out_shape = tuple(b - a for a, b in zip(start, stop))
    if any(h <= l for l, h in zip(lo, hi)):
        return np.zeros(out_shape)
    mask = membrane_mask(read_block(labels_src, lo, hi))
    inner = tuple(slice(j0 - l, j1 - l) for (j0, j1), l in zip(need, lo))
    frac = mask[inner].astype(np.float64)
    for a in range(3):
        frac = resample_axis(frac, a, need[a][0], specimen_shape[a], start[a], stop[a],
                             specimen_voxel_nm[a], grid.voxel_size_nm[a])
    return frac
