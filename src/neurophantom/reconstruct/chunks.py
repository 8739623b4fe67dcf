"""Chunked volumes: the grid, a scratch store, halo reads, stitched connected components.

Every stage of the reconstruction walks a :class:`Grid` of chunks and keeps its
intermediate volumes in a :class:`WorkStore` (memory-mapped files on disk), so no stage
holds a whole volume in memory. Chunk tasks run through
``dask.compute`` (local threads by default, a ``dask.distributed`` client when one is
active).

Connected components across chunks (:func:`label_components`): each chunk is labelled
alone by connected-components-3d (6-connectivity); labels that touch across a chunk face
are joined by a union over the face planes (a sparse graph solved by
``scipy.sparse.csgraph.connected_components``). A component's canonical key is the
global raster index of its first voxel, so the final numbering does not depend on the
chunking.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import cc3d
import dask
import fastremap
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

#: Chunk-local labels live in the low 32 bits of a node key, the chunk number above.
_SHIFT = np.uint64(32)


@dataclasses.dataclass(frozen=True)
class Box:
    """One chunk: its grid index, flat number and voxel bounds ``lo <= v < hi``."""

    index: tuple[int, int, int]
    number: int
    lo: tuple[int, int, int]
    hi: tuple[int, int, int]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(b - a for a, b in zip(self.lo, self.hi))


@dataclasses.dataclass(frozen=True)
class Grid:
    """A volume of ``shape`` voxels cut into chunks of ``chunk`` voxels (z, y, x)."""

    shape: tuple[int, int, int]
    chunk: tuple[int, int, int]

    @property
    def counts(self) -> tuple[int, int, int]:
        return tuple(-(-s // c) for s, c in zip(self.shape, self.chunk))

    @property
    def boxes(self) -> list[Box]:
        out = []
        for n, idx in enumerate(itertools.product(*(range(k) for k in self.counts))):
            lo = tuple(i * c for i, c in zip(idx, self.chunk))
            hi = tuple(min(s, a + c) for s, a, c in zip(self.shape, lo, self.chunk))
            out.append(Box(idx, n, lo, hi))
        return out

    def number(self, index: Sequence[int]) -> int:
        k = self.counts
        return (int(index[0]) * k[1] + int(index[1])) * k[2] + int(index[2])

    def neighbour(self, box: Box, axis: int) -> Box | None:
        """The next chunk along ``axis`` (None at the volume's far side)."""
        idx = list(box.index)
        idx[axis] += 1
        if idx[axis] >= self.counts[axis]:
            return None
        lo = tuple(i * c for i, c in zip(idx, self.chunk))
        hi = tuple(min(s, a + c) for s, a, c in zip(self.shape, lo, self.chunk))
        return Box(tuple(idx), self.number(idx), lo, hi)

    def flat_index(self, z, y, x) -> np.ndarray:
        """Global raster index of voxels (arrays of global coordinates)."""
        return (np.asarray(z, np.int64) * self.shape[1] + np.asarray(y, np.int64)) * self.shape[2] + np.asarray(x, np.int64)


class WorkStore:
    """Scratch volumes of the grid's shape, memory-mapped ``.npy`` files in a folder that
    :meth:`close` removes (when the store made it; its files are unlinked as soon as they
    are mapped, so nothing is left behind even by a killed process).

    Memory maps rather than zarr: chunk tasks write disjoint boxes in place and read
    halos across chunk borders without decoding whole chunks; the operating system pages
    them in and out, so a volume larger than memory still works.
    """

    def __init__(self, grid: Grid, folder: str | Path | None = None):
        self.grid = grid
        self._own = folder is None
        if folder is None:  # named after this process, so a later run removes it if we are killed
            from ..io._atomic import sweep_stale, tmp_prefix

            sweep_stale(tempfile.gettempdir(), "neurophantom-recon")
            folder = tempfile.mkdtemp(prefix=tmp_prefix("neurophantom-recon"))
        self.path = Path(folder)
        self.path.mkdir(parents=True, exist_ok=True)
        self._arrays: dict[str, np.ndarray] = {}

    def array(self, name: str, dtype) -> np.ndarray:
        path = self.path / f"{name}.npy"
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.dtype(dtype), shape=self.grid.shape)
        if self._own:
            # The mapping keeps the data; with the name gone the space is returned when the
            # array is dropped or the process ends, however it ends (no stray scratch files).
            os.unlink(path)
        self._arrays[name] = arr
        return arr

    def __getitem__(self, name: str) -> np.ndarray:
        return self._arrays[name]

    def close(self) -> None:
        self._arrays.clear()
        if self._own:
            shutil.rmtree(self.path, ignore_errors=True)


