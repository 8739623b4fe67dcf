"""Segmentation of the membrane channel into neurons: lumens, agglomeration, flooding.

A membrane stain outlines every cell; inside a neurite or soma is a dark *lumen*
enclosed by membrane, outside is dark extracellular space. The method:

1. **Boundaries** (:mod:`.membrane`): voxels brighter than a histogram threshold are membrane.
2. **Lumens**: 6-connected components of the dark voxels (connected-components-3d per
   chunk, stitched across chunk faces). Components that reach the volume's outer faces
   are extracellular space; the others, if larger than ``min_lumen_um3``, are lumens. A
   lumen never spans two neurons: a voxel whose six neighbours are all dark belongs to
   the neuron around it.
3. **Agglomeration**: two lumens are one neuron when ``min_bridge_voxels`` membrane
   voxels touch both (one membrane between them). Two neurons are always at least two
   membranes apart, so this never joins different neurons in a clean image (union over
   a sparse graph, ``scipy.sparse.csgraph``).
4. **Seeded flooding**: each neuron's lumens claim the membrane and small dark voxels
   around them, layer by layer up to ``flood_nm`` (a geodesic Voronoi partition with
   ties to the smaller id, see :func:`.chunks.flood`), never into extracellular space or
   lost tissue; the chunk halo equals the flooding depth, so chunks agree exactly.
5. **Cleanup**: membrane left unclaimed (neurites too thin to have a lumen, farther than
   ``flood_nm`` from any) forms its own segments when larger than ``min_segment_um3``.

Segment ids are numbered by the global raster position of their first lumen voxel (then
orphan fragments by their first voxel), so they do not depend on the chunking.

Limits: a neurite thinner than two membrane voxels has no lumen; it is attached to the
nearest lumen within ``flood_nm`` or left as a fragment. A neuron cut by the scan's edge
loses the cut lumen to the extracellular space.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from ..types.scan import Scan
from .chunks import Box, Components, Grid, WorkStore, flood, label_components, read_box, read_mapped, run_tasks
from .config import SegmentationConfig
from .membrane import MembraneLevels, estimate_membrane


@dataclasses.dataclass(frozen=True)
class SegmentationResult:
    """The stored segmentation (``store["segmentation"]``, uint32, 0 = background) and its facts."""

    n_segments: int
    n_lumen_segments: int
    levels: MembraneLevels
    stats: dict


def _voxels(um3: float, voxel_nm) -> int:
    return int(math.ceil(um3 * 1e9 / float(np.prod(voxel_nm)) - 1e-9))


def _bridges(box: Box, grid: Grid, store: WorkStore, lut, thr: float) -> np.ndarray:
    """(lumen a, lumen b, membrane voxels touching both) for membrane voxels of one chunk."""
    lo = tuple(a - 1 for a in box.lo)
    hi = tuple(b + 1 for b in box.hi)
    lum = read_mapped(store["dark"], grid, lut, lo, hi)
    sl = tuple(slice(a, b) for a, b in zip(box.lo, box.hi))
    memb = (np.asarray(store["membrane"][sl]) > thr) & (np.asarray(store["lost"][sl]) == 0)
    core = tuple(slice(1, 1 + s) for s in box.shape)
    idx = np.nonzero(memb)
    if idx[0].size == 0:
        return np.zeros((0, 3), dtype=np.int64)
    nb = []
    for a in range(3):
        for d in (-1, 1):
            sh = [slice(c.start, c.stop) for c in core]
            sh[a] = slice(core[a].start + d, core[a].stop + d)
            nb.append(lum[tuple(sh)][idx])
    nb = np.stack(nb, axis=1)
    big = np.iinfo(np.int64).max
    lo_id = np.where(nb > 0, nb, big).min(axis=1)
    rows = []
    for k in range(6):
        m = (nb[:, k] > 0) & (nb[:, k] != lo_id)
        rows.append(np.stack([lo_id[m], nb[m, k], np.flatnonzero(m)], axis=1))
    pairs = np.concatenate(rows)
    if pairs.size == 0:
        return np.zeros((0, 3), dtype=np.int64)
    # Count each membrane voxel once per lumen pair.
    uniq = np.unique(pairs, axis=0)
    ab, counts = np.unique(uniq[:, :2], axis=0, return_counts=True)
    return np.concatenate([ab, counts[:, None]], axis=1)


def _agglomerate(n_lumens: int, bridges: np.ndarray, min_bridge: int) -> np.ndarray:
    """Neuron (0..k-1) of each lumen (1..n_lumens, index 0 unused)."""
    if bridges.size:
        ab, inv = np.unique(bridges[:, :2], axis=0, return_inverse=True)
        counts = np.bincount(inv.ravel(), weights=bridges[:, 2])
        ab = ab[counts >= min_bridge]
    else:
        ab = np.zeros((0, 2), dtype=np.int64)
    g = coo_matrix((np.ones(len(ab), np.int8), (ab[:, 0], ab[:, 1])), shape=(n_lumens + 1, n_lumens + 1))
    return connected_components(g, directed=False)[1]


def segment(scan: Scan, grid: Grid, store: WorkStore, cfg: SegmentationConfig) -> SegmentationResult:
    """Segment the scan's membrane channel; the labels go to ``store["segmentation"]``."""
    levels = estimate_membrane(scan, grid, store, smooth_sigma_nm=cfg.smooth_sigma_nm, threshold=cfg.threshold)
    thr = levels.threshold
    memb_store, lost_store = store["membrane"], store["lost"]

    def dark_of(box: Box) -> np.ndarray:
        sl = tuple(slice(a, b) for a, b in zip(box.lo, box.hi))
        return (np.asarray(memb_store[sl]) <= thr) & (np.asarray(lost_store[sl]) == 0)

    dark = label_components(dark_of, grid, store.array("dark", np.uint32))
    is_lumen = ~dark.border & (dark.size >= max(1, _voxels(cfg.min_lumen_um3, scan.voxel_size_nm)))
    lumen_id = dark.canonical_order(is_lumen)
    n_lumens = int(is_lumen.sum())
    bridges = run_tasks(lambda b: _bridges(b, grid, store, lambda c: dark.lut(c, lumen_id), thr), grid.boxes)
    bridges = np.concatenate([np.zeros((0, 3), np.int64)] + bridges)
    neuron_of_lumen = _agglomerate(n_lumens, bridges, cfg.min_bridge_voxels)
    # Canonical neuron ids: by the first voxel of the neuron's first lumen (lumen ids are
    # already in that order, so the smallest lumen id of a neuron decides).
    first_lumen = np.full(neuron_of_lumen.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(first_lumen, neuron_of_lumen[1:], np.arange(1, n_lumens + 1))
    real = first_lumen < np.iinfo(np.int64).max
    rank = np.zeros(first_lumen.shape[0], np.int64)
    order = np.flatnonzero(real)[np.argsort(first_lumen[real], kind="stable")]
    rank[order] = np.arange(1, order.size + 1)
    seg_of_lumen = np.concatenate([[0], rank[neuron_of_lumen[1:]]])
    seg_of_comp = np.where(lumen_id > 0, seg_of_lumen[lumen_id], 0)
    n_lumen_segments = int(order.size)
    steps = int(math.ceil(cfg.flood_nm / min(scan.voxel_size_nm)))
    seg0 = store.array("seg0", np.uint32)
    left = store.array("left", np.uint8)
    ecs = dark.border.astype(np.int8)

    def grow(box: Box) -> int:
        lo = tuple(a - steps for a in box.lo)
        hi = tuple(b + steps for b in box.hi)
        seeds = read_mapped(store["dark"], grid, lambda c: dark.lut(c, seg_of_comp), lo, hi)
        outside = read_mapped(store["dark"], grid, lambda c: dark.lut(c, ecs), lo, hi, dtype=np.int8)
        gone = read_box(lost_store, lo, hi, fill=1)
        allowed = (outside == 0) & (gone == 0)
        lab = flood(seeds, allowed, steps)
        crop = tuple(slice(steps, steps + s) for s in box.shape)
        sl = tuple(slice(a, b) for a, b in zip(box.lo, box.hi))
        core = lab[crop]
        seg0[sl] = core.astype(np.uint32)
        rest = allowed[crop] & (core == 0)
        left[sl] = rest.astype(np.uint8)
        return int(rest.sum())

    n_left = int(sum(run_tasks(grow, grid.boxes)))
    orphans = label_components(lambda b: np.asarray(left[tuple(slice(x, y) for x, y in zip(b.lo, b.hi))]) > 0,
                               grid, store.array("orphan", np.uint32))
    keep = orphans.size >= max(1, _voxels(cfg.min_segment_um3, scan.voxel_size_nm))
    orphan_id = orphans.canonical_order(keep)
    orphan_id[orphan_id > 0] += n_lumen_segments
    final = store.array("segmentation", np.uint32)

    def finish(box: Box) -> None:
        sl = tuple(slice(a, b) for a, b in zip(box.lo, box.hi))
        s0 = np.asarray(seg0[sl]).astype(np.int64)
        extra = orphans.lut(box.number, orphan_id)[np.asarray(store["orphan"][sl])]
        final[sl] = np.where(s0 > 0, s0, extra).astype(np.uint32)

    run_tasks(finish, grid.boxes)
    n_orphans = int(keep.sum())
    stats = {
        "lumens": n_lumens, "lumen_bridges": int(len(bridges)), "unclaimed_membrane_voxels": n_left,
        "orphan_fragments": n_orphans, "dropped_fragment_voxels": int(orphans.size[~keep].sum()),
        "flood_steps": steps, "membrane": levels.to_json(),
    }
    return SegmentationResult(n_lumen_segments + n_orphans, n_lumen_segments, levels, stats)
