"""Segmentation of the membrane channel into neurons: lumens, agglomeration, flooding.

A membrane stain outlines every cell; inside a neurite or soma is a dark *lumen*
enclosed by membrane, outside is dark extracellular space. The method:

1. **Boundaries** (:mod:`.membrane`): voxels brighter than a histogram threshold are
   membrane, after smoothing by half a voxel when the channel is noisy (auto settings).
2. **Lumens**: 6-connected components of the dark voxels (connected-components-3d per
   chunk, stitched across chunk faces) that do not reach the volume's outer faces and are
   larger than ``min_lumen_um3``; what reaches the faces is extracellular space. Under
   blur a dim membrane voxel can fall below the threshold and join a lumen to that space
   (a *leak*), so the extracellular space is found more strictly (``leak_guard``):
   - ``"strict"`` (default): the extracellular space is what reaches the faces through
     voxels below a lower threshold (``ecs_threshold``, surely not membrane; a dim
     membrane voxel stays above it and seals the lumen behind it), and the one-voxel rim
     of dark voxels around it is cut from the lumens. A lumen of any width survives a
     leak. Measured on the default world's expansion scans (48 neurons, dense
     assemblies): 48 lumens, one per neuron, where the opening below gave 130-149.
   - ``"open"``: that space alone is opened (eroded by one voxel): one or two noisy
     voxels in a one-voxel membrane no longer drain a lumen into it, while enclosed
     lumens keep every voxel, however thin; but a lumen that did leak and is thinner
     than three voxels is eroded away, and its neuron falls apart into pieces.
   A lumen never spans two neurons: a voxel whose six neighbours are all dark belongs to
   the neuron around it.
3. **Agglomeration**: two lumens are one neuron when ``min_bridge_voxels`` membrane
   voxels touch both (one membrane between them), or when they touch once the opened rim
   is grown back. Two neurons are always at least two membranes apart, so in a clean
   image this never joins different neurons; where one membrane fades at a contact a
   single voxel can touch both lumens (``min_bridge_voxels=2`` guards against it; union
   over a sparse graph, ``scipy.sparse.csgraph``).
4. **Seeded flooding**: each neuron's lumens claim the membrane, the rims and small dark
   voxels around them, layer by layer up to ``flood_nm`` (a geodesic Voronoi partition;
   a voxel reached by two neurons in the same layer goes to the one whose lumen is nearer
   in a straight line, see :func:`.chunks.flood`), never into extracellular space or lost
   tissue; the chunk halo equals the flooding depth, so chunks agree exactly. (Written out
   rather than ``skimage.segmentation.watershed``, whose ties depend on the block.)
5. **Cleanup**: membrane left unclaimed (neurites too thin to have a lumen, farther than
   ``flood_nm`` from any) forms its own segments when larger than ``min_segment_um3``.

Segment ids are numbered by the global raster position of their first lumen voxel (then
orphan fragments by their first voxel), so they do not depend on the chunking.

Limits: a neurite thinner than two membrane voxels has no lumen; it is attached to the
nearest lumen within ``flood_nm`` or left as a fragment, and where two such solid
neurites touch the contact plane cannot be seen (the flooding puts it half way). A
neuron cut by the scan's edge loses the cut lumen to the extracellular space.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.ndimage import binary_dilation, binary_erosion, generate_binary_structure
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .._errors import NeurophantomError
from ..types.scan import Scan
from .chunks import Box, Grid, WorkStore, flood, label_components, read_box, read_mapped, run_tasks
from .config import SegmentationConfig
from .membrane import MembraneLevels, estimate_membrane


@dataclasses.dataclass(frozen=True)
class SegmentationResult:
    """The stored segmentation (``store["segmentation"]``, uint32, 0 = background) and its facts."""

    n_segments: int
    n_lumen_segments: int
    levels: MembraneLevels
    stats: dict


def _inside(lo, hi, shape) -> np.ndarray:
    """Boolean (z, y, x) mask of the voxels of ``lo..hi`` that lie inside the volume."""
    ax = [(np.arange(l, h) >= 0) & (np.arange(l, h) < n) for l, h, n in zip(lo, hi, shape)]
    return ax[0][:, None, None] & ax[1][None, :, None] & ax[2][None, None, :]


def _copy(src: np.ndarray, dst: np.ndarray, box: Box) -> None:
    sl = tuple(slice(a, b) for a, b in zip(box.lo, box.hi))
    dst[sl] = src[sl]


def _voxels(um3: float, voxel_nm) -> int:
    return int(math.ceil(um3 * 1e9 / float(np.prod(voxel_nm)) - 1e-9))


_CROSS = generate_binary_structure(3, 1)


def _shifts(core: tuple[slice, ...]):
    """The six 6-neighbour views of ``core`` inside an array with a one-voxel margin."""
    for a in range(3):
        for d in (-1, 1):
            sh = list(core)
            sh[a] = slice(core[a].start + d, core[a].stop + d)
            yield tuple(sh)


def _neighbours(arr: np.ndarray, flat_idx: np.ndarray) -> np.ndarray:
    """Values (N, 6) of the 6-neighbours of interior voxels ``flat_idx`` of ``arr``."""
    s = arr.shape
    steps = np.array([s[1] * s[2], -s[1] * s[2], s[2], -s[2], 1, -1], dtype=np.int64)
    return arr.ravel()[flat_idx[:, None] + steps[None, :]]


def _interior(shape) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[1:-1, 1:-1, 1:-1] = True
    return m


def _full_lumens(lum: np.ndarray, dark: np.ndarray, ecs: np.ndarray, opened: bool) -> np.ndarray:
    """Lumen labels grown back over the rim that opening removed (one layer of dark
    voxels next to a lumen core and not next to extracellular space); the outer layer
    of the array is left as read."""
    if not opened:
        return lum
    out = lum.copy()
    cand = np.flatnonzero((dark & (lum == 0) & ~ecs & _interior(lum.shape)).ravel())
    if cand.size == 0:
        return out
    nb = _neighbours(lum, cand)
    near_ecs = _neighbours(ecs, cand).any(axis=1)
    big = np.iinfo(np.int64).max
    best = np.where(nb > 0, nb, big).min(axis=1)
    grow = ~near_ecs & (best < big)
    out.ravel()[cand[grow]] = best[grow]
    return out


def _bridges(box: Box, region) -> np.ndarray:
    """(lumen a, lumen b, membrane voxels touching both) for membrane voxels of one chunk."""
    lum, dark, ecs, memb = region(box, 2)
    full = _full_lumens(lum, dark, ecs, True)[1:-1, 1:-1, 1:-1]
    memb = memb[2:-2, 2:-2, 2:-2]
    core = tuple(slice(1, 1 + s) for s in box.shape)
    # Lumen pieces that touch (after growing back over the opened rim) are one lumen.
    inner = np.zeros(full.shape, dtype=bool)
    inner[core] = True
    at = np.flatnonzero((inner & (full > 0)).ravel())
    touching = np.zeros((0, 3), np.int64)
    if at.size:
        own = full.ravel()[at]
        nb = _neighbours(full, at)
        m = (nb > 0) & (nb != own[:, None])
        if m.any():
            pairs = np.stack([np.broadcast_to(own[:, None], nb.shape)[m], nb[m]], axis=1)
            ab = np.unique(np.sort(pairs, axis=1), axis=0)
            touching = np.concatenate([ab, np.full((len(ab), 1), np.iinfo(np.int32).max)], axis=1)
    idx = np.nonzero(memb)
    if idx[0].size == 0:
        return touching
    nb = np.stack([full[sh][idx] for sh in _shifts(core)], axis=1)
    big = np.iinfo(np.int64).max
    lo_id = np.where(nb > 0, nb, big).min(axis=1)
    rows = []
    for k in range(6):
        m = (nb[:, k] > 0) & (nb[:, k] != lo_id)
        rows.append(np.stack([lo_id[m], nb[m, k], np.flatnonzero(m)], axis=1))
    pairs = np.concatenate(rows)
    if pairs.size == 0:
        return touching
    # Count each membrane voxel once per lumen pair.
    uniq = np.unique(pairs, axis=0)
    ab, counts = np.unique(uniq[:, :2], axis=0, return_counts=True)
    return np.concatenate([touching, np.concatenate([ab, counts[:, None]], axis=1)])


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


#: Auto settings: smoothing (in voxels) for a noisy channel, and thresholds without / with it.
AUTO_SIGMA_VOX = 0.5
AUTO_NOISE_FRACTION = 0.005
AUTO_THRESHOLD = (0.45, 0.40)


def boundaries(scan: Scan, grid: Grid, store: WorkStore, cfg: SegmentationConfig) -> MembraneLevels:
    """The membrane channel's levels and threshold, resolving the ``None`` (auto) settings:
    the raw channel's noise decides on smoothing (see :class:`SegmentationConfig`)."""
    sigma = cfg.smooth_sigma_nm
    if sigma is None:
        raw = estimate_membrane(scan, grid, store, smooth_sigma_nm=0.0, threshold=AUTO_THRESHOLD[0])
        noisy = raw.noise_sd > AUTO_NOISE_FRACTION * (raw.membrane - raw.background)
        sigma = AUTO_SIGMA_VOX * min(scan.voxel_size_nm) if noisy else 0.0
        if sigma == 0.0 and cfg.threshold is None:
            return raw
    threshold = cfg.threshold if cfg.threshold is not None else AUTO_THRESHOLD[1 if sigma > 0 else 0]
    return estimate_membrane(scan, grid, store, smooth_sigma_nm=sigma, threshold=threshold)