def clip_box(lo, hi, shape) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return tuple(max(0, int(a)) for a in lo), tuple(min(int(s), int(b)) for b, s in zip(hi, shape))


def read_box(src, lo, hi, fill=0) -> np.ndarray:
    """``src[..., lo:hi]`` over the last three axes for any bounds (outside the volume: ``fill``).

    ``src`` is a numpy, memory-mapped, zarr or dask array (dask blocks are computed in this thread).
    """
    lo = tuple(int(v) for v in lo)
    hi = tuple(int(v) for v in hi)
    a, b = clip_box(lo, hi, src.shape[-3:])
    if any(y <= x for x, y in zip(a, b)):
        return np.full(tuple(src.shape[:-3]) + tuple(y - x for x, y in zip(lo, hi)), fill, dtype=src.dtype)
    inner = src[(Ellipsis,) + tuple(slice(x, y) for x, y in zip(a, b))]
    if hasattr(inner, "compute"):
        inner = inner.compute(scheduler="synchronous")
    inner = np.asarray(inner)
    if a == lo and b == hi:
        return inner
    out = np.full(tuple(src.shape[:-3]) + tuple(y - x for x, y in zip(lo, hi)), fill, dtype=src.dtype)
    out[(Ellipsis,) + tuple(slice(x - l, y - l) for x, y, l in zip(a, b, lo))] = inner
    return out


def run_tasks(fn: Callable, items: Sequence) -> list:
    """``[fn(item) for item in items]`` as dask tasks on the active scheduler."""
    if not items:
        return []
    return list(dask.compute(*[dask.delayed(fn, pure=False)(it) for it in items]))


@dataclasses.dataclass(frozen=True)
class Components:
    """Connected components stitched over a grid.

    ``offsets[c]`` is the first node of chunk ``c`` (nodes are the chunk-local labels
    1..n_c in order); ``component[node]`` its component; per component: ``size``
    (voxels), ``first`` (global raster index of its first voxel), ``border`` (touches the
    volume's outer faces).
    """

    offsets: np.ndarray
    component: np.ndarray
    size: np.ndarray
    first: np.ndarray
    border: np.ndarray

    @property
    def n(self) -> int:
        return int(self.size.shape[0])

    def lut(self, chunk: int, values: np.ndarray) -> np.ndarray:
        """Lookup table local label -> ``values[component]`` for one chunk (0 -> 0)."""
        comp = self.component[self.offsets[chunk]:self.offsets[chunk + 1]]
        return np.concatenate([np.zeros(1, dtype=values.dtype), values[comp]])

    def canonical_order(self, keep: np.ndarray) -> np.ndarray:
        """New ids 1..k of the kept components in order of their first voxel (0 elsewhere)."""
        ids = np.zeros(self.n, dtype=np.int64)
        kept = np.flatnonzero(keep)
        ids[kept[np.argsort(self.first[kept], kind="stable")]] = np.arange(1, kept.size + 1)
        return ids


