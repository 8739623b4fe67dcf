"""Skeletons and morphology features per recovered neuron.

Each segment is read within its bounding box (never the whole volume). Its distance
transform (``edt``, anisotropic) gives the soma: the deepest point is the soma centre and
its depth the soma radius (the largest inscribed sphere). Its skeleton is traced by
kimimaro's TEASAR (Sato et al. 2000; Silversmith et al., kimimaro), which also gives the
radius at every skeleton vertex; from it: cable length, branch points (vertices of
degree >= 3), terminals (degree 1), mean and median radius.

Cable length is measured along each unbranched run of the skeleton (``interjoint_paths``)
after a moving average of ``cable_smoothing_vertices`` vertices on each side (ends held):
a TEASAR path steps from voxel to voxel of a voxelised neurite and zigzags across its
width, so the raw polyline overestimates the length of a straight 3-4 voxel-wide neurite
by ~15% (tests/reconstruct/test_morphology_analytic.py: 13.2 um for 11.5 um drawn; 11.9
with two vertices each side, 11.6 with eight: the moving average converges from above).

Optionally the features are clustered into cell types by k-means
(``scipy.cluster.vq.kmeans2``, seeded) on standardised log features.

References
----------
Sato M, Bitter I, Bender MA, Kaufman AE, Nakajima M (2000) TEASAR: tree-structure
extraction algorithm for accurate and robust skeletons. Proc. Pacific Graphics, 281-449.
Silversmith W et al. kimimaro: skeletonize densely labeled 3D image segmentations
(https://github.com/seung-lab/kimimaro).
"""

from __future__ import annotations

import edt
import numpy as np
import pandas as pd
from scipy.ndimage import uniform_filter1d

from .chunks import WorkStore, run_tasks
from .config import MorphologyConfig

FEATURES = ("soma_radius_um", "cable_length_um", "mean_radius_um", "n_branch_points")


def _skeleton(mask: np.ndarray, voxel_nm, cfg: MorphologyConfig) -> dict:
    import kimimaro

    params = {"scale": cfg.teasar_scale, "const": cfg.teasar_const_nm}
    # A one-voxel empty margin: kimimaro's border-target search (compute_centroids) can
    # index out of bounds on thin masks that touch the crop's faces; the crop is the
    # segment's bounding box, so every segment touches them. The margin changes no length.
    skels = kimimaro.skeletonize(np.pad(mask, 1).astype(np.uint8), teasar_params=params, anisotropy=tuple(float(v) for v in voxel_nm),
                                 dust_threshold=0, fix_branching=cfg.fix_branching, progress=False, parallel=1)
    if 1 not in skels or len(skels[1].vertices) == 0:
        return {"cable_length_um": 0.0, "n_branch_points": 0, "n_terminals": 0, "mean_radius_um": np.nan,
                "median_radius_um": np.nan, "skeleton_nodes": 0}
    s = skels[1]
    cable_nm = smoothed_cable_nm(s.interjoint_paths(), cfg.cable_smoothing_vertices)
    deg = np.bincount(s.edges.ravel(), minlength=len(s.vertices)) if len(s.edges) else np.zeros(len(s.vertices), int)
    return {"cable_length_um": cable_nm / 1000.0, "n_branch_points": int((deg >= 3).sum()),
            "n_terminals": int((deg == 1).sum()), "mean_radius_um": float(np.mean(s.radius)) / 1000.0,
            "median_radius_um": float(np.median(s.radius)) / 1000.0, "skeleton_nodes": int(len(s.vertices))}


def smoothed_cable_nm(paths, half: int) -> float:
    """Total length of polylines ``paths`` (each (n, 3), nm) after a moving average over
    ``2 * half + 1`` vertices (ends held; ``scipy.ndimage.uniform_filter1d``)."""
    total = 0.0
    for p in paths:
        x = np.asarray(p, dtype=np.float64)
        if half > 0 and len(x) > 2:
            y = uniform_filter1d(x, 2 * half + 1, axis=0, mode="nearest")
            y[0], y[-1] = x[0], x[-1]
            x = y
        total += float(np.linalg.norm(np.diff(x, axis=0), axis=1).sum())
    return total


def soma(mask: np.ndarray, voxel_nm) -> tuple[np.ndarray, tuple[int, int, int], float]:
    """(distance to the segment's boundary in nm, deepest voxel, its depth): the soma is
    the largest inscribed sphere. ``mask`` is the segment within its bounding box; the
    box's faces count as boundary (one voxel of padding)."""
    dist = edt.edt(np.pad(mask, 1).astype(np.uint8), anisotropy=tuple(float(v) for v in voxel_nm), black_border=False)[1:-1, 1:-1, 1:-1]
    deepest = tuple(int(i) for i in np.unravel_index(int(np.argmax(dist)), dist.shape))
    return dist, deepest, float(dist[deepest])


def _one(seg_id: int, box, store: WorkStore, voxel_nm, cfg: MorphologyConfig) -> dict:
    lo, hi = box
    crop = np.asarray(store["segmentation"][lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]])
    mask = crop == seg_id
    _, deepest, radius = soma(mask, voxel_nm)
    out = {"id": int(seg_id), "soma_radius_um": radius / 1000.0,
           **{f"soma_{a}_vox": int(deepest[i] + lo[i]) for i, a in enumerate("zyx")}}
    if cfg.skeletons:
        out.update(_skeleton(mask, voxel_nm, cfg))
    else:
        out.update({"cable_length_um": np.nan, "n_branch_points": -1, "n_terminals": -1,
                    "mean_radius_um": np.nan, "median_radius_um": np.nan, "skeleton_nodes": 0})
    return out


def morphology(segments: pd.DataFrame, store: WorkStore, voxel_nm, cfg: MorphologyConfig) -> pd.DataFrame:
    """One row per segment id: soma voxel and radius, skeleton features."""
    jobs = [(int(i), ((r.z0, r.y0, r.x0), (r.z1, r.y1, r.x1))) for i, r in segments.iterrows()]
    rows = run_tasks(lambda j: _one(j[0], j[1], store, voxel_nm, cfg), jobs)
    cols = ["id", "soma_radius_um", "soma_z_vox", "soma_y_vox", "soma_x_vox", "cable_length_um", "n_branch_points",
            "n_terminals", "mean_radius_um", "median_radius_um", "skeleton_nodes"]
    return pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame({c: np.zeros(0) for c in cols})


def cluster_cell_types(features: pd.DataFrame, k: int, seed: int) -> np.ndarray:
    """``"cluster<i>"`` per row by k-means of standardised log features, or ``"unknown"``
    when ``k == 0`` or there are fewer neurons than clusters."""
    n = len(features)
    if k <= 0 or n < k:
        return np.full(n, "unknown", dtype=object)
    from scipy.cluster.vq import kmeans2

    x = np.log1p(np.nan_to_num(features[list(FEATURES)].to_numpy(dtype=np.float64).clip(min=0.0)))
    sd = x.std(axis=0)
    x = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    _, lab = kmeans2(x, k, seed=np.random.default_rng(seed), minit="++")
    # Name clusters by size (largest first) so that the names do not depend on the draw order.
    order = np.argsort(-np.bincount(lab, minlength=k), kind="stable")
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    return np.array([f"cluster{rank[i]}" for i in lab], dtype=object)