def segment(scan: Scan, grid: Grid, store: WorkStore, cfg: SegmentationConfig) -> SegmentationResult:
    """Segment the scan's membrane channel; the labels go to ``store["segmentation"]``."""
    levels = boundaries(scan, grid, store, cfg)
    thr = levels.threshold
    memb_store, lost_store = store["membrane"], store["lost"]

    strict = cfg.leak_guard == "strict"
    guarded = cfg.leak_guard != "none"
    if strict and cfg.ecs_threshold >= levels.fraction:
        raise NeurophantomError(f"segmentation.ecs_threshold ({cfg.ecs_threshold}) must be below the membrane threshold ({levels.fraction})")
    ecs_thr = levels.background + cfg.ecs_threshold * (levels.membrane - levels.background)

    def dark_full(lo, hi, below: float = thr) -> tuple[np.ndarray, np.ndarray]:
        """Dark (not membrane, not lost) and lost voxels of a box; outside the volume is dark."""
        memb = read_box(memb_store, lo, hi, fill=-np.inf) <= below
        gone = read_box(lost_store, lo, hi).astype(bool)
        return memb & ~gone, gone

    def raw_of(box: Box) -> np.ndarray:
        return dark_full(box.lo, box.hi, ecs_thr if strict else thr)[0]

    raw = label_components(raw_of, grid, store.array("dark0", np.uint32)) if guarded else None

    def dark_of(box: Box) -> np.ndarray:
        if not guarded:
            return raw_of(box)
        lo = tuple(a - 1 for a in box.lo)
        hi = tuple(b + 1 for b in box.hi)
        dk, _ = dark_full(lo, hi)
        outside = read_mapped(store["dark0"], grid, lambda c: raw.lut(c, raw.border.astype(np.int8)), lo, hi, dtype=np.int8) > 0
        if strict:
            # Extracellular space: what reaches the faces through surely-dark voxels. Its
            # rim (dark voxels next to it, dim membrane included) is cut from the lumens,
            # so a leak through a dim membrane voxel does not drain a lumen of any width.
            rim = dk & ~outside & binary_dilation(outside, structure=_CROSS)
            core = dk & ~rim
        else:
            # Opening of the extracellular space only: a noisy voxel or two in a one-voxel
            # membrane no longer join a lumen to it, while enclosed lumens keep every voxel
            # (even one voxel wide). The rim removed here is grown back by the flooding.
            opened = binary_erosion(dk, structure=_CROSS, border_value=1)
            core = dk & (opened | ~outside)
        return core[1:-1, 1:-1, 1:-1]

    dark = label_components(dark_of, grid, store.array("dark", np.uint32))
    is_lumen = ~dark.border & (dark.size >= max(1, _voxels(cfg.min_lumen_um3, scan.voxel_size_nm)))
    lumen_id = dark.canonical_order(is_lumen)
    n_lumens = int(is_lumen.sum())
    ecs_of_comp = dark.border.astype(np.int64)

    def region(box: Box, halo: int, values=None):
        """Lumen (or ``values``) labels of the dark cores, dark, extracellular core and
        membrane masks of a chunk with ``halo``."""
        lo = tuple(a - halo for a in box.lo)
        hi = tuple(b + halo for b in box.hi)
        vals = lumen_id if values is None else values
        lum = read_mapped(store["dark"], grid, lambda c: dark.lut(c, vals), lo, hi)
        ecs = read_mapped(store["dark"], grid, lambda c: dark.lut(c, ecs_of_comp), lo, hi) > 0
        ecs |= ~_inside(lo, hi, grid.shape)  # beyond the volume's edge counts as outside
        dk, gone = dark_full(lo, hi)
        memb = ~dk & ~gone & _inside(lo, hi, grid.shape)
        return lum, dk, ecs, memb

    bridges = run_tasks(lambda b: _bridges(b, region), grid.boxes) if n_lumens else []
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

    def grow(box: Box) -> int:
        halo = steps + 1
        seeds, dk, ecs, _ = region(box, halo, seg_of_comp)
        gone = read_box(lost_store, tuple(a - halo for a in box.lo), tuple(b + halo for b in box.hi), fill=1).astype(bool)
        # Extracellular space: its cores and the dark rim next to them (opening removed it).
        outside = ecs.copy()
        if guarded:
            inner = tuple(slice(1, n - 1) for n in ecs.shape)
            for sh in _shifts(inner):
                outside[inner] |= dk[inner] & ecs[sh]
        allowed = ~outside & ~gone
        lab = flood(seeds, allowed, steps)
        crop = tuple(slice(halo, halo + s) for s in box.shape)
        sl = tuple(slice(a, b) for a, b in zip(box.lo, box.hi))
        core = lab[crop]
        seg0[sl] = core.astype(np.uint32)
        rest = allowed[crop] & (core == 0)
        left[sl] = rest.astype(np.uint8)
        return int(rest.sum())

    n_left = int(sum(run_tasks(grow, grid.boxes)))
    if n_left == 0:
        final = store.array("segmentation", np.uint32)
        run_tasks(lambda b: _copy(seg0, final, b), grid.boxes)
        stats = {"lumens": n_lumens, "lumen_bridges": int(len(bridges)), "unclaimed_membrane_voxels": 0,
                 "orphan_fragments": 0, "dropped_fragment_voxels": 0, "flood_steps": steps, "membrane": levels.to_json()}
        return SegmentationResult(n_lumen_segments, n_lumen_segments, levels, stats)
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
