"""One pass over the segmentation: contact faces between segments and per-segment sizes.

For every pair of 6-neighbouring voxels ``(v, v + e_k)`` (each pair counted once: a chunk
reads one extra voxel plane on its high sides):

- two different segments -> a *contact face* (segment on the low side, segment on the
  high side, axis, the low voxel), with whether lost tissue lies within ``lost_margin``
  voxels of it;
- a segment and background -> an *exposed face* of that segment (its outer membrane);
- a segment and lost tissue -> a *lost face* (surface that could not be seen).

Faces on the volume's outer boundary are not counted (the cut face of a scan is not a
membrane). Per segment the pass also records its voxel count and bounding box.
"""

from __future__ import annotations

import dataclasses

import cc3d
import numpy as np
import pandas as pd
from scipy.ndimage import binary_dilation

from .chunks import Box, Grid, WorkStore, read_box, run_tasks


@dataclasses.dataclass(frozen=True)
class ContactScan:
    """``faces``: a, b, axis, z, y, x (low voxel), near_lost; ``segments``: indexed by id
    with voxels, z0, y0, x0, z1, y1, x1 (bounding box, exclusive end), exposed_z/_y/_x
    (exposed faces normal to each axis) and lost_faces."""

    faces: pd.DataFrame
    segments: pd.DataFrame


def _chunk(box: Box, grid: Grid, store: WorkStore, margin: int):
    hi1 = tuple(min(s, b + 1) for s, b in zip(grid.shape, box.hi))
    seg = np.asarray(store["segmentation"][box.lo[0]:hi1[0], box.lo[1]:hi1[1], box.lo[2]:hi1[2]]).astype(np.int64)
    lo_m = tuple(a - margin for a in box.lo)
    hi_m = tuple(b + margin for b in hi1)
    lost_m = read_box(store["lost"], lo_m, hi_m).astype(bool)
    near = binary_dilation(lost_m, iterations=margin) if margin and lost_m.any() else lost_m
    near = near[tuple(slice(margin, margin + s) for s in seg.shape)]
    lost = lost_m[tuple(slice(margin, margin + s) for s in seg.shape)]
    n = box.shape
    core = seg[:n[0], :n[1], :n[2]]
    faces, exposed, lost_faces = [], [], []
    for k in range(3):
        m = seg.shape[k] - 1  # pairs (i, i + 1) along k owned by this chunk (one extra plane inside the volume)
        if m <= 0:
            continue
        sl_a = [slice(0, n[0]), slice(0, n[1]), slice(0, n[2])]
        sl_b = list(sl_a)
        sl_a[k] = slice(0, m)
        sl_b[k] = slice(1, m + 1)
        A, B = seg[tuple(sl_a)], seg[tuple(sl_b)]
        la, lb = lost[tuple(sl_a)], lost[tuple(sl_b)]
        c = (A != B) & (A > 0) & (B > 0)
        idx = np.nonzero(c)
        if idx[0].size:
            close = near[tuple(sl_a)][idx] | near[tuple(sl_b)][idx]
            faces.append(np.stack([A[idx], B[idx], np.full(idx[0].size, k), idx[0] + box.lo[0], idx[1] + box.lo[1],
                                   idx[2] + box.lo[2], close.astype(np.int64)], axis=1))
        ea = (A > 0) & (B == 0) & ~lb
        eb = (B > 0) & (A == 0) & ~la
        exposed.append((k, np.concatenate([A[ea], B[eb]])))
        lost_faces.append(np.concatenate([A[(A > 0) & lb], B[(B > 0) & la]]))
    stats = cc3d.statistics(np.ascontiguousarray(core.astype(np.uint32)))
    ids = np.flatnonzero(stats["voxel_counts"])
    ids = ids[ids > 0]
    counts = stats["voxel_counts"][ids].astype(np.int64)
    boxes = [stats["bounding_boxes"][i] for i in ids]
    bbox = [(np.array([b[a].start for b in boxes], np.int64) + box.lo[a], np.array([b[a].stop for b in boxes], np.int64) + box.lo[a])
            for a in range(3)]
    return (np.concatenate(faces) if faces else np.zeros((0, 7), np.int64), exposed,
            np.concatenate(lost_faces) if lost_faces else np.zeros(0, np.int64), ids, counts, bbox)


def scan_contacts(grid: Grid, store: WorkStore, n_segments: int, lost_margin_vox: int) -> ContactScan:
    """Contact faces and per-segment sizes of ``store["segmentation"]``."""
    parts = run_tasks(lambda b: _chunk(b, grid, store, int(lost_margin_vox)), grid.boxes)
    n = int(n_segments) + 1
    voxels = np.zeros(n, np.int64)
    lo = np.full((n, 3), np.iinfo(np.int64).max)
    hi = np.full((n, 3), -1, np.int64)
    exposed = np.zeros((n, 3), np.int64)
    lostf = np.zeros(n, np.int64)
    for faces, exp, lf, ids, counts, bbox in parts:
        voxels[ids] += counts
        for a, (l, h) in enumerate(bbox):
            lo[ids, a] = np.minimum(lo[ids, a], l)
            hi[ids, a] = np.maximum(hi[ids, a], h)
        for k, vals in exp:
            exposed[:, k] += np.bincount(vals, minlength=n)[:n]
        lostf += np.bincount(lf, minlength=n)[:n]
    faces = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, 7), np.int64)
    fdf = pd.DataFrame(faces, columns=["a", "b", "axis", "z", "y", "x", "near_lost"]).astype(np.int64)
    fdf["near_lost"] = fdf["near_lost"].astype(bool)
    fdf = fdf.sort_values(["z", "y", "x", "axis"], kind="stable").reset_index(drop=True)
    sdf = pd.DataFrame({
        "voxels": voxels, "z0": lo[:, 0], "y0": lo[:, 1], "x0": lo[:, 2], "z1": hi[:, 0], "y1": hi[:, 1], "x1": hi[:, 2],
        "exposed_z": exposed[:, 0], "exposed_y": exposed[:, 1], "exposed_x": exposed[:, 2], "lost_faces": lostf,
    }).iloc[1:]
    return ContactScan(fdf, sdf[sdf["voxels"] > 0])