def _chunk_stats(lab: np.ndarray, box: Box, grid: Grid) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    n = int(lab.max()) if lab.size else 0
    counts = np.bincount(lab.ravel(), minlength=n + 1)[1:].astype(np.int64)
    uniq, first_local = fastremap.unique(lab.ravel(), return_index=True)
    first = np.zeros(n, dtype=np.int64)
    zyx = np.unravel_index(np.asarray(first_local, dtype=np.int64), lab.shape)
    g = grid.flat_index(*(zyx[a] + box.lo[a] for a in range(3)))
    sel = uniq > 0
    first[uniq[sel].astype(np.int64) - 1] = g[sel]
    border = np.zeros(n + 1, dtype=bool)
    for a in range(3):
        for side, at_edge in ((0, box.lo[a] == 0), (-1, box.hi[a] == grid.shape[a])):
            if at_edge:
                border[np.unique(np.take(lab, side, axis=a))] = True
    return n, counts, first, border[1:]


def label_components(mask_of: Callable[[Box], np.ndarray], grid: Grid, out: np.ndarray) -> Components:
    """Label the 6-connected components of a chunked mask; store chunk-local labels in ``out``.

    ``mask_of(box)`` returns the boolean mask of one chunk. ``out`` (uint32) receives the
    chunk-local labels; :meth:`Components.lut` maps them to global components.
    """
    boxes = grid.boxes

    def one(box: Box):
        lab = cc3d.connected_components(np.ascontiguousarray(mask_of(box)), connectivity=6, out_dtype=np.uint32)
        out[tuple(slice(a, b) for a, b in zip(box.lo, box.hi))] = lab
        return _chunk_stats(lab, box, grid)

    stats = run_tasks(one, boxes)
    n_per = np.array([s[0] for s in stats], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(n_per)])

    def faces(box: Box):
        pairs = []
        for a in range(3):
            nb = grid.neighbour(box, a)
            if nb is None:
                continue
            sl = [slice(x, y) for x, y in zip(box.lo, box.hi)]
            sl[a] = slice(box.hi[a] - 1, box.hi[a])
            p = np.asarray(out[tuple(sl)]).ravel().astype(np.int64)
            sl[a] = slice(nb.lo[a], nb.lo[a] + 1)
            q = np.asarray(out[tuple(sl)]).ravel().astype(np.int64)
            m = (p > 0) & (q > 0)
            if m.any():
                uv = np.unique(np.stack([p[m], q[m]], axis=1), axis=0)
                pairs.append(np.stack([offsets[box.number] + uv[:, 0] - 1, offsets[nb.number] + uv[:, 1] - 1], axis=1))
        return np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)

    edges = np.concatenate([np.zeros((0, 2), np.int64)] + run_tasks(faces, boxes))
    n_nodes = int(offsets[-1])
    graph = coo_matrix((np.ones(len(edges), dtype=np.int8), (edges[:, 0], edges[:, 1])), shape=(n_nodes, n_nodes))
    n_comp, comp = connected_components(graph, directed=False) if n_nodes else (0, np.zeros(0, np.int64))
    counts = np.concatenate([np.zeros(0, np.int64)] + [s[1] for s in stats])
    first = np.concatenate([np.zeros(0, np.int64)] + [s[2] for s in stats])
    border = np.concatenate([np.zeros(0, bool)] + [s[3] for s in stats])
    size = np.bincount(comp, weights=counts, minlength=n_comp).astype(np.int64)
    cfirst = np.full(n_comp, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(cfirst, comp, first)
    cborder = np.zeros(n_comp, dtype=bool)
    np.logical_or.at(cborder, comp, border)
    return Components(offsets, comp.astype(np.int64), size, cfirst, cborder)


def read_mapped(store: np.ndarray, grid: Grid, lut_of: Callable[[int], np.ndarray], lo, hi, dtype=np.int64) -> np.ndarray:
    """Chunk-local labels of ``store`` in ``lo..hi`` mapped by each chunk's lookup table.

    Voxels outside the volume are 0.
    """
    lo = tuple(int(v) for v in lo)
    hi = tuple(int(v) for v in hi)
    out = np.zeros(tuple(b - a for a, b in zip(lo, hi)), dtype=dtype)
    a, b = clip_box(lo, hi, grid.shape)
    if any(y <= x for x, y in zip(a, b)):
        return out
    first = [x // c for x, c in zip(a, grid.chunk)]
    last = [(y - 1) // c for y, c in zip(b, grid.chunk)]
    for idx in itertools.product(*(range(f, l + 1) for f, l in zip(first, last))):
        c_lo = [i * c for i, c in zip(idx, grid.chunk)]
        c_hi = [min(s, x + c) for s, x, c in zip(grid.shape, c_lo, grid.chunk)]
        s_lo = [max(x, y) for x, y in zip(a, c_lo)]
        s_hi = [min(x, y) for x, y in zip(b, c_hi)]
        piece = np.asarray(store[tuple(slice(x, y) for x, y in zip(s_lo, s_hi))])
        lut = lut_of(grid.number(idx))
        out[tuple(slice(x - l, y - l) for x, y, l in zip(s_lo, s_hi, lo))] = lut[piece]
    return out


def flood(seeds: np.ndarray, allowed: np.ndarray, iterations: int) -> np.ndarray:
    """Grow labels into ``allowed`` voxels, one 6-neighbour layer per iteration.

    Breadth-first layers: a voxel takes the label of a neighbour labelled in an earlier
    layer (a geodesic Voronoi partition of the seeds). When neighbours of different labels
    reach it in the same layer, it goes to the label whose seed voxels are nearest in a
    straight line (exact distances, ``scipy.spatial.cKDTree``), then to the smaller label.
    The result at a voxel depends only on the seeds within ``iterations`` steps (and, for
    ties, within ``iterations`` voxels), so a chunk computed with that halo equals the
    whole volume computed at once. (skimage's watershed breaks ties by queue order, which
    depends on the block; this is why it is written out here.)
    """
    from scipy.spatial import cKDTree

    lab = np.pad(np.asarray(seeds, dtype=np.int64), 1)
    ok = np.pad(np.asarray(allowed, dtype=bool), 1)
    flat = lab.ravel()
    s = lab.shape
    steps = np.array([s[1] * s[2], -s[1] * s[2], s[2], -s[2], 1, -1], dtype=np.int64)
    cand = np.flatnonzero(ok.ravel() & (flat == 0))
    seed_flat = np.flatnonzero(flat > 0)
    seed_lab = flat[seed_flat]
    trees: dict = {}
    big = np.iinfo(np.int64).max

    def dist(label: int, pts: np.ndarray) -> np.ndarray:
        if label not in trees:
            trees[label] = cKDTree(np.stack(np.unravel_index(seed_flat[seed_lab == label], s), axis=1))
        return trees[label].query(pts)[0]

    for _ in range(int(iterations)):
        if cand.size == 0:
            break
        nb = flat[cand[:, None] + steps[None, :]]
        lo = np.where(nb > 0, nb, big).min(axis=1)
        hit = lo < big
        if not hit.any():
            break
        new = lo.copy()
        hi = np.where(nb > 0, nb, -1).max(axis=1)
        tie = np.flatnonzero(hit & (hi != lo))
        if tie.size:
            pts = np.stack(np.unravel_index(cand[tie], s), axis=1)
            options = nb[tie]
            best_d = np.full(tie.size, np.inf)
            for lbl in np.unique(options[options > 0]):
                has = (options == lbl).any(axis=1)
                d = np.full(tie.size, np.inf)
                d[has] = dist(int(lbl), pts[has])
                better = (d < best_d) | ((d == best_d) & (lbl < new[tie]))
                new[tie[better]] = lbl
                best_d = np.where(better, d, best_d)
        flat[cand[hit]] = new[hit]
        cand = cand[~hit]
    return lab[1:-1, 1:-1, 1:-1]
