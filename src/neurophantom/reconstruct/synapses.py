"""Synapse detection: contact patches, their partners and direction, release sites.

Two neurons touch only where they make a synapse or a gap junction (elsewhere
extracellular space separates them), so every contact between two segments is a
candidate. The steps:

1. **Patches**: contact faces of one pair of segments lying within ``patch_gap_vox``
   voxels of each other form one contact (single linkage, ``scipy.spatial.cKDTree``); its
   size is the number of voxel faces times their area.
2. **Molecules**: receptor and connexin puncta within ``receptor_radius_nm`` of a contact
   face are given to that contact, on the side of the contact plane where they lie.
3. **Kind**: electrical (gap junction) when connexins lie at the contact (on either side:
   the two hemichannels of a junction sit a few nm apart, far below any light
   microscope's resolution even after expansion, so a small plaque's two sides merge
   into one punctum, given to one side; requiring both sides found 0 of the reduced
   worm's 58 junctions, 1-2 connexins per side) and outweigh its receptors, or, for a scan
   without barcodes, when the two neurites are of similar thickness and the arbors
   (step 4) do not show an axon on one side (``gap_junctions`` rule); else chemical.
4. **Direction**: a contact between a neuron's axon and another's dendrite or soma is
   directed axon -> dendrite (:mod:`.arbors`: the thinnest arbor of a segment with a
   soma is its axon; judged over the whole arbor, so robust where the contact's own
   voxels are not). Other contacts: receptors mark the postsynaptic side; without
   receptor labels the thinner side is presynaptic (a bouton on an axon against a
   dendrite; thickness is the largest distance-transform value of each side within
   ``thickness_probe_nm`` of the contact, ``edt``); equal thicknesses are a tie (flagged).
5. **Release sites**: chemical contacts of one presynaptic segment joined by a path
   shorter than ``release_site_path_nm`` inside that segment (6-connected steps from the
   presynaptic contact voxels, a geodesic dilation with ``scipy.ndimage``) form one release
   site: a polyadic synapse, one hyperedge. The path, not the straight distance, tells
   one bouton with partners on opposite faces from two boutons side by side.
"""

from __future__ import annotations

import edt
import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.ndimage import binary_dilation, generate_binary_structure
from scipy.spatial import cKDTree

from ..biophysics import CHANNELS, RECEPTORS
from .arbors import contact_polarity
from .chunks import WorkStore, read_box
from .config import SynapseConfig
from .puncta import SignatureModel

CONNEXIN = "connexin"


def protein_kind(name: str) -> str:
    """``"receptor"``, ``"channel"``, ``"connexin"`` or ``"other"`` from the biophysics library."""
    if name in RECEPTORS:
        return "receptor"
    if name in CHANNELS:
        return "channel"
    return CONNEXIN if name == CONNEXIN else "other"


