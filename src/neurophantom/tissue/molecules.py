"""Membrane molecules: receptors at synapses, connexins at gap junctions, channels on somata
and dendrites.

Counting rules (the exactness check in ``validate/phantom_check.py`` relies on them):

- receptors of type ``r`` at a synapse-partner row: ``rint(density_r * contact_area_um2)``
  (``numpy.rint``: round half to even), placed uniformly on the postsynaptic side of the
  contact patch (inside the first postsynaptic voxel layer, within half a voxel of the
  contact plane);
- connexins at a gap junction: ``rint(connexin_count)`` hemichannels on each side of the
  contact patch (kind ``"connexin"``, protein ``"connexin"``);
- channels of type ``c`` on neuron ``i``: ``rint(density_c * A_i * f_c)`` where ``A_i`` is the
  rendered soma + dendrite membrane area in biological um^2 (exposed voxel faces, divided by
  ``geometry_scale**2``; voxels that touch another neuron are excluded) and ``f_c`` the
  type's sampling fraction ``min(1, L / sum_i density_c * A_i)``, with the level ``L`` set so
  that the molecules of all types fill ``max_channel_molecules`` (water-filling,
  ``assemble.channel_sampling_fractions``), placed uniformly over those membrane voxels.

Every draw comes from ``SeedSequence(seed, spawn_key=(kind, index))``, so molecules do
not depend on chunking or on the order of computation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .geometry import Geometry, face_axis, face_sign, patch_order

RECEPTOR_KEY, CONNEXIN_KEY, CHANNEL_KEY = 1, 3, 2


def _rng(seed: int, kind: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(kind, index)))


def patch_points(geom: Geometry, cell: np.ndarray, face_from_host: int, n_pixels: int, count: int,
                 side: str, rng: np.random.Generator) -> np.ndarray:
    """``count`` points (nm, z/y/x) on one side of a contact patch.

    ``cell`` is the lattice cell on that side, ``face_from_host`` the host's face toward
    the partner; ``side`` is ``"host"`` or ``"partner"``.
    """
    k = face_axis(face_from_host)
    s = face_sign(face_from_host)
    lat = [a for a in range(3) if a != k]
    p = np.asarray(geom.pitch)
    vox = np.asarray(geom.voxel_nm)
    pix = patch_order(geom, k)[:n_pixels]
    pick = pix[rng.integers(0, n_pixels, count)]
    out = np.empty((count, 3))
    for j, a in enumerate(lat):
        out[:, a] = (cell[a] * p[a] + pick[:, j] + rng.uniform(0.0, 1.0, count)) * vox[a]
    # The contact plane lies on the partner's low face when s > 0, on its high face else.
    low_face = (s > 0) == (side == "partner")
    depth = rng.uniform(0.0, 0.5, count)
    base = cell[k] * p[k]
    out[:, k] = (base + depth if low_face else base + p[k] - 1 + (1.0 - depth)) * vox[k]
    return out


def molecule_frame(parts: list[dict]) -> pd.DataFrame:
    """Concatenate molecule column dicts into the Phantom's molecule table."""
    cols = ("z_nm", "y_nm", "x_nm", "protein", "kind", "neuron_id", "synapse_id", "gap_id")
    if not parts:
        data = {c: np.zeros(0) for c in cols[:3]}
        data.update(protein=np.zeros(0, object), kind=np.zeros(0, object))
        data.update({c: np.zeros(0, np.int64) for c in cols[5:]})
        return pd.DataFrame(data)
    out = {}
    for c in cols:
        vals = [np.asarray(p[c]) for p in parts]
        out[c] = np.concatenate(vals)
    df = pd.DataFrame(out)
    for c in ("protein", "kind"):
        df[c] = pd.Categorical(df[c].astype(object))
    return df


def points_block(points: np.ndarray, protein: str, kind: str, neuron_id: int, synapse_id: int = -1, gap_id: int = -1) -> dict:
    n = len(points)
    return {
        "z_nm": points[:, 0], "y_nm": points[:, 1], "x_nm": points[:, 2],
        "protein": np.full(n, protein, dtype=object), "kind": np.full(n, kind, dtype=object),
        "neuron_id": np.full(n, neuron_id, np.int64), "synapse_id": np.full(n, synapse_id, np.int64),
        "gap_id": np.full(n, gap_id, np.int64),
    }


def exposed_surface(region: np.ndarray, label: int, core: tuple[slice, slice, slice], geom: Geometry) -> tuple[np.ndarray, float]:
    """Membrane voxels of ``label`` inside ``region[core]`` and their exposed area (nm^2).

    A membrane voxel has a 6-neighbour of value 0 and none of another label; the area
    counts its faces toward 0-valued neighbours. ``region`` must extend one voxel beyond
    ``core`` on every side. Returns (local indices into ``region[core]``, area).
    """
    core = tuple(slice(*c.indices(n)[:2]) for c, n in zip(core, region.shape))
    mine = region == label
    zero = region == 0
    other = ~mine & ~zero
    c = mine[core]
    touching = np.zeros_like(c)
    faces = []
    for axis in range(3):
        for shift in (-1, 1):
            sl = list(core)
            sl[axis] = slice(core[axis].start + shift, core[axis].stop + shift)
            sl = tuple(sl)
            faces.append((geom.face_area_nm2(axis), zero[sl]))
            touching |= other[sl]
    ok = c & ~touching
    ok &= np.logical_or.reduce([z for _, z in faces])
    area = sum(fa * float((ok & z).sum()) for fa, z in faces)
    return np.argwhere(ok), area
