"""Surface area of every label of a volume: the membrane a perfect segmentation measures.

A neuron's membrane in the phantom is the set of voxel faces between its label and
anything else (extracellular space or another neuron). :func:`label_surface_nm2` counts
those faces per label over the whole (lazy, chunked) label volume, one chunk at a time
with a one-voxel halo on the high side of each axis, so every face is counted exactly
once whatever the chunking. It is the same quantity the reconstruction reports as a
segment's area (exposed plus contact faces, ``reconstruct/assemble.py``), which is what
makes the ground truth's membrane area one a scan can measure.
"""

from __future__ import annotations

import itertools

import numpy as np


def _chunk_edges(shape: tuple[int, ...], chunks) -> list[list[int]]:
    """Chunk boundaries per axis from a dask chunk spec or a chunk shape."""
    edges = []
    for n, c in zip(shape, chunks):
        if isinstance(c, tuple):
            e = np.concatenate([[0], np.cumsum(c)]).astype(int).tolist()
        else:
            e = list(range(0, n, int(c))) + [n]
        edges.append(e)
    return edges


def label_surface_nm2(labels, voxel_size_nm, n_labels: int, *, chunks=None, read_block=None) -> np.ndarray:
    """Per-label surface area in nm^2 (index = label value; label 0 is the background).

    Parameters
    ----------
    labels : array-like (z, y, x), or its shape when ``read_block`` is given
        Integer labels; a dask or zarr array is read block by block.
    voxel_size_nm : (z, y, x)
        Voxel edge lengths.
    n_labels : int
        Largest label value; the result has ``n_labels + 1`` entries.
    chunks : optional
        Block shape to read in (default: the array's own chunks, else 128^3).
    read_block : callable ``(lo, hi) -> ndarray``, optional
        Renders any box of the volume (the phantom's render plan does, so that no chunk
        is rendered twice for its halo).

    Faces on the volume's outer boundary are not counted (the phantom keeps a border of
    extracellular space around every neuron).
    """
    vs = np.asarray(voxel_size_nm, dtype=np.float64)
    face_nm2 = np.array([vs[1] * vs[2], vs[0] * vs[2], vs[0] * vs[1]])
    shape = tuple(int(s) for s in (labels if read_block is not None else labels.shape))
    spec = chunks if chunks is not None else getattr(labels, "chunks", None) or (128, 128, 128)
    if read_block is None:
        def read_block(lo, hi):
            b = labels[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
            return np.asarray(b.compute() if hasattr(b, "compute") else b)
    edges = _chunk_edges(shape, spec)
    out = np.zeros(n_labels + 1, dtype=np.float64)
    for cz, cy, cx in itertools.product(*(range(len(e) - 1) for e in edges)):
        lo = (edges[0][cz], edges[1][cy], edges[2][cx])
        hi = (edges[0][cz + 1], edges[1][cy + 1], edges[2][cx + 1])
        ext = tuple(min(h + 1, n) for h, n in zip(hi, shape))
        block = read_block(lo, ext)
        core = tuple(h - l for h, l in zip(hi, lo))
        for axis in range(3):
            # Faces between voxel p (inside the core) and p + e_axis (core or halo).
            a_sl = [slice(0, core[0]), slice(0, core[1]), slice(0, core[2])]
            b_sl = list(a_sl)
            n_next = min(core[axis], block.shape[axis] - 1)
            a_sl[axis] = slice(0, n_next)
            b_sl[axis] = slice(1, n_next + 1)
            a = block[tuple(a_sl)]
            b = block[tuple(b_sl)]
            diff = a != b
            if not diff.any():
                continue
            for side in (a[diff], b[diff]):
                side = side[side > 0].astype(np.int64)
                out += np.bincount(side, minlength=n_labels + 1)[: n_labels + 1] * face_nm2[axis]
    return out


def membrane_area_factor(designed_area_um2: np.ndarray, surface_um2: np.ndarray, fixed: float | None = None) -> float:
    """Membrane per unit of rendered surface: the phantom draws neurites shorter and fewer
    than life (``geometry_scale``, abbreviated arbors, no spines), so a neuron's real
    membrane is this factor times the surface its label shows. One number per specimen,
    so membrane areas stay proportional to what a segmentation measures; by default it
    gives the median neuron the circuit's median membrane area.
    """
    if fixed is not None:
        return float(fixed)
    d = np.asarray(designed_area_um2, dtype=np.float64)
    s = np.asarray(surface_um2, dtype=np.float64)
    ok = np.isfinite(d) & (d > 0)
    seen = s > 0
    if not ok.any() or not seen.any():
        return 1.0
    return float(np.median(d[ok]) / np.median(s[seen]))
