"""Astrocytes in the tissue: each a labelled body with processes and its own membrane marker.

A world with glia (:class:`~neurophantom.sources.hidden.GliaConfig`) has astrocytes at
the positions and with the domains that :func:`~neurophantom.sources.hidden.astrocytes`
gives the ground truth. The tissue draws each one in the lattice cells the neurons left
free, after every neurite is routed (so the neurons are drawn exactly as without glia):

- the body: the free cell nearest to the astrocyte's place (laterally the mean soma
  position of its domain's neurons on the sheet, or of the nearest neuron for an empty
  domain; in depth the middle of the neuropil), a sphere filling the cell (one voxel
  rim left empty, as every template);
- up to ``processes`` straight processes of at most ``process_cells`` cells each,
  along lattice axes in a seeded order, through free cells only (cables of
  ``process_radius_um``);
- ``rint(marker_density_per_um2 * area)`` marker molecules (kind ``"glia"``, protein
  ``marker_protein``, e.g. the glutamate transporter GLT-1 / EAAT2 that marks
  protoplasmic astrocytes; Rothstein et al. 1994, Neuron 13:713-725) placed uniformly on
  the astrocyte's membrane voxels, ``area`` being its exposed surface in biological um^2.

Astrocyte cells never touch a neuron (every template keeps its cell's outer voxel layer
empty except on faces joined to the same cell), so no neuron's membrane, contact or
molecule changes when glia are added.
"""

from __future__ import annotations

import numpy as np

from .config import TissueGliaConfig
from .geometry import N_FACES, Geometry, ball_and_cables, face_axis, face_sign

#: SeedSequence spawn key of glia draws (receptors 1, channels 2, connexins 3).
GLIA_KEY = 4


def glia_template(geom: Geometry, body: int, mask: int, process_nm: float) -> np.ndarray:
    """A glia cell: a sphere (the body fills the cell, a process cell is a cable) plus
    cables of ``process_nm`` to the faces in ``mask``."""
    r = float(np.min(geom.pitch_nm / 2 - np.asarray(geom.voxel_nm))) if body else process_nm
    return ball_and_cables(geom, r, mask, process_nm)


def _nearest_free(free: np.ndarray, target: np.ndarray) -> tuple[int, int, int]:
    cand = np.argwhere(free)
    d = ((cand - target) ** 2).sum(axis=1)
    return tuple(int(v) for v in cand[int(np.argmin(d))])


def place_glia(owner: np.ndarray, lateral: np.ndarray, neuropil: tuple[int, int], where_um: np.ndarray,
               member: np.ndarray, pos_um: np.ndarray, cfg: TissueGliaConfig) -> list:
    """Cells of each astrocyte on the lattice (``owner`` < 0 is free; ``lateral`` the (y, x)
    cell of each neuron's soma; ``member`` the (A, N) domains)."""
    free = owner < 0
    shape = np.asarray(owner.shape)
    depth = (neuropil[0] + neuropil[1] - 1) / 2
    rng = np.random.default_rng(np.random.SeedSequence(cfg.seed, spawn_key=(GLIA_KEY, 0)))
    out = []
    for a in range(len(where_um)):
        dom = member[a]
        if not dom.any():
            dom = np.zeros_like(dom)
            dom[int(np.argmin(np.linalg.norm(pos_um - where_um[a], axis=1)))] = True
        target = np.array([depth, *lateral[dom].mean(axis=0)])
        body = _nearest_free(free, target)
        free[body] = False
        cells = {body: [True, 0]}
        for f in rng.permutation(N_FACES)[:cfg.processes]:
            k, s = face_axis(int(f)), face_sign(int(f))
            prev = body
            for _ in range(cfg.process_cells):
                nxt = list(prev)
                nxt[k] += s
                nxt = tuple(nxt)
                if not (0 <= nxt[k] < shape[k]) or not free[nxt]:
                    break
                free[nxt] = False
                cells[prev][1] |= 1 << int(f)
                cells[nxt] = [False, 1 << (int(f) ^ 1)]
                prev = nxt
        out.append([(c, b, m) for c, (b, m) in cells.items()])
    return out


def draw_glia(circuit, cfg: TissueGliaConfig, grown, site_map, bank, tid: np.ndarray, cell_label: np.ndarray,
              owner: np.ndarray) -> dict:
    """Place every astrocyte and write its templates and labels (``n + 1 + a``) into
    ``tid`` and ``cell_label`` in place; returns what :func:`glia_tables` needs."""
    from ..sources.hidden import _positions, astrocytes

    geom = grown.geom
    where, member = astrocytes(circuit, cfg.astrocytes, cfg.seed)
    pos = _positions(circuit)
    lateral = grown.frame.lateral_cell(site_map.sites.astype(float))
    cells = place_glia(owner, lateral, grown.frame.neuropil, where, member, pos, cfg)
    n = circuit.n_neurons
    process_nm = min(cfg.process_radius_um * geom.scale * 1e3, float(np.min(geom.pitch_nm / 2 - np.asarray(geom.voxel_nm))))
    tids = []
    for a, group in enumerate(cells):
        mine = []
        for cell, body, mask in group:
            t = bank.id(("g", int(body), int(mask), process_nm))
            tid[cell] = t
            cell_label[cell] = n + 1 + a
            mine.append((cell, body, mask, t))
        tids.append(mine)
    return {"cells": tids, "where": where, "member": member}


def glia_tables(drawn: dict, cfg: TissueGliaConfig, bank, geom: Geometry, n: int, seed: int):
    """Marker molecules (one parts list) and the Phantom's glia table."""
    import pandas as pd

    from .assemble import _template_surface
    from .molecules import _rng, points_block

    p, vox = np.asarray(geom.pitch), np.asarray(geom.voxel_nm)
    parts, rows = [], []
    s2 = geom.scale ** 2
    for a, group in enumerate(drawn["cells"]):
        pieces, area_nm2 = [], 0.0
        for cell, body, mask, t in group:
            local, area = _template_surface(bank, t, mask)
            pieces.append((np.asarray(cell) * p, local))
            area_nm2 += area
        area_bio = area_nm2 / 1e6 / s2
        count = int(np.rint(cfg.marker_density_per_um2 * area_bio))
        rng = _rng(seed, GLIA_KEY, a)
        sizes = np.asarray([len(v) for _, v in pieces])
        cum = np.cumsum(sizes)
        flat = rng.integers(0, cum[-1], count)
        piece = np.searchsorted(cum, flat, side="right")
        within = flat - np.concatenate([[0], cum[:-1]])[piece]
        pts = np.asarray([pieces[q][0] + pieces[q][1][w] for q, w in zip(piece, within)], dtype=float).reshape(-1, 3)
        pts = (pts + rng.uniform(0.0, 1.0, (count, 3))) * vox
        parts.append(points_block(pts, cfg.marker_protein, "glia", -1))
        body = next(c for c, b, _, _ in group if b)
        centre = (np.asarray(body) * p + p // 2 + 0.5) * vox / 1000
        x, y, z = drawn["where"][a]
        rows.append({"glia_id": a, "label": n + 1 + a, "cell_class": "astrocyte",
                     "soma_z_um": centre[0], "soma_y_um": centre[1], "soma_x_um": centre[2],
                     "soma_radius_um": float(np.min(geom.pitch_nm / 2 - vox)) / 1000, "cells": len(group),
                     "membrane_area_um2": area_bio, "marker_count": count,
                     "circuit_z_um": z, "circuit_y_um": y, "circuit_x_um": x,
                     "domain_neurons": int(drawn["member"][a].sum())})
    return parts, pd.DataFrame(rows)
