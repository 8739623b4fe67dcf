"""Turn a routed lattice into a Phantom: templates, contact boxes, tables, molecules."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._errors import NeurophantomError
from ..types import Circuit
from ..types.phantom import Phantom
from .config import TissueConfig
from .geometry import (AXON, COMPARTMENT_NAMES, DENDRITE, N_FACES, SOMA, Geometry, face_axis, face_sign,
                       neurite_template, patch_mask, soma_radii_nm, soma_template)
from .glia import draw_glia, glia_tables, glia_template
from .layout import SiteMap
from .molecules import (CHANNEL_KEY, CONNEXIN_KEY, RECEPTOR_KEY, _rng, exposed_surface, molecule_frame,
                        patch_points, points_block)
from .render import RenderPlan, label_volume, render_block
from .surface import label_surface_nm2, membrane_area_factor

RULES = {
    "contact_voxels": "max(1, rint(contact_area_um2 * geometry_scale**2 / voxel face area normal to contact_axis))",
    "receptors": "rint(density * contact_area_um2) per receptor type, on the postsynaptic side of the contact",
    "connexins": "rint(connexin_count) hemichannels on each side of the gap-junction contact",
    "channels": "rint(density * specimen_area_um2 * channel_sampling_fraction[type]) per channel type, on soma and dendrite membrane",
    "specimen_area_um2": "membrane_area_factor * surface_area_um2 (every face of the neuron's label, biological um^2)",
    "gap_contact_area_um2": "connexin_count / connexin_density_per_um2",
}


def _unpad(lat, lst, dtype) -> np.ndarray:
    return np.asarray(lst, dtype=dtype).reshape(lat.padded)[1:-1, 1:-1, 1:-1]


class _Bank:
    """Template bank: key -> id, id 0 the empty cell."""

    def __init__(self, geom: Geometry):
        self.geom = geom
        self.keys: dict = {}
        self.arrays = [np.zeros(geom.pitch, dtype=bool)]

    def id(self, key) -> int:
        if key not in self.keys:
            if key[0] == "n":
                arr = neurite_template(self.geom, key[2], key[1])
            elif key[0] == "g":
                arr = glia_template(self.geom, key[1], key[2], key[3])
            else:
                arr = soma_template(self.geom, key[1], key[2], key[3], key[4])
            self.keys[key] = len(self.arrays)
            self.arrays.append(arr)
        return self.keys[key]

    def stacked(self) -> np.ndarray:
        return np.stack(self.arrays).reshape(len(self.arrays), -1)


def _template_grid(grown, bank: _Bank, soma_nm: np.ndarray) -> np.ndarray:
    lat, b = grown.lat, grown.geom.soma_cells
    owner = _unpad(lat, lat.owner, np.int64)
    comp = _unpad(lat, lat.comp, np.int64)
    mask = _unpad(lat, lat.mask, np.int64)
    tid = np.zeros(lat.shape, dtype=np.int32)
    neur = (owner >= 0) & ((comp == AXON) | (comp == DENDRITE))
    codes = comp * 64 + mask
    for code in np.unique(codes[neur]):
        tid[neur & (codes == code)] = bank.id(("n", int(code // 64), int(code % 64)))
    exit_of = {}
    for n, exits in enumerate(lat.exits):
        for c, f in exits:
            if c in lat.exit_used:
                exit_of[lat.coords(c)] = (f, lat.exit_used[c])
    for o, r in zip(grown.block_origin, soma_nm):
        for pos in np.ndindex(b, b, b):
            cell = tuple(int(v) for v in o + np.asarray(pos))
            f, ec = exit_of.get(cell, (-1, 0))
            tid[cell] = bank.id(("s", tuple(int(v) for v in pos), f, ec, float(r)))
    return tid


def _boxes(grown, circuit: Circuit, config: TissueConfig, owner: np.ndarray):
    geom, lat = grown.geom, grown.lat
    p = np.asarray(geom.pitch)
    s2 = config.geometry_scale ** 2
    patches: dict = {}
    lo, hi, axis, label, pid, info = [], [], [], [], [], []
    syn_area = circuit.synapses["contact_area_um2"].to_numpy()
    gap_area = circuit.gap_junctions["connexin_count"].to_numpy() / config.connexin_density_per_um2
    for pl in grown.placed:
        H = np.asarray(lat.coords(pl.host))
        P = np.asarray(lat.coords(pl.partner))
        k, s = face_axis(pl.face), face_sign(pl.face)
        area_bio = syn_area[pl.row] if pl.kind == "synapse" else gap_area[pl.row]
        n = geom.contact_pixels(area_bio * s2, k, pl.n_parts)
        if (k, n) not in patches:
            patches[(k, n)] = (len(patches), patch_mask(geom, k, n))
        c = p[k] // 2
        for cell, near_low in ((H, s < 0), (P, s > 0)):
            a, b = cell * p, (cell + 1) * p
            a, b = a.copy(), b.copy()
            if near_low:
                b[k] = cell[k] * p[k] + c + 1
            else:
                a[k] = cell[k] * p[k] + c
            lo.append(a); hi.append(b); axis.append(k)
            label.append(owner[tuple(cell)] + 1); pid.append(patches[(k, n)][0])
        info.append((pl, H, P, k, s, n, area_bio))
    masks = tuple(m for _, m in sorted(patches.values(), key=lambda t: t[0]))
    arrs = (np.asarray(lo, np.int64).reshape(-1, 3), np.asarray(hi, np.int64).reshape(-1, 3),
            np.asarray(axis, np.int64), np.asarray(label, np.int64), np.asarray(pid, np.int64))
    return arrs, masks, info


def _by_row(info) -> dict:
    rows: dict = {}
    for rec in info:
        rows.setdefault((rec[0].kind, rec[0].row), []).append(rec)
    return rows


def _contact_tables(info, owner: np.ndarray, geom: Geometry, ids: np.ndarray):
    """One record per partner row (a contact split over several faces is summed)."""
    p = np.asarray(geom.pitch)
    vox = np.asarray(geom.voxel_nm)
    syn_rows, gap_rows = [], []
    for (kind, row), faces in _by_row(info).items():
        pl, H, P, k, s, n, area_bio = faces[0]
        centre_vox = P * p + p // 2
        post_vox = centre_vox.copy()
        post_vox[k] = P[k] * p[k] if s > 0 else P[k] * p[k] + p[k] - 1
        centre_um = (centre_vox + 0.5) * vox / 1000.0
        centre_um[k] = (P[k] * p[k] if s > 0 else (P[k] + 1) * p[k]) * vox[k] / 1000.0
        rec = {
            "z_um": centre_um[0], "y_um": centre_um[1], "x_um": centre_um[2],
            "z_vox": post_vox[0], "y_vox": post_vox[1], "x_vox": post_vox[2],
            "contact_axis": k, "contact_faces": len(faces),
            "contact_voxels": sum(f[5] for f in faces),
            "rendered_contact_area_um2": sum(f[5] * geom.face_area_nm2(f[3]) for f in faces) / 1e6,
            "_row": row, "_pre": int(ids[owner[tuple(H)]]), "_post": int(ids[owner[tuple(P)]]),
            "_host": H * p + p // 2,
        }
        (syn_rows if kind == "synapse" else gap_rows).append(rec)
    return syn_rows, gap_rows


def _synapse_table(rows, circuit: Circuit) -> pd.DataFrame:
    rows = sorted(rows, key=lambda r: r["_row"])
    syn = circuit.synapses
    idx = [r["_row"] for r in rows]
    df = pd.DataFrame({
        "synapse_id": syn["synapse_id"].to_numpy()[idx] if rows else np.zeros(0, np.int64),
        "pre": [r["_pre"] for r in rows], "post": [r["_post"] for r in rows],
    })
    for col in ("z_um", "y_um", "x_um", "z_vox", "y_vox", "x_vox", "contact_axis", "contact_faces", "contact_voxels",
                "rendered_contact_area_um2"):
        df[col] = [r[col] for r in rows]
    for j, a in enumerate("zyx"):
        df[f"bouton_{a}_vox"] = [int(r["_host"][j]) for r in rows]
    df["contact_area_um2"] = syn["contact_area_um2"].to_numpy()[idx] if rows else np.zeros(0)
    return df.astype({c: np.int64 for c in df.columns if c.endswith("_vox") or c in ("pre", "post", "contact_axis", "contact_faces", "contact_voxels")})


def _gap_table(rows, circuit: Circuit) -> pd.DataFrame:
    rows = sorted(rows, key=lambda r: r["_row"])
    gj = circuit.gap_junctions
    idx = [r["_row"] for r in rows]
    df = pd.DataFrame({
        "gap_id": np.asarray(idx, np.int64), "a": [r["_pre"] for r in rows], "b": [r["_post"] for r in rows],
    })
    for col in ("z_um", "y_um", "x_um", "z_vox", "y_vox", "x_vox", "contact_axis", "contact_faces", "contact_voxels",
                "rendered_contact_area_um2"):
        df[col] = [r[col] for r in rows]
    for j, a in enumerate("zyx"):
        df[f"a_{a}_vox"] = [int(r["_host"][j]) for r in rows]
    df["connexin_count"] = gj["connexin_count"].to_numpy()[idx] if rows else np.zeros(0)
    return df.astype({c: np.int64 for c in df.columns if c.endswith("_vox") or c in ("a", "b", "contact_axis", "contact_faces", "contact_voxels")})


def _contact_molecules(info, circuit: Circuit, owner: np.ndarray, geom: Geometry, ids: np.ndarray, seed: int) -> list[dict]:
    """Receptors on the postsynaptic side, connexins on both sides (uniform over all faces)."""
    parts = []
    syn = circuit.synapses
    rec = circuit.receptor_types
    dens = syn[list(rec)].to_numpy(dtype=float) if rec else np.zeros((len(syn), 0))
    for (kind, row), faces in sorted(_by_row(info).items()):
        weights = np.asarray([f[5] for f in faces], dtype=float)
        weights /= weights.sum()
        area_bio = faces[0][6]
        if kind == "synapse":
            rng = _rng(seed, RECEPTOR_KEY, row)
            sid = int(syn["synapse_id"].iloc[row])
            jobs = [(r, int(np.rint(dens[row, j] * area_bio)), "partner") for j, r in enumerate(rec)]
        else:
            rng = _rng(seed, CONNEXIN_KEY, row)
            count = int(np.rint(circuit.gap_junctions["connexin_count"].iloc[row]))
            jobs = [("connexin", count, "host"), ("connexin", count, "partner")]
        for protein, count, side in jobs:
            if not count:
                continue
            split = rng.multinomial(count, weights)
            for (pl, H, P, k, s, n, _), m in zip(faces, split):
                if not m:
                    continue
                cell = P if side == "partner" else H
                who = int(ids[owner[tuple(cell)]])
                pts = patch_points(geom, cell, pl.face, n, int(m), side, rng)
                if kind == "synapse":
                    parts.append(points_block(pts, protein, "receptor", who, synapse_id=sid))
                else:
                    parts.append(points_block(pts, protein, "connexin", who, gap_id=row))
    return parts


def _template_surface(bank: _Bank, t: int, mask: int) -> tuple[np.ndarray, float]:
    on = bank.arrays[t]
    region = np.pad(on, 1).astype(np.int8)
    for f in range(N_FACES):
        if mask >> f & 1:
            k = face_axis(f)
            dst = [slice(1, -1)] * 3
            src = [slice(None)] * 3
            dst[k] = -1 if f % 2 else 0
            src[k] = -1 if f % 2 else 0
            region[tuple(dst)] = on[tuple(src)]
    return exposed_surface(region, 1, (slice(1, -1),) * 3, bank.geom)


def _membranes(grown, plan: RenderPlan, bank: _Bank, labels: np.ndarray):
    """Per neuron: list of (voxel origin, local membrane voxels) pieces and total area nm^2."""
    lat, geom = grown.lat, grown.geom
    p = np.asarray(geom.pitch)
    b = geom.soma_cells
    owner = _unpad(lat, lat.owner, np.int64)
    comp = _unpad(lat, lat.comp, np.int64)
    mask = _unpad(lat, lat.mask, np.int64)
    cface = _unpad(lat, lat.cface, np.int64)
    n = len(labels)
    pieces: list[list] = [[] for _ in range(n)]
    area = np.zeros(n)
    cache: dict = {}
    for i, o in enumerate(grown.block_origin):
        lo = o * p - 1
        hi = (o + b) * p + 1
        region = render_block(plan, tuple(lo), tuple(hi))
        vox, a = exposed_surface(region, int(labels[i]), (slice(1, -1),) * 3, geom)
        pieces[i].append((o * p, vox))
        area[i] += a
    for cell in np.argwhere((owner >= 0) & (comp == DENDRITE)):
        cell = tuple(int(v) for v in cell)
        i = int(owner[cell])
        if cface[cell]:
            lo = np.asarray(cell) * p - 1
            region = render_block(plan, tuple(lo), tuple(lo + p + 2))
            vox, a = exposed_surface(region, int(labels[i]), (slice(1, -1),) * 3, geom)
        else:
            key = int(plan.tid[cell])
            if key not in cache:
                cache[key] = _template_surface(bank, key, int(mask[cell]))
            vox, a = cache[key]
        pieces[i].append((np.asarray(cell) * p, vox))
        area[i] += a
    return pieces, area


def channel_sampling_fractions(expected: np.ndarray, budget: int) -> np.ndarray:
    """Per-type sampling fractions ``f_c = min(1, L / expected_c)`` of a molecule budget
    (water-filling): the level ``L`` is the largest with ``sum_c min(expected_c, L) <=
    budget``, so every type keeps ``min(expected_c, L)`` molecules. Abundant types (Na,
    Kdr) are thinned; rare ones (Ca, K(Ca)) keep enough molecules per neuron that their
    counts are not Poisson noise. A budget above the total keeps every molecule.

    A single fraction for all types would leave a type ~1000x rarer than Na with a
    fraction of a molecule per neuron: absent from every scan, hence from every emulation.
    """
    e = np.asarray(expected, dtype=np.float64)
    if e.sum() <= budget:
        return np.ones_like(e)
    order = np.sort(e)
    level, left, n = 0.0, float(budget), e.size
    for k, v in enumerate(order):
        if v * (n - k) <= left:
            left -= v
            continue
        level = left / (n - k)
        break
    f = np.ones_like(e)
    thinned = e > level
    f[thinned] = level / e[thinned]
    return f


def _channel_molecules(circuit: Circuit, pieces, area_bio: np.ndarray, config: TissueConfig, geom: Geometry) -> tuple[list[dict], dict[str, float]]:
    ch = circuit.channel_types
    dens = circuit.neurons[list(ch)].to_numpy(dtype=float) if ch else np.zeros((circuit.n_neurons, 0))
    if np.isnan(dens).any():
        bad = circuit.neurons["name"].iloc[int(np.flatnonzero(np.isnan(dens).any(1))[0])]
        raise NeurophantomError(f"tissue: neuron {bad!r} has unobserved (NaN) channel densities")
    f = channel_sampling_fractions((dens * area_bio[:, None]).sum(axis=0), config.max_channel_molecules)
    vox = np.asarray(geom.voxel_nm)
    parts = []
    ids = circuit.neuron_ids
    for i in range(circuit.n_neurons):
        sizes = np.asarray([len(v) for _, v in pieces[i]])
        if sizes.sum() == 0:
            continue
        rng = _rng(config.seed, CHANNEL_KEY, i)
        cum = np.cumsum(sizes)
        for j, c in enumerate(ch):
            count = int(np.rint(dens[i, j] * area_bio[i] * f[j]))
            if not count:
                continue
            flat = rng.integers(0, cum[-1], count)
            piece = np.searchsorted(cum, flat, side="right")
            within = flat - np.concatenate([[0], cum[:-1]])[piece]
            pts = np.empty((count, 3))
            for q in np.unique(piece):
                sel = piece == q
                origin, local = pieces[i][q]
                pts[sel] = origin + local[within[sel]]
            pts = (pts + rng.uniform(0.0, 1.0, (count, 3))) * vox
            parts.append(points_block(pts, c, "channel", int(ids[i])))
    return parts, {c: float(f[j]) for j, c in enumerate(ch)}


def _skeletons(grown, circuit: Circuit, geom: Geometry, soma_nm: np.ndarray) -> pd.DataFrame:
    lat = grown.lat
    p, vox = np.asarray(geom.pitch), np.asarray(geom.voxel_nm)
    owner = np.asarray(lat.owner)
    comp = np.asarray(lat.comp)
    conn = np.asarray(lat.conn)
    cells = np.flatnonzero((owner >= 0) & conn & ((comp == AXON) | (comp == DENDRITE)))
    exits = np.asarray(sorted(lat.exit_used), dtype=np.int64)
    rows = []
    b = geom.soma_cells
    ids = circuit.neuron_ids
    for i, o in enumerate(grown.block_origin):
        centre = (o * p + (b * p) // 2 + 0.5) * vox / 1000
        rows.append((ids[i], i, -1, -1, *centre, soma_nm[i] / 1000, SOMA))
    for c in np.concatenate([exits, cells]):
        c = int(c)
        n = lat.owner[c]
        centre = (np.asarray(lat.coords(c)) * p + p // 2 + 0.5) * vox / 1000
        kind = lat.exit_used.get(c, lat.comp[c])
        rows.append((ids[n], n, c, lat.parent[c], *centre, geom.radius_nm[kind] / 1000, kind))
    df = pd.DataFrame(rows, columns=["neuron_id", "_n", "_cell", "_parent", "z_um", "y_um", "x_um", "radius_um", "_comp"])
    df = df.sort_values(["_n", "_cell"], kind="stable").reset_index(drop=True)
    df["node_id"] = df.groupby("_n").cumcount().astype(np.int64)
    lookup = {(n, c): k for n, c, k in zip(df["_n"], df["_cell"], df["node_id"])}
    parent = []
    for n, c, par in zip(df["_n"], df["_cell"], df["_parent"]):
        if c == -1:
            parent.append(-1)
        elif par == -1:
            parent.append(0)  # an exit cell hangs off the soma node
        else:
            parent.append(lookup[(n, par)])
    df["parent_id"] = np.asarray(parent, np.int64)
    df["compartment"] = [COMPARTMENT_NAMES[int(k)] for k in df["_comp"]]
    return df[["neuron_id", "node_id", "parent_id", "z_um", "y_um", "x_um", "radius_um", "compartment"]]


def assemble_phantom(circuit: Circuit, config: TissueConfig, grown, site_map: SiteMap, dropped: list[int],
                     *, progress: bool = False) -> Phantom:
    """Build the render plan, tables and molecules of a grown lattice."""
    geom, lat = grown.geom, grown.lat
    if circuit.receptor_types and circuit.synapses[list(circuit.receptor_types)].isna().to_numpy().any():
        raise NeurophantomError("tissue: the circuit has unobserved (NaN) receptor densities")
    owner = _unpad(lat, lat.owner, np.int64)
    n = circuit.n_neurons
    n_glia = config.glia.astrocytes.n_astrocytes if config.glia is not None else 0
    labels = np.arange(1, n + 1, dtype=np.int64)
    dtype = np.dtype(config.label_dtype)
    if n + n_glia >= np.iinfo(dtype).max:
        raise NeurophantomError(f"tissue: {n} neurons and {n_glia} astrocytes do not fit label dtype {dtype}")
    bank = _Bank(geom)
    soma_nm = soma_radii_nm(geom, circuit.neurons["area_um2"].to_numpy(), config.soma_area_exponent)
    tid = _template_grid(grown, bank, soma_nm)
    cell_label = np.where(owner >= 0, owner + 1, 0).astype(dtype)
    glia = None
    if config.glia is not None:
        glia = draw_glia(circuit, config.glia, grown, site_map, bank, tid, cell_label, owner)
    (blo, bhi, bax, blab, bpid), masks, info = _boxes(grown, circuit, config, owner)
    cell_boxes: dict = {}
    for i, cell in enumerate((blo // np.asarray(geom.pitch)).tolist()):
        cell_boxes.setdefault(tuple(cell), []).append(i)
    plan = RenderPlan(geom=geom, shape_cells=lat.shape, tid=tid, cell_label=cell_label, bank=bank.stacked(),
                      box_lo=blo, box_hi=bhi, box_axis=bax, box_label=blab.astype(dtype), box_patch=bpid,
                      patches=masks, dtype=dtype, cell_boxes=cell_boxes)
    ids = circuit.neuron_ids
    syn_rows, gap_rows = _contact_tables(info, owner, geom, ids)
    synapses = _synapse_table(syn_rows, circuit)
    gaps = _gap_table(gap_rows, circuit)
    for df, cols in ((synapses, ("pre", "post")), (gaps, ("a", "b"))):
        for col in cols:
            df[f"{col}_label"] = labels[circuit.index_of(df[col].to_numpy())] if len(df) else np.zeros(0, np.int64)
    pieces, area_nm2 = _membranes(grown, plan, bank, labels)
    s2 = config.geometry_scale ** 2
    area_bio = area_nm2 / 1e6 / s2
    surface_bio = label_surface_nm2(plan.shape, geom.voxel_nm, n + n_glia, chunks=config.chunk_shape,
                                    read_block=lambda lo, hi: render_block(plan, lo, hi))[labels] / 1e6 / s2
    factor = membrane_area_factor(circuit.neurons["area_um2"].to_numpy(), surface_bio, config.membrane_area_factor)
    specimen_area = factor * surface_bio
    parts = _contact_molecules(info, circuit, owner, geom, ids, config.seed)
    ch_parts, f = _channel_molecules(circuit, pieces, specimen_area, config, geom)
    glia_parts, glia_table = glia_tables(glia, config.glia, bank, geom, n, config.seed) if glia else ([], None)
    molecules = molecule_frame(parts + ch_parts + glia_parts)
    p = np.asarray(geom.pitch)
    vox = np.asarray(geom.voxel_nm)
    b = geom.soma_cells
    centres = (grown.block_origin * p + (b * p) // 2 + 0.5) * vox / 1000
    neurons = pd.DataFrame({
        "neuron_id": ids, "label": labels, "name": circuit.neurons["name"].to_numpy(),
        "cell_type": circuit.neurons["cell_type"].to_numpy(),
        "soma_z_um": centres[:, 0], "soma_y_um": centres[:, 1], "soma_x_um": centres[:, 2],
        "soma_radius_um": soma_nm / 1000, "membrane_area_um2": area_bio,
        "surface_area_um2": surface_bio, "specimen_area_um2": specimen_area,
    })
    head = circuit.header()
    provenance = {k: head[k] for k in ("source", "dataset", "seed", "config", "counts", "channel_types", "receptor_types")}
    metadata = {
        "geometry_scale": config.geometry_scale,
        "lattice_pitch_vox": list(geom.pitch),
        "lattice_pitch_nm": [float(v) for v in p * vox],
        "lattice_shape_cells": list(lat.shape),
        "contact_window_vox": [int(v) for v in p // 2 + 1],
        "soma_cells": b,
        "soma_radius_nm": geom.soma_radius_nm,
        "soma_radius_bounds_nm": list(geom.soma_bounds_nm()),
        "soma_area_exponent": config.soma_area_exponent,
        "axon_radius_nm": geom.radius_nm[AXON],
        "dendrite_radius_nm": geom.radius_nm[DENDRITE],
        "soma_gap_cells": grown.frame.gap,
        "border_cells": grown.frame.border,
        "neuropil_cells_z": list(grown.frame.neuropil),
        "routing_attempt": grown.attempt,
        "soma_sheet_sites": list(grown.frame.sheet),
        "layout": site_map.mode,
        "layout_plane_axes": ["zyx"[a] for a in site_map.plane],
        "channel_sampling_fraction": f,
        "membrane_area_factor": factor,
        "connexin_density_per_um2": config.connexin_density_per_um2,
        "channel_types": list(circuit.channel_types),
        "receptor_types": list(circuit.receptor_types),
        "autapse_rows": [int(r) for r in dropped],
        "rules": RULES,
    }
    if glia is not None:
        metadata["glia"] = {"marker_protein": config.glia.marker_protein, "cell_class": "astrocyte",
                            "rule": "rint(marker_density_per_um2 * membrane_area_um2) markers on the astrocyte's membrane voxels"}
    extra = {"glia": glia_table} if glia is not None else {}
    return Phantom(
        labels=label_volume(plan, config.chunk_shape), voxel_size_nm=tuple(vox), neurons=neurons,
        synapses=synapses, gap_junctions=gaps, molecules=molecules, skeletons=_skeletons(grown, circuit, geom, soma_nm),
        provenance=provenance, config=config.model_dump(mode="json", exclude={"glia"} if glia is None else None),
        seed=config.seed, metadata=metadata, **extra,
    )
