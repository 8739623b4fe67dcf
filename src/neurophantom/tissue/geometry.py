"""Lattice geometry and voxel templates.

The phantom is drawn on a routing lattice: cubic-ish cells of ``pitch`` voxels per axis
(odd, so every cell has a centre voxel). Every cell belongs to at most one neuron and
holds one of a few shapes (a *template*):

- a neurite cell: a sphere of the cable radius at the cell centre plus, for each face
  that connects to the next cell of the same tree, a cylinder from the centre to that
  face (axis-aligned cables; the cross-section on a shared face is identical on both
  sides, so cables are continuous);
- a soma cell: its part of the neuron's soma sphere (centred on a block of
  ``soma_cells``^3 cells) plus, on the six face-centre cells of the block, an exit
  cylinder where a neurite leaves; the cylinder runs through the whole exit cell (from
  its inner face to its outer one), so a soma of any radius in
  :meth:`Geometry.soma_bounds_nm` joins its exits.

Every template leaves the outermost voxel layer of its cell empty except where a cable
crosses a connected face, so two different neurons are always at least two voxels apart
(no face, edge or corner contact) except at the contact patches drawn in
:mod:`neurophantom.tissue.render`.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from .._errors import NeurophantomError
from .config import TissueConfig

AXON, DENDRITE, SOMA = 1, 2, 3
COMPARTMENT_NAMES = {AXON: "axon", DENDRITE: "dendrite", SOMA: "soma"}
#: face f: axis f // 2, direction -1 for even f, +1 for odd f: (-z, +z, -y, +y, -x, +x)
N_FACES = 6


def face_axis(face: int) -> int:
    return face // 2


def face_sign(face: int) -> int:
    return 1 if face % 2 else -1


@dataclasses.dataclass(frozen=True)
class Geometry:
    """Sizes of the lattice in voxels and of the shapes in phantom nm."""

    voxel_nm: tuple[float, float, float]
    pitch: tuple[int, int, int]
    radius_nm: dict
    soma_cells: int
    soma_radius_nm: float  # the reference soma (a neuron of the circuit's median membrane area)
    scale: float

    def soma_bounds_nm(self) -> tuple[float, float]:
        """Smallest and largest soma radius the block holds: the sphere must reach one
        voxel into each exit cell (whose cable then joins it) and leave the block's outer
        voxel layer empty."""
        p, v, b = self.pitch_nm, np.asarray(self.voxel_nm), self.soma_cells
        return float(np.max((b / 2 - 1) * p + v)), float(np.min(b * p / 2 - v))

    @property
    def pitch_nm(self) -> np.ndarray:
        return np.asarray(self.pitch) * np.asarray(self.voxel_nm)

    def face_area_nm2(self, axis: int) -> float:
        """Area of one voxel face normal to ``axis``."""
        a, b = (i for i in range(3) if i != axis)
        return self.voxel_nm[a] * self.voxel_nm[b]

    def patch_capacity(self, axis: int) -> int:
        """Most contact pixels a face normal to ``axis`` holds (one free voxel rim)."""
        a, b = (i for i in range(3) if i != axis)
        return (self.pitch[a] - 2) * (self.pitch[b] - 2)

    def contact_pixels(self, area_phantom_um2: float, axis: int, n_faces: int = 1) -> int:
        """The voxel rule for one face of a contact split over ``n_faces`` faces:
        ``max(1, rint(area / n_faces / face area))`` voxel-face pairs."""
        return max(1, int(np.rint(area_phantom_um2 * 1e6 / n_faces / self.face_area_nm2(axis))))

    def faces_needed(self, area_phantom_um2: np.ndarray) -> np.ndarray:
        """Lattice faces a contact needs so that its share fits any face orientation."""
        fit = min(self.face_area_nm2(k) * self.patch_capacity(k) for k in range(3))
        return np.maximum(1, np.ceil(np.asarray(area_phantom_um2) * 1e6 / fit - 1e-9)).astype(np.int64)


def _odd_ceil(x: float) -> int:
    n = max(1, math.ceil(x - 1e-9))
    return n if n % 2 else n + 1


def _pitch_ok(pitch: tuple[int, ...], vox: np.ndarray, r_max: float) -> str | None:
    for a in range(3):
        if pitch[a] < 5:
            return f"pitch of {pitch[a]} voxels along axis {'zyx'[a]} (need >= 5)"
        if r_max > pitch[a] * vox[a] / 2 - vox[a]:
            return f"cable radius {r_max:.1f} nm does not fit a pitch of {pitch[a] * vox[a]:.1f} nm along {'zyx'[a]}"
    return None


def _contacts_ok(pitch, vox, areas_nm2: np.ndarray, group: np.ndarray, typical_nm2: float, max_faces: int) -> str | None:
    caps = []
    for k in range(3):
        a, b = (i for i in range(3) if i != k)
        caps.append((pitch[a] - 2) * (pitch[b] - 2) * vox[a] * vox[b])
    fit = min(caps)
    if typical_nm2 > fit:
        return "typical contact does not fit one lattice face"
    if len(areas_nm2):
        faces = np.maximum(1, np.ceil(areas_nm2 / fit - 1e-9))
        per_group = np.bincount(group, weights=faces)
        if per_group.max() > max_faces:
            return f"a release site needs {int(per_group.max())} lattice faces (at most {max_faces})"
    return None


def choose_geometry(config: TissueConfig, contact_um2: np.ndarray, group: np.ndarray, max_faces: int) -> Geometry:
    """Pitch and soma size for ``config``.

    ``contact_um2`` are the biological contact areas of every partner row and ``group``
    the release site (0..G-1) of each. The automatic pitch is the smallest that holds the
    thickest cable, puts the 90th-percentile contact on one lattice face and lets every
    release site fit on ``max_faces`` faces of its bouton.
    """
    s = config.geometry_scale
    vox = np.asarray(config.voxel_size_nm, dtype=float)
    radius = {AXON: config.axon_radius_um * s * 1e3, DENDRITE: config.dendrite_radius_um * s * 1e3}
    r_max = max(radius.values())
    areas = np.asarray(contact_um2, dtype=float) * s * s * 1e6
    group = np.asarray(group, dtype=np.int64)
    typical = float(np.percentile(areas, 90)) if len(areas) else 0.0
    if config.lattice_pitch_nm is not None:
        pitch = tuple(_odd_ceil(config.lattice_pitch_nm / v) for v in vox)
        problem = _pitch_ok(pitch, vox, r_max) or _contacts_ok(pitch, vox, areas, group, 0.0, max_faces)
        if problem:
            raise NeurophantomError(f"tissue: lattice_pitch_nm={config.lattice_pitch_nm} too small: {problem}")
    else:
        p_nm = max(float(vox.max()) * 5, 2 * (r_max + float(vox.max())))
        while True:
            pitch = tuple(_odd_ceil(p_nm / v) for v in vox)
            if _pitch_ok(pitch, vox, r_max) is None and _contacts_ok(pitch, vox, areas, group, typical, max_faces) is None:
                break
            p_nm += float(vox.min())
            if p_nm > 1e7:
                raise NeurophantomError("tissue: no lattice pitch fits these radii and contact sizes")
    pitch_nm = np.asarray(pitch) * vox
    r_soma = config.soma_radius_um * s * 1e3
    b = 3
    while r_soma > float(np.min(b * pitch_nm / 2 - vox)):
        b += 2
    geom = Geometry(voxel_nm=tuple(float(v) for v in vox), pitch=pitch, radius_nm=radius,
                    soma_cells=b, soma_radius_nm=r_soma, scale=s)
    return dataclasses.replace(geom, soma_radius_nm=float(np.clip(r_soma, *geom.soma_bounds_nm())))


def soma_radii_nm(geom: Geometry, area_um2: np.ndarray, exponent: float) -> np.ndarray:
    """Soma radius of each neuron (phantom nm): the reference radius times
    ``(area / median area) ** exponent``, inside :meth:`Geometry.soma_bounds_nm`, on a
    grid of a quarter of the finest voxel (so neurons of one size share templates).

    Larger neurons have larger somata (exponent 0.5 keeps the soma's share of the
    membrane constant); cell types that differ in membrane area then differ in a shape a
    receptor-blind scan sees, as pyramidal cells and interneurons do (Markram H et al.
    2004, Interneurons of the neocortical inhibitory system, Nat Rev Neurosci 5:793-807).
    Exponent 0 gives every neuron the reference soma.
    """
    area = np.asarray(area_um2, dtype=np.float64)
    rel = np.ones_like(area)
    ok = np.isfinite(area) & (area > 0)
    if ok.any():
        rel[ok] = (area[ok] / np.median(area[ok])) ** float(exponent)
    lo, hi = geom.soma_bounds_nm()
    q = min(geom.voxel_nm) / 4
    return np.clip(np.round(np.clip(geom.soma_radius_nm * rel, lo, hi) / q) * q, lo, hi)


def _centres(geom: Geometry) -> list[np.ndarray]:
    """Voxel-centre coordinates (nm) inside one cell, per axis, broadcastable."""
    out = []
    for a in range(3):
        c = (np.arange(geom.pitch[a]) + 0.5) * geom.voxel_nm[a]
        shape = [1, 1, 1]
        shape[a] = -1
        out.append(c.reshape(shape))
    return out


def _tube(geom: Geometry, face: int, radius: float) -> np.ndarray:
    """Voxels within ``radius`` of the segment from the cell centre to ``face``'s centre."""
    x = _centres(geom)
    centre = geom.pitch_nm / 2
    k = face_axis(face)
    along = (x[k] - centre[k]) * face_sign(face)
    t = np.clip(along, 0.0, None)
    d2 = (along - t) ** 2
    for a in range(3):
        if a != k:
            d2 = d2 + (x[a] - centre[a]) ** 2
    return np.broadcast_to(d2 <= radius * radius, geom.pitch)


