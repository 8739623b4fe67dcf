"""Rasterise the grown geometry, one block of voxels at a time.

:func:`render_block` is a pure function of a :class:`RenderPlan` and voxel bounds: the
value of a voxel depends only on its global coordinates, so any chunking of the volume
gives the same voxels (chunked == unchunked, bit for bit). :func:`label_volume` wraps it
in ``dask.array.map_blocks`` with the plan as one shared graph node.

A voxel's value is looked up from the template of the lattice cell that holds it (see
:mod:`neurophantom.tissue.geometry`), then the contact boxes are painted: a synaptic or
gap-junction contact is a presynaptic box from the centre of the host cell to its face
and a postsynaptic box from the facing cell's face to its centre, with the same
cross-section (the contact patch of exactly ``contact_voxels`` pixels), so the two
labels meet across exactly that many voxel faces.
"""

from __future__ import annotations

import dataclasses

import dask
import dask.array as da
import numpy as np

from .geometry import Geometry


@dataclasses.dataclass(frozen=True, eq=False)
class RenderPlan:
    """Everything :func:`render_block` needs (a few MB for a large phantom).

    ``tid`` and ``cell_label`` are (cells_z, cells_y, cells_x) arrays; ``bank`` is
    (templates, pitch_z * pitch_y * pitch_x) booleans with template 0 empty; each box
    ``i`` covers voxels ``box_lo[i] <= v < box_hi[i]`` where ``patches[box_patch[i]]``
    (a 2D mask over the two axes other than ``box_axis[i]``, aligned with the box) is set.
    """

    geom: Geometry
    shape_cells: tuple[int, int, int]
    tid: np.ndarray
    cell_label: np.ndarray
    bank: np.ndarray
    box_lo: np.ndarray
    box_hi: np.ndarray
    box_axis: np.ndarray
    box_label: np.ndarray
    box_patch: np.ndarray
    patches: tuple
    dtype: np.dtype
    cell_boxes: dict = dataclasses.field(default_factory=dict)  # lattice cell -> box ids

    @property
    def shape(self) -> tuple[int, int, int]:
        """Volume shape in voxels."""
        return tuple(int(c * p) for c, p in zip(self.shape_cells, self.geom.pitch))


def render_block(plan: RenderPlan, lo: tuple[int, int, int], hi: tuple[int, int, int]) -> np.ndarray:
    """Labels of voxels ``lo <= (z, y, x) < hi`` (any bounds inside the volume)."""
    p = np.asarray(plan.geom.pitch)
    lo, hi = np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)
    out = np.zeros(tuple(hi - lo), dtype=plan.dtype)
    c0, c1 = lo // p, (hi - 1) // p + 1
    sub = plan.tid[c0[0]:c1[0], c0[1]:c1[1], c0[2]:c1[2]]
    bank = plan.bank.reshape((-1, *plan.geom.pitch))
    # Only occupied cells are visited; most of the lattice is extracellular space.
    for cell in np.argwhere(sub):
        t = sub[tuple(cell)]
        cell = cell + c0
        a = np.maximum(cell * p, lo)
        b = np.minimum((cell + 1) * p, hi)
        src = bank[t][a[0] - cell[0] * p[0]:b[0] - cell[0] * p[0],
                      a[1] - cell[1] * p[1]:b[1] - cell[1] * p[1],
                      a[2] - cell[2] * p[2]:b[2] - cell[2] * p[2]]
        out[a[0] - lo[0]:b[0] - lo[0], a[1] - lo[1]:b[1] - lo[1], a[2] - lo[2]:b[2] - lo[2]] = (
            src * plan.cell_label[tuple(cell)])
    _paint_boxes(plan, out, lo, hi)
    return out


def _paint_boxes(plan: RenderPlan, out: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
    if not len(plan.box_lo):
        return
    p = np.asarray(plan.geom.pitch)
    c0, c1 = lo // p, (hi - 1) // p + 1
    if plan.cell_boxes and np.prod(c1 - c0) <= 64:  # a small region: look boxes up by cell
        ids = np.asarray(sorted(i for cell in np.ndindex(*(c1 - c0))
                                for i in plan.cell_boxes.get(tuple(int(v) for v in c0 + cell), ())), dtype=np.int64)
        keep = np.all(plan.box_lo[ids] < hi, axis=1) & np.all(plan.box_hi[ids] > lo, axis=1)
        hit = ids[keep]
    else:
        hit = np.flatnonzero(np.all(plan.box_lo < hi, axis=1) & np.all(plan.box_hi > lo, axis=1))
    for i in hit:
        a = np.maximum(plan.box_lo[i], lo)
        b = np.minimum(plan.box_hi[i], hi)
        k = int(plan.box_axis[i])
        lat = [j for j in range(3) if j != k]
        patch = plan.patches[plan.box_patch[i]]
        sub = patch[a[lat[0]] - plan.box_lo[i][lat[0]]:b[lat[0]] - plan.box_lo[i][lat[0]],
                    a[lat[1]] - plan.box_lo[i][lat[1]]:b[lat[1]] - plan.box_lo[i][lat[1]]]
        m = np.expand_dims(sub, k)
        region = out[a[0] - lo[0]:b[0] - lo[0], a[1] - lo[1]:b[1] - lo[1], a[2] - lo[2]:b[2] - lo[2]]
        region[np.broadcast_to(m, region.shape)] = plan.box_label[i]


def _render_chunk(plan: RenderPlan, block_info=None) -> np.ndarray:
    loc = block_info[None]["array-location"]
    return render_block(plan, tuple(a for a, _ in loc), tuple(b for _, b in loc))


def label_volume(plan: RenderPlan, chunks: tuple[int, int, int]) -> da.Array:
    """The label volume as a lazy dask array, rendered chunk by chunk."""
    plan_node = dask.delayed(plan, pure=True, traverse=False)
    return da.map_blocks(
        _render_chunk, plan_node,
        chunks=da.core.normalize_chunks(tuple(chunks), plan.shape),
        dtype=plan.dtype, meta=np.empty((0, 0, 0), dtype=plan.dtype),
        name="phantom-labels-" + dask.base.tokenize(plan.tid, plan.cell_label, plan.bank, plan.box_lo, plan.box_hi,
                                                    plan.box_label, plan.box_patch, plan.geom.pitch),
    )