def _clusters(points: np.ndarray, radius: float, groups: np.ndarray) -> np.ndarray:
    """Single-linkage clusters (0..k-1, numbered by first member) of points within ``radius``
    of each other and in the same group."""
    n = len(points)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    pairs = cKDTree(points).query_pairs(radius, output_type="ndarray") if radius > 0 else np.zeros((0, 2), np.int64)
    pairs = pairs[groups[pairs[:, 0]] == groups[pairs[:, 1]]] if len(pairs) else pairs
    g = coo_matrix((np.ones(len(pairs), np.int8), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    comp = connected_components(g, directed=False)[1]
    first = np.full(comp.max() + 1, n)
    np.minimum.at(first, comp, np.arange(n))
    rank = np.empty_like(first)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[comp]


def _grouped_clusters(points: np.ndarray, radius: float, groups: np.ndarray) -> np.ndarray:
    """:func:`_clusters` one group at a time (bounded memory for large contacts), numbered
    by first member over all points."""
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    comp = np.empty(len(points), dtype=np.int64)
    offset = 0
    for idx in np.split(order, bounds):
        local = _clusters(points[idx], radius, np.zeros(len(idx), np.int64))
        comp[idx] = local + offset
        offset += int(local.max()) + 1
    first = np.full(offset, len(points))
    np.minimum.at(first, comp, np.arange(len(points)))
    rank = np.empty_like(first)
    rank[np.argsort(first, kind="stable")] = np.arange(offset)
    return rank[comp]


def face_geometry(faces: pd.DataFrame, voxel_nm) -> tuple[np.ndarray, np.ndarray]:
    """Face centres (N, 3) in nm (volume frame) and face areas (N,) in nm^2."""
    vs = np.asarray(voxel_nm, dtype=np.float64)
    ax = faces["axis"].to_numpy()
    centre = (faces[["z", "y", "x"]].to_numpy(dtype=np.float64) + 0.5 + 0.5 * np.eye(3)[ax]) * vs
    area = np.array([vs[1] * vs[2], vs[0] * vs[2], vs[0] * vs[1]])[ax]
    return centre, area


def contact_patches(faces: pd.DataFrame, voxel_nm, cfg: SynapseConfig) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per contact patch and the patch of each face (-1: patch too small)."""
    cols = ["patch", "seg_a", "seg_b", "n_faces", "area_nm2", "near_lost", "z_nm", "y_nm", "x_nm"]
    if len(faces) == 0:
        empty = pd.DataFrame({c: np.zeros(0, dtype=np.int64 if c in cols[:4] else (bool if c == "near_lost" else float))
                              for c in cols})
        return empty, np.zeros(0, dtype=np.int64)
    centre, area = face_geometry(faces, voxel_nm)
    a, b = faces["a"].to_numpy(), faces["b"].to_numpy()
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = lo * (int(hi.max()) + 1) + hi
    patch = _grouped_clusters(centre / np.asarray(voxel_nm, dtype=np.float64), cfg.patch_gap_vox, key)
    df = pd.DataFrame({"patch": patch, "seg_a": lo, "seg_b": hi, "n_faces": 1, "area_nm2": area, "near_lost": faces["near_lost"].to_numpy(),
                       "z_nm": centre[:, 0], "y_nm": centre[:, 1], "x_nm": centre[:, 2]})
    g = df.groupby("patch", sort=True)
    out = g.agg(seg_a=("seg_a", "first"), seg_b=("seg_b", "first"), n_faces=("n_faces", "sum"), area_nm2=("area_nm2", "sum"),
                near_lost=("near_lost", "any"), z_nm=("z_nm", "mean"), y_nm=("y_nm", "mean"), x_nm=("x_nm", "mean")).reset_index()
    small = out["n_faces"].to_numpy() < cfg.min_contact_faces
    new = np.full(len(out), -1)
    new[~small] = np.arange(int((~small).sum()))
    out = out[~small].reset_index(drop=True)
    out["patch"] = np.arange(len(out))
    return out, new[patch]


def assign_puncta(puncta: pd.DataFrame, faces: pd.DataFrame, face_patch: np.ndarray, voxel_nm, radius_nm: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Patch (-1: none) of each punctum and the segment on whose side of the contact plane it lies."""
    n = len(puncta)
    patch = np.full(n, -1, dtype=np.int64)
    side = np.zeros(n, dtype=np.int64)  # segment id on the punctum's side
    ok = face_patch >= 0
    if n == 0 or not ok.any():
        return patch, side
    centre, _ = face_geometry(faces, voxel_nm)
    tree = cKDTree(centre[ok])
    idx_ok = np.flatnonzero(ok)
    vs = np.asarray(voxel_nm, dtype=np.float64)
    pos = (puncta[["z", "y", "x"]].to_numpy(dtype=np.float64) + 0.5) * vs
    dist, j = tree.query(pos, distance_upper_bound=radius_nm)
    hit = np.isfinite(dist)
    f = idx_ok[j[hit]]
    patch[hit] = face_patch[f]
    ax = faces["axis"].to_numpy()[f]
    plane = (faces[["z", "y", "x"]].to_numpy()[f, ax] + 1.0) * vs[ax]
    high = pos[hit, ax] >= plane
    side[hit] = np.where(high, faces["b"].to_numpy()[f], faces["a"].to_numpy()[f])
    return patch, side


def thickness(store: WorkStore, patches: pd.DataFrame, voxel_nm, probe_nm: float) -> np.ndarray:
    """(P, 2) thickness (nm) of each patch's two segments: the largest distance to their
    boundary within ``probe_nm`` of the patch centre."""
    vs = np.asarray(voxel_nm, dtype=np.float64)
    r = np.ceil(2 * probe_nm / vs).astype(int)
    out = np.zeros((len(patches), 2))
    for i, row in enumerate(patches.itertuples()):
        c = np.array([row.z_nm, row.y_nm, row.x_nm]) / vs
        lo = np.floor(c).astype(int) - r
        hi = np.floor(c).astype(int) + r + 1
        lab = read_box(store["segmentation"], lo, hi).astype(np.uint32)
        lab[(lab != row.seg_a) & (lab != row.seg_b)] = 0
        dist = edt.edt(lab, anisotropy=tuple(vs), black_border=False)
        grid = np.meshgrid(*[(np.arange(l, h) + 0.5) * v for l, h, v in zip(lo, hi, vs)], indexing="ij")
        near = sum((g - cc * v) ** 2 for g, cc, v in zip(grid, c, vs)) <= probe_nm ** 2
        for k, s in enumerate((row.seg_a, row.seg_b)):
            m = near & (lab == s)
            out[i, k] = float(dist[m].max()) if m.any() else 0.0
    return out


def _pre_voxels(faces: pd.DataFrame, rows: np.ndarray, pre: int) -> np.ndarray:
    """Voxels (N, 3) on the presynaptic side of contact faces ``rows``."""
    vox = faces[["z", "y", "x"]].to_numpy()[rows].copy()
    high = faces["b"].to_numpy()[rows] == pre
    vox[high, faces["axis"].to_numpy()[rows][high]] += 1
    return vox


def _linked(store: WorkStore, pre: int, a: np.ndarray, b: np.ndarray, steps: int) -> bool:
    """Whether voxel sets ``a`` and ``b`` are joined by at most ``steps`` 6-steps inside segment ``pre``."""
    allv = np.concatenate([a, b])
    lo = allv.min(axis=0) - steps
    hi = allv.max(axis=0) + steps + 1
    mask = read_box(store["segmentation"], lo, hi) == pre
    seed = np.zeros(mask.shape, dtype=bool)
    seed[tuple((a - lo).T)] = True
    reach = binary_dilation(seed, structure=generate_binary_structure(3, 1), iterations=steps, mask=mask) if steps else seed
    return bool(reach[tuple((b - lo).T)].any())


def release_sites(patches: pd.DataFrame, chem: np.ndarray, faces: pd.DataFrame, face_patch: np.ndarray, store: WorkStore,
                  voxel_nm, path_nm: float) -> np.ndarray:
    """Release site (0..S-1, numbered by first patch; -1 for gap junctions) of every patch.

    Only patch pairs whose nearest presynaptic voxels lie within ``path_nm`` in a straight
    line (a path inside the neurite is never shorter) are tested, each in a box around the two.
    """
    n = len(patches)
    vs = np.asarray(voxel_nm, dtype=np.float64)
    steps = int(np.floor(path_nm / float(np.mean(vs))))
    pre = patches["pre"].to_numpy()
    order = np.argsort(face_patch, kind="stable")
    starts = np.searchsorted(face_patch[order], np.arange(n + 1))
    edges = []
    for p in np.unique(pre[chem]):
        members = np.flatnonzero(chem & (pre == p))
        if len(members) < 2:
            continue
        vox = [_pre_voxels(faces, order[starts[m]:starts[m + 1]], int(p)) for m in members]
        trees = [cKDTree(v * vs) for v in vox]
        for i in range(len(members)):
            for j in range(i + 1, len(members)):
                # Only voxels within path_nm of the other patch can start or end a short path.
                near_j = np.isfinite(trees[i].query(vox[j] * vs, distance_upper_bound=path_nm)[0])
                if not near_j.any():
                    continue
                near_i = np.isfinite(trees[j].query(vox[i] * vs, distance_upper_bound=path_nm)[0])
                if _linked(store, int(p), vox[i][near_i], vox[j][near_j], steps):
                    edges.append((members[i], members[j]))
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    g = coo_matrix((np.ones(len(e), np.int8), (e[:, 0], e[:, 1])), shape=(n, n))
    comp = connected_components(g, directed=False)[1]
    site = np.full(n, -1, dtype=np.int64)
    if chem.any():
        c = comp[chem]
        _, first = np.unique(c, return_index=True)
        order = np.argsort(first, kind="stable")
        rank = {int(c[first[k]]): r for r, k in enumerate(order)}
        site[chem] = [rank[int(x)] for x in c]
    return site


def _gap_rule(rule: str, model: SignatureModel | None) -> str:
    if rule != "auto":
        return rule
    if model is not None and model.scheme != "tag" and CONNEXIN in model.proteins:
        return "connexin"
    if model is None or model.scheme == "tag":
        return "thickness"
    return "none"


def detect_synapses(faces: pd.DataFrame, puncta: pd.DataFrame, model: SignatureModel | None, store: WorkStore,
                    voxel_nm, cfg: SynapseConfig, segments: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """Contact patches with kind, direction and release site (see module docstring).

    Returns the patch table (``patch, seg_a, seg_b, n_faces, area_nm2, near_lost, z_nm,
    y_nm, x_nm, kind, pre, post, rule, site, thickness_a_nm, thickness_b_nm,
    receptor_a, receptor_b, connexin_a, connexin_b`` and one receptor count column per
    barcoded receptor type) and facts for the record.
    """
    patches, face_patch = contact_patches(faces, voxel_nm, cfg)
    proteins = tuple(model.proteins) if model is not None else ()
    receptors = [p for p in proteins if protein_kind(p) == "receptor"]
    p_patch, p_seg = assign_puncta(puncta, faces, face_patch, voxel_nm, cfg.receptor_radius_nm)
    n = len(patches)
    for col in ("receptor_a", "receptor_b", "connexin_a", "connexin_b", "unknown"):
        patches[col] = 0.0
    for r in receptors:
        patches[r] = 0.0
    hit = p_patch >= 0
    if hit.any():
        rec_mass = puncta[receptors].to_numpy().sum(axis=1) if receptors else np.zeros(len(puncta))
        con_mass = puncta[CONNEXIN].to_numpy() if CONNEXIN in proteins else np.zeros(len(puncta))
        seg_a = patches["seg_a"].to_numpy()
        on_a = np.zeros(len(puncta), dtype=bool)
        on_a[hit] = p_seg[hit] == seg_a[p_patch[hit]]
        for col, mass in (("receptor", rec_mass), ("connexin", con_mass)):
            for side, name in ((on_a, "a"), (~on_a, "b")):
                m = hit & side
                patches[f"{col}_{name}"] = np.bincount(p_patch[m], weights=mass[m], minlength=n)[:n]
        for r in receptors:
            patches[r] = np.bincount(p_patch[hit], weights=puncta[r].to_numpy()[hit], minlength=n)[:n]
        # Undecided puncta at a contact widen its uncertainty (they may be receptors).
        patches["unknown"] = np.bincount(p_patch[hit], weights=puncta["unknown"].to_numpy()[hit], minlength=n)[:n]
    rule = _gap_rule(cfg.gap_junctions, model)
    rec_total = patches["receptor_a"].to_numpy() + patches["receptor_b"].to_numpy()
    a, b = patches["seg_a"].to_numpy(), patches["seg_b"].to_numpy()
    if cfg.arbor_direction and segments is not None and n:
        axon_side, two_sided = contact_polarity(faces, face_patch, n, segments, store, voxel_nm, clearance=cfg.arbor_soma_clearance,
                                                min_voxels=cfg.arbor_min_voxels, one_sided=cfg.arbor_one_sided)
    else:
        axon_side, two_sided = np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=bool)
    # Thickness is measured only where something needs it: the thickness gap rule, or a
    # direction neither the arbors nor the receptors give.
    need = ((rec_total < 0.5) & (axon_side < 0)) | np.full(n, rule == "thickness")
    thick = np.zeros((n, 2))
    if need.any():
        thick[need] = thickness(store, patches[need], voxel_nm, cfg.thickness_probe_nm)
    patches["thickness_a_nm"], patches["thickness_b_nm"] = thick[:, 0], thick[:, 1]
    if rule == "connexin":
        con = patches["connexin_a"].to_numpy() + patches["connexin_b"].to_numpy()
        gap = (con >= 0.5) & (con > rec_total)
    elif rule == "thickness":
        t_lo, t_hi = np.minimum(thick[:, 0], thick[:, 1]), np.maximum(thick[:, 0], thick[:, 1])
        # An axon against a dendrite or soma (both sides classified by the arbors) is a
        # chemical synapse: gap junctions join dendrites, and a thin dendrite can match an
        # axon's calibre. A one-sided arbor call (a dendrite against an unclassified
        # segment) could be such a junction; ``gap_one_sided`` says whether it may be one.
        arbor_chemical = two_sided if cfg.gap_one_sided else axon_side >= 0
        gap = (rec_total < 0.5) & ~arbor_chemical & (t_hi < cfg.gap_thickness_ratio * t_lo)
    else:
        gap = np.zeros(n, dtype=bool)
    by_arbor = (axon_side >= 0) & ~gap
    by_receptor = (rec_total >= 0.5) & ~by_arbor
    receptors_say_b = patches["receptor_b"].to_numpy() >= patches["receptor_a"].to_numpy()
    post_is_b = np.select([by_arbor, by_receptor], [axon_side == a, receptors_say_b], thick[:, 1] > thick[:, 0])
    tie = ~by_arbor & ~by_receptor & (thick[:, 0] == thick[:, 1])
    post_is_b[tie] = True
    # Receptor calls the arbors overrule (the receptor side misread at sub-voxel scale).
    overrides = int((by_arbor & (rec_total >= 0.5) & ((axon_side == a) != receptors_say_b)).sum())
    patches["kind"] = np.where(gap, "gap", "chemical")
    patches["pre"] = np.where(post_is_b, a, b)
    patches["post"] = np.where(post_is_b, b, a)
    patches["rule"] = np.where(gap, rule, np.where(by_arbor, "arbors", np.where(by_receptor, "receptors", np.where(tie, "tie", "thickness"))))
    chem = ~gap
    patches["site"] = release_sites(patches, chem, faces, face_patch, store, voxel_nm, cfg.release_site_path_nm)
    facts = {"contact_patches": int(n), "chemical": int(chem.sum()), "gap_junctions": int(gap.sum()),
             "release_sites": int(patches["site"].max() + 1) if chem.any() else 0, "gap_rule": rule,
             "direction_by_arbors": int((chem & by_arbor).sum()), "direction_arbor_overrides": overrides,
             "direction_by_receptors": int((chem & by_receptor).sum()), "direction_ties": int((chem & tie).sum()),
             "puncta_at_contacts": int(hit.sum()), "puncta": int(len(puncta))}
    if len(puncta) and receptors:
        off = ~hit & (puncta[receptors].to_numpy().sum(axis=1) > 0)
        facts["extrasynaptic_receptor_molecules"] = float(puncta.loc[off, receptors].to_numpy().sum())
    return patches, facts