def neurite_template(geom: Geometry, mask: int, comp: int) -> np.ndarray:
    """Cell of compartment ``comp`` with cables to the faces set in the 6-bit ``mask``."""
    r = geom.radius_nm[comp]
    return ball_and_cables(geom, r, mask, r)


def ball_and_cables(geom: Geometry, ball_nm: float, mask: int, cable_nm: float) -> np.ndarray:
    """A cell's voxels: a ball of radius ``ball_nm`` at its centre plus cables of radius
    ``cable_nm`` to the faces set in the 6-bit ``mask``."""
    x = _centres(geom)
    centre = geom.pitch_nm / 2
    d2 = sum((x[a] - centre[a]) ** 2 for a in range(3))
    out = np.broadcast_to(d2 <= ball_nm * ball_nm, geom.pitch).copy()
    for f in range(N_FACES):
        if mask >> f & 1:
            out |= _tube(geom, f, cable_nm)
    return out


def soma_template(geom: Geometry, pos: tuple[int, int, int], exit_face: int, exit_comp: int,
                  radius_nm: float | None = None) -> np.ndarray:
    """Cell ``pos`` (index inside the soma block) of a soma sphere of ``radius_nm``
    (default the reference radius), plus an exit cable through the whole cell."""
    r = geom.soma_radius_nm if radius_nm is None else float(radius_nm)
    x = _centres(geom)
    b = geom.soma_cells
    block_centre = b * geom.pitch_nm / 2
    d2 = sum((x[a] + pos[a] * geom.pitch_nm[a] - block_centre[a]) ** 2 for a in range(3))
    out = np.broadcast_to(d2 <= r * r, geom.pitch).copy()
    if exit_face >= 0:
        out |= _tube(geom, exit_face, geom.radius_nm[exit_comp])
        out |= _tube(geom, exit_face ^ 1, geom.radius_nm[exit_comp])  # inward, to the sphere
    return out


def patch_order(geom: Geometry, axis: int) -> np.ndarray:
    """Interior pixels of a face normal to ``axis``, nearest to the face centre first.

    Returns an (n, 2) array of (a, b) pixel indices along the two lateral axes in
    (z, y, x) order; ties break by index, so the order is deterministic.
    """
    return _patch_order(geom.pitch, geom.voxel_nm, axis)


@functools.lru_cache(maxsize=64)
def _patch_order(pitch: tuple, voxel_nm: tuple, axis: int) -> np.ndarray:
    la, lb = (i for i in range(3) if i != axis)
    pa, pb = pitch[la], pitch[lb]
    ia, ib = np.meshgrid(np.arange(1, pa - 1), np.arange(1, pb - 1), indexing="ij")
    da_ = (ia + 0.5 - pa / 2) * voxel_nm[la]
    db_ = (ib + 0.5 - pb / 2) * voxel_nm[lb]
    d2 = (da_ ** 2 + db_ ** 2).ravel()
    order = np.lexsort((ib.ravel(), ia.ravel(), np.round(d2, 6)))
    out = np.stack([ia.ravel()[order], ib.ravel()[order]], axis=1)
    out.flags.writeable = False
    return out


def patch_mask(geom: Geometry, axis: int, n: int) -> np.ndarray:
    """(p_a, p_b) boolean mask of the first ``n`` pixels of :func:`patch_order`."""
    la, lb = (i for i in range(3) if i != axis)
    order = patch_order(geom, axis)
    if n > len(order):
        raise NeurophantomError(f"tissue: contact of {n} pixels exceeds a lattice face ({len(order)})")
    m = np.zeros((geom.pitch[la], geom.pitch[lb]), dtype=bool)
    m[order[:n, 0], order[:n, 1]] = True
    return m
