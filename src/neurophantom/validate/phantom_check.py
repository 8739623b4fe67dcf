"""Exactness check of a Phantom: read the Circuit back from its geometry, compare with the truth.

:func:`read_back_circuit` looks only at the label volume and the molecule positions
(plus where each release site and gap junction was drawn, to know where to look):

- at every release site it counts, in a window around the bouton voxel (the host cell
  and a one-voxel rim), the voxel faces where the bouton's label meets another label:
  the touching labels are the postsynaptic partners, the face count is the contact size;
- every receptor molecule's voxel must carry a label and touch another label; it is
  assigned to the nearest drawn contact between those two labels; likewise connexins;
- every channel molecule must lie in a membrane voxel (one 6-neighbour is 0) of a label;
- over the whole volume, voxel faces between two different labels are counted, so a
  contact drawn anywhere else (two neurons touching by accident) shows up as stray;
- optionally (small volumes) each label must be one 6-connected component (cc3d).

:func:`compare_with_circuit` then holds the read-back tables against the Circuit with
the documented rounding rules of ``neurophantom.tissue`` (contact pixels
``max(1, rint(area * scale**2 / face area))`` per contact face, receptors
``rint(density * area)``, connexins ``rint(count)`` per side, channels
``rint(density * specimen_area * sampling_fraction[type])``): equality of integers, not
tolerance bands. Soma positions are not compared (the layout compresses distances); each
neuron's rendered surface (voxel faces of its label) is recounted from the stored volume
and must equal the phantom's ``surface_area_um2``.

:func:`channel_totals_agreement` is the one-world check: the ground truth's simulated
Model (built from :func:`neurophantom.tissue.specimen_circuit`) and the phantom must hold
the same channels, neuron by neuron (Model conductance / unitary conductance against
molecule count / sampling fraction).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from .._errors import NeurophantomError
from ..types import Circuit
from ..tissue.surface import label_surface_nm2
from ..types.phantom import Phantom

_MAX_CONNECTIVITY_VOXELS = 2 ** 27


@dataclasses.dataclass(frozen=True)
class PhantomReadback:
    """Circuit-like tables read from a Phantom's geometry.

    ``neurons``: neuron_id, label, name, cell_type, voxels, components (-1 when not
    computed), membrane_area_um2 and one channel *count* column per channel type.
    ``synapses``: one row per (release site, touching label): synapse_id, pre, post,
    contact_voxels, contact_voxels_<axis> (z, y, x), and one receptor count column per type.
    ``gap_junctions``: gap_id, a, b, contact_voxels, connexins_a, connexins_b.
    ``stray_contact_voxels``: faces between different labels outside every drawn contact.
    ``misplaced``: molecules not on the membrane they claim (counted by kind).
    """

    neurons: pd.DataFrame
    synapses: pd.DataFrame
    gap_junctions: pd.DataFrame
    stray_contact_voxels: int
    total_contact_voxels: int
    misplaced: dict
    channel_sampling_fraction: dict[str, float]


@dataclasses.dataclass(frozen=True)
class PhantomCheck:
    """Result of :func:`check_phantom`: ``ok`` iff ``problems`` is empty."""

    ok: bool
    problems: list
    numbers: dict


# ----------------------------------------------------------------------------- scanning
def _pairs_in_window(win: np.ndarray, label: int, core: tuple[slice, ...]) -> dict:
    """{(other label, axis): faces} between ``label`` voxels inside ``core`` and other labels."""
    inside = np.zeros(win.shape, bool)
    inside[core] = True
    mine = (win == label) & inside
    out: dict = {}
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis] = slice(None, -1)
        hi[axis] = slice(1, None)
        a, b = win[tuple(lo)], win[tuple(hi)]
        ma, mb = mine[tuple(lo)], mine[tuple(hi)]
        others = np.concatenate([b[ma & (b != 0) & (b != label)], a[mb & (a != 0) & (a != label)]])
        for v, n in zip(*np.unique(others, return_counts=True)):
            out[(int(v), axis)] = out.get((int(v), axis), 0) + int(n)
    return out


def _scan_block(block, lo, core_lo, core_hi, sites, points, half):
    """Per-chunk work: contact windows, stray faces, molecule neighbourhoods, label sizes."""
    lo = np.asarray(lo)
    rel_lo, rel_hi = np.asarray(core_lo) - lo, np.asarray(core_hi) - lo
    core = tuple(slice(a, b) for a, b in zip(rel_lo, rel_hi))
    total = 0
    for axis in range(3):
        sl_a = list(core)
        sl_b = list(core)
        stop = min(rel_hi[axis] + 1, block.shape[axis])
        sl_a[axis] = slice(rel_lo[axis], stop - 1)
        sl_b[axis] = slice(rel_lo[axis] + 1, stop)
        a, b = block[tuple(sl_a)], block[tuple(sl_b)]
        total += int(np.count_nonzero((a != b) & (a != 0) & (b != 0)))
    windows = []
    for kind, key, vox in sites:
        v = np.asarray(vox) - lo
        w_lo = np.maximum(v - half, 0)
        w_hi = np.minimum(v + half + 1, block.shape)
        win = block[w_lo[0]:w_hi[0], w_lo[1]:w_hi[1], w_lo[2]:w_hi[2]]
        c = tuple(slice(max(v[a] - half[a] + 1, 0) - w_lo[a], min(v[a] + half[a], block.shape[a]) - w_lo[a]) for a in range(3))
        label = int(block[tuple(v)])
        windows.append((kind, key, label, _pairs_in_window(win, label, c)))
    own = nb = None
    if len(points):
        p = points - lo
        own = block[p[:, 0], p[:, 1], p[:, 2]]
        nb = np.empty((len(p), 6), dtype=block.dtype)
        for k, (axis, d) in enumerate(((0, -1), (0, 1), (1, -1), (1, 1), (2, -1), (2, 1))):
            q = p.copy()
            q[:, axis] += d
            ok = (q[:, axis] >= 0) & (q[:, axis] < block.shape[axis])
            vals = np.zeros(len(p), dtype=block.dtype)
            vals[ok] = block[q[ok, 0], q[ok, 1], q[ok, 2]]
            nb[:, k] = vals
    cblock = block[core]
    labs, counts = np.unique(cblock[cblock != 0], return_counts=True)
    return total, windows, own, nb, dict(zip(labs.tolist(), counts.tolist()))


def _even_chunks(chunks: tuple, minimum: int) -> tuple:
    """Merge a trailing chunk smaller than ``minimum`` into its neighbour."""
    chunks = list(chunks)
    while len(chunks) > 1 and chunks[-1] < minimum:
        chunks[-2] += chunks.pop()
    return tuple(chunks)


def _scan_all(phantom: Phantom, sites: list, points: np.ndarray, half: np.ndarray) -> list:
    """Run :func:`_scan_block` on every chunk with a halo (``map_overlap``, one render per chunk)."""
    depth = tuple(int(d) for d in half + 1)
    labels = phantom.labels
    labels = labels.rechunk(tuple(_even_chunks(c, d) for c, d in zip(labels.chunks, depth)))
    bounds = [np.cumsum((0,) + c) for c in labels.chunks]
    site_vox = np.asarray([s[2] for s in sites], dtype=np.int64).reshape(-1, 3)
    site_blk = np.stack([np.searchsorted(bounds[a], site_vox[:, a], side="right") - 1 for a in range(3)], 1)
    pt_blk = np.stack([np.searchsorted(bounds[a], points[:, a], side="right") - 1 for a in range(3)], 1)
    site_groups = pd.Series(range(len(sites)), dtype=np.int64).groupby([site_blk[:, 0], site_blk[:, 1], site_blk[:, 2]]).apply(list).to_dict() if len(sites) else {}
    pt_groups = pd.Series(range(len(points)), dtype=np.int64).groupby([pt_blk[:, 0], pt_blk[:, 1], pt_blk[:, 2]]).apply(list).to_dict() if len(points) else {}

    def work(block, block_id=None):
        idx = tuple(block_id)
        core_lo = np.asarray([bounds[a][idx[a]] for a in range(3)])
        core_hi = np.asarray([bounds[a][idx[a] + 1] for a in range(3)])
        lo = np.maximum(core_lo - np.asarray(depth), 0)
        in_p = np.asarray(pt_groups.get(idx, []), dtype=np.int64)
        res = _scan_block(block, lo, core_lo, core_hi, [sites[i] for i in site_groups.get(idx, [])], points[in_p], half)
        out = np.empty((1, 1, 1), dtype=object)
        out[0, 0, 0] = (res, in_p)
        return out

    res = labels.map_overlap(work, depth=depth, boundary="none", trim=False, dtype=object,
                             chunks=((1,) * labels.numblocks[0], (1,) * labels.numblocks[1], (1,) * labels.numblocks[2]),
                             meta=np.empty((0, 0, 0), dtype=object))
    return list(res.compute().ravel())


def _components(phantom: Phantom) -> dict | None:
    if phantom.n_voxels > _MAX_CONNECTIVITY_VOXELS:
        return None
    import cc3d

    vol = np.asarray(phantom.labels.compute())
    comp = cc3d.connected_components(vol, connectivity=6)
    n = int(comp.max())
    first = np.zeros(n + 1, dtype=np.int64)
    flat_c, flat_v = comp.ravel(), vol.ravel()
    first[flat_c] = flat_v  # any voxel of a component gives its label
    labs, counts = np.unique(first[1:], return_counts=True)
    return dict(zip(labs.tolist(), counts.tolist()))


# ----------------------------------------------------------------------------- read-back
def read_back_circuit(phantom: Phantom, *, connectivity: bool = True) -> PhantomReadback:
    """Read neurons, synapse partners, contact sizes and molecule counts from geometry.

    Parameters
    ----------
    phantom : Phantom
    connectivity : bool
        Also count 6-connected components per label (volumes up to 2**27 voxels).
    """
    if not isinstance(phantom, Phantom):
        raise NeurophantomError(f"phantom check: expected a Phantom, got {type(phantom).__name__}")
    vs = np.asarray(phantom.voxel_size_nm)
    half = np.asarray(phantom.metadata.get("contact_window_vox", [1, 1, 1]), dtype=np.int64)
    syn, gap, mol = phantom.synapses, phantom.gap_junctions, phantom.molecules
    first = syn.groupby("synapse_id", sort=True).first() if len(syn) else syn
    sites = [("synapse", int(sid), tuple(int(v) for v in r)) for sid, r in
             zip(first.index, first[["bouton_z_vox", "bouton_y_vox", "bouton_x_vox"]].to_numpy())] if len(syn) else []
    sites += [("gap", int(g), tuple(int(v) for v in r)) for g, r in
              zip(gap["gap_id"], gap[["a_z_vox", "a_y_vox", "a_x_vox"]].to_numpy())]
    points = np.floor(mol[["z_nm", "y_nm", "x_nm"]].to_numpy() / vs).astype(np.int64)
    results = _scan_all(phantom, sites, points, half)
    own = np.zeros(len(mol), dtype=np.int64)
    nb = np.zeros((len(mol), 6), dtype=np.int64)
    total = 0
    windows = []
    voxels: dict = {}
    for (t, w, o, n, v), idx in results:
        total += t
        windows.extend(w)
        if o is not None:
            own[idx] = o
            nb[idx] = n
        for k, c in v.items():
            voxels[k] = voxels.get(k, 0) + c
    comps = _components(phantom) if connectivity else None
    return _tables(phantom, windows, own, nb, total, voxels, comps)


def _tables(phantom, windows, own, nb, total, voxels, comps) -> PhantomReadback:
    nrn, mol = phantom.neurons, phantom.molecules
    id_of = dict(zip(nrn["label"].tolist(), nrn["neuron_id"].tolist()))
    syn_rows, gap_rows = [], []
    in_windows = 0
    for kind, key, label, pairs in windows:
        by_label: dict = {}
        for (other, axis), n in pairs.items():
            by_label.setdefault(other, [0, 0, 0])[axis] += n
            in_windows += n
        for other, per_axis in sorted(by_label.items()):
            row = {"key": key, "a": id_of.get(label, -1), "b": id_of.get(other, -1), "contact_voxels": sum(per_axis),
                   "contact_voxels_z": per_axis[0], "contact_voxels_y": per_axis[1], "contact_voxels_x": per_axis[2]}
            (syn_rows if kind == "synapse" else gap_rows).append(row)
    syn = pd.DataFrame(syn_rows, columns=["key", "a", "b", "contact_voxels", "contact_voxels_z", "contact_voxels_y", "contact_voxels_x"])
    syn = syn.rename(columns={"key": "synapse_id", "a": "pre", "b": "post"})
    gap = pd.DataFrame(gap_rows, columns=["key", "a", "b", "contact_voxels", "contact_voxels_z", "contact_voxels_y", "contact_voxels_x"])
    gap = gap.rename(columns={"key": "gap_id"})
    kind = mol["kind"].astype(str).to_numpy()
    protein = mol["protein"].astype(str).to_numpy()
    misplaced = {}
    # Receptors and connexins: on a labelled voxel that touches exactly one other label.
    touching = np.where((nb != 0) & (nb != own[:, None]), nb, 0)
    partner = touching.max(axis=1)
    n_partners = np.asarray([len(set(r[r != 0].tolist())) for r in touching]) if len(mol) else np.zeros(0, int)
    for k in ("receptor", "connexin"):
        sel = kind == k
        misplaced[k] = int(np.count_nonzero(sel & ((own == 0) | (n_partners != 1))))
    sel = kind == "channel"
    on_membrane = (own != 0) & (nb == 0).any(axis=1) & ((touching == 0).all(axis=1))
    misplaced["channel"] = int(np.count_nonzero(sel & ~on_membrane))
    owner_wrong = np.asarray([id_of.get(int(l), -1) for l in own]) != mol["neuron_id"].to_numpy() if len(mol) else np.zeros(0, bool)
    misplaced["owner_mismatch"] = int(np.count_nonzero(owner_wrong))
    syn = _assign_receptors(phantom, syn, mol, own, partner, kind, protein, id_of)
    gap = _assign_connexins(phantom, gap, mol, own, partner, kind, id_of)
    neurons = nrn[["neuron_id", "label", "name", "cell_type", "membrane_area_um2"]].copy()
    neurons["voxels"] = [voxels.get(int(l), 0) for l in neurons["label"]]
    neurons["components"] = [comps.get(int(l), 0) for l in neurons["label"]] if comps is not None else -1
    labs = neurons["label"].to_numpy(dtype=np.int64)
    s2 = float(phantom.metadata.get("geometry_scale", 1.0)) ** 2
    surf = label_surface_nm2(phantom.labels, phantom.voxel_size_nm, int(labs.max()) if labs.size else 0)
    neurons["surface_area_um2"] = surf[labs] / 1e6 / s2 if labs.size else np.zeros(0)
    for c in phantom.metadata.get("channel_types", []):
        m = (kind == "channel") & (protein == c) & on_membrane
        counts = pd.Series(own[m]).value_counts()
        neurons[c] = [int(counts.get(int(l), 0)) for l in neurons["label"]]
    return PhantomReadback(neurons=neurons, synapses=syn, gap_junctions=gap, stray_contact_voxels=int(total - in_windows),
                           total_contact_voxels=int(total), misplaced=misplaced,
                           channel_sampling_fraction=_fractions(phantom.metadata.get("channel_sampling_fraction", 1.0), phantom.metadata.get("channel_types", [])))


def _fractions(recorded, channel_types) -> dict[str, float]:
    """Per-type channel sampling fractions (phantoms from before per-type sampling recorded
    one number for all types)."""
    if isinstance(recorded, dict):
        return {str(k): float(v) for k, v in recorded.items()}
    return {c: float(recorded) for c in channel_types}


def _nearest_contact(table: pd.DataFrame, pos_um: np.ndarray, pair_mol: np.ndarray, pair_tab: np.ndarray) -> np.ndarray:
    """Row of ``table`` with the same (label, label) pair nearest to each molecule (-1 if none)."""
    out = np.full(len(pos_um), -1, dtype=np.int64)
    centres = table[["z_um", "y_um", "x_um"]].to_numpy()
    keys = pd.Series(range(len(pair_tab))).groupby([pair_tab[:, 0], pair_tab[:, 1]]).apply(list).to_dict() if len(pair_tab) else {}
    for (a, b), rows in keys.items():
        m = np.flatnonzero((pair_mol[:, 0] == a) & (pair_mol[:, 1] == b))
        if not len(m):
            continue
        rows = np.asarray(rows)
        d = ((pos_um[m, None, :] - centres[None, rows, :]) ** 2).sum(-1)
        out[m] = rows[np.argmin(d, axis=1)]
    return out


def _assign_receptors(phantom, syn_read, mol, own, partner, kind, protein, id_of):
    tab = phantom.synapses
    sel = np.flatnonzero(kind == "receptor")
    pos = mol[["z_nm", "y_nm", "x_nm"]].to_numpy()[sel] / 1000.0
    pair_mol = np.stack([partner[sel], own[sel]], 1)  # (pre label, post label)
    pair_tab = tab[["pre_label", "post_label"]].to_numpy()
    row = _nearest_contact(tab, pos, pair_mol, pair_tab)
    receptor_types = phantom.metadata.get("receptor_types", [])
    counts = {r: np.zeros(len(tab), dtype=np.int64) for r in receptor_types}
    for r in receptor_types:
        m = (protein[sel] == r) & (row >= 0)
        np.add.at(counts[r], row[m], 1)
    key = {(int(s), int(p)): i for i, (s, p) in enumerate(zip(tab["synapse_id"], tab["post"]))}
    syn_read = syn_read.copy()
    for r in receptor_types:
        syn_read[r] = [int(counts[r][key[(s, p)]]) if (s, p) in key else 0 for s, p in zip(syn_read["synapse_id"], syn_read["post"])]
    return syn_read


def _assign_connexins(phantom, gap_read, mol, own, partner, kind, id_of):
    tab = phantom.gap_junctions
    sel = np.flatnonzero(kind == "connexin")
    pos = mol[["z_nm", "y_nm", "x_nm"]].to_numpy()[sel] / 1000.0
    lo = np.minimum(own[sel], partner[sel])
    hi = np.maximum(own[sel], partner[sel])
    a_lab, b_lab = tab["a_label"].to_numpy(), tab["b_label"].to_numpy()
    row = _nearest_contact(tab, pos, np.stack([lo, hi], 1), np.stack([np.minimum(a_lab, b_lab), np.maximum(a_lab, b_lab)], 1))
    side_a = np.zeros(len(tab), dtype=np.int64)
    side_b = np.zeros(len(tab), dtype=np.int64)
    ok = row >= 0
    is_a = own[sel] == a_lab[np.where(ok, row, 0)]
    np.add.at(side_a, row[ok & is_a], 1)
    np.add.at(side_b, row[ok & ~is_a], 1)
    gid = {int(g): i for i, g in enumerate(tab["gap_id"])}
    gap_read = gap_read.copy()
    gap_read["connexins_a"] = [int(side_a[gid[g]]) if g in gid else 0 for g in gap_read["gap_id"]]
    gap_read["connexins_b"] = [int(side_b[gid[g]]) if g in gid else 0 for g in gap_read["gap_id"]]
    return gap_read


# ----------------------------------------------------------------------------- comparison
def _face_area_nm2(vs, axis):
    a, b = (i for i in range(3) if i != axis)
    return vs[a] * vs[b]


def _contact_ok(per_axis: list[int], area_um2: float, s2: float, vs: np.ndarray, n_faces: int) -> tuple[bool, list[int]]:
    """Does a read contact follow the pixel rule? Each face along axis k holds
    ``max(1, rint(area * s2 / n_faces / face_area_k))`` pixels; the faces add up to ``n_faces``."""
    expect = [max(1, int(np.rint(area_um2 * s2 * 1e6 / n_faces / _face_area_nm2(vs, k)))) for k in range(3)]
    faces = 0
    for n, e in zip(per_axis, expect):
        if n % e:
            return False, expect
        faces += n // e
    return faces == n_faces, expect


def compare_with_circuit(readback: PhantomReadback, circuit: Circuit, phantom: Phantom, *, max_problems: int = 20) -> PhantomCheck:
    """Hold the read-back tables against ``circuit`` (exact integer rules; see module doc)."""
    problems: list[str] = []

    def bad(msg: str) -> None:
        if len(problems) < max_problems:
            problems.append(msg)
        numbers["problems"] += 1

    numbers = {"problems": 0}
    vs = np.asarray(phantom.voxel_size_nm)
    s2 = float(phantom.metadata.get("geometry_scale", 1.0)) ** 2
    nrn = readback.neurons
    truth_ids = set(circuit.neuron_ids.tolist())
    if set(nrn["neuron_id"].tolist()) != truth_ids:
        bad("neuron ids differ from the circuit")
    names = dict(zip(circuit.neurons["id"], circuit.neurons["name"]))
    types = dict(zip(circuit.neurons["id"], circuit.neurons["cell_type"]))
    for i, name, ctype, vox, comp in zip(nrn["neuron_id"], nrn["name"], nrn["cell_type"], nrn["voxels"], nrn["components"]):
        if names.get(i) != name or types.get(i) != ctype:
            bad(f"neuron {i}: name/cell type differ")
        if vox == 0:
            bad(f"neuron {i}: no voxels in the volume")
        if comp != -1 and comp != 1:
            bad(f"neuron {i}: {comp} connected components (expected 1)")
    if "surface_area_um2" in phantom.neurons.columns:
        drawn = dict(zip(phantom.neurons["neuron_id"], phantom.neurons["surface_area_um2"]))
        for i, a in zip(nrn["neuron_id"], nrn["surface_area_um2"]):
            if not np.isclose(a, drawn.get(i, np.nan), rtol=1e-9, atol=0.0):
                bad(f"neuron {i}: surface {a:.6g} um^2 in the volume, {drawn.get(i, np.nan):.6g} recorded")
    # Synapses: partners and contact sizes.
    truth = circuit.synapses
    skip = set(phantom.metadata.get("autapse_rows", []))
    keep = np.asarray([i not in skip for i in range(len(truth))], dtype=bool)
    t = truth[keep]
    read = readback.synapses
    got = {(int(s), int(p)): r for s, p, r in zip(read["synapse_id"], read["post"], range(len(read)))}
    want = {(int(s), int(p)): r for s, p, r in zip(t["synapse_id"], t["post"], range(len(t)))}
    if set(got) != set(want):
        extra, missing = sorted(set(got) - set(want))[:3], sorted(set(want) - set(got))[:3]
        bad(f"synapse partners differ: extra {extra}, missing {missing}")
    pre_read = dict(zip(read["synapse_id"], read["pre"]))
    tab = phantom.synapses.set_index(["synapse_id", "post"])
    area_err = []
    for (sid, post), r in want.items():
        if pre_read.get(sid, None) != int(t["pre"].iloc[r]):
            bad(f"synapse {sid}: presynaptic label reads {pre_read.get(sid)} not {int(t['pre'].iloc[r])}")
            continue
        if (sid, post) not in got:
            continue
        g = read.iloc[got[(sid, post)]]
        per_axis = [g["contact_voxels_z"], g["contact_voxels_y"], g["contact_voxels_x"]]
        area = float(t["contact_area_um2"].iloc[r])
        n_faces = int(tab.loc[(sid, post), "contact_faces"])
        ok, expect = _contact_ok([int(v) for v in per_axis], area, s2, vs, n_faces)
        if not ok:
            bad(f"synapse {sid} -> {post}: contact {per_axis} voxel faces (z, y, x), rule gives {expect} per face x {n_faces}")
        read_area = sum(n * _face_area_nm2(vs, a) for a, n in enumerate(per_axis)) / 1e6 / s2
        area_err.append(abs(read_area - area))
        for rec in circuit.receptor_types:
            want_n = int(np.rint(float(t[rec].iloc[r]) * area))
            if int(g[rec]) != want_n:
                bad(f"synapse {sid} -> {post}: {g[rec]} {rec} receptors, rule gives {want_n}")
    numbers["synapse_partners_checked"] = len(want)
    numbers["max_contact_area_error_um2"] = float(max(area_err, default=0.0))
    # Gap junctions.
    gt = circuit.gap_junctions
    gread = readback.gap_junctions
    gtab = phantom.gap_junctions.set_index("gap_id")
    for gid in range(len(gt)):
        rows = gread[gread["gap_id"] == gid]
        pair = {int(gt["a"].iloc[gid]), int(gt["b"].iloc[gid])}
        if len(rows) != 1 or {int(rows["a"].iloc[0]), int(rows["b"].iloc[0])} != pair:
            bad(f"gap junction {gid}: touching neurons {rows[['a', 'b']].to_numpy().tolist()} not {sorted(pair)}")
            continue
        area = float(gt["connexin_count"].iloc[gid]) / float(phantom.metadata["connexin_density_per_um2"])
        per_axis = [int(rows[f"contact_voxels_{a}"].iloc[0]) for a in "zyx"]
        ok, expect = _contact_ok(per_axis, area, s2, vs, int(gtab.loc[gid, "contact_faces"]))
        if not ok:
            bad(f"gap junction {gid}: contact {per_axis} voxel faces (z, y, x), rule gives {expect} per face")
        n = int(np.rint(float(gt["connexin_count"].iloc[gid])))
        if int(rows["connexins_a"].iloc[0]) != n or int(rows["connexins_b"].iloc[0]) != n:
            bad(f"gap junction {gid}: connexins {int(rows['connexins_a'].iloc[0])}/{int(rows['connexins_b'].iloc[0])}, rule gives {n} per side")
    numbers["gap_junctions_checked"] = len(gt)
    # Channels.
    f = readback.channel_sampling_fraction
    area_col = "specimen_area_um2" if "specimen_area_um2" in phantom.neurons.columns else "membrane_area_um2"
    area = dict(zip(phantom.neurons["neuron_id"], phantom.neurons[area_col]))
    dens = circuit.neurons.set_index("id")
    for ch in circuit.channel_types:
        for i, n in zip(nrn["neuron_id"], nrn[ch]):
            want_n = int(np.rint(float(dens.loc[i, ch]) * area[i] * f.get(ch, 1.0)))
            if int(n) != want_n:
                bad(f"neuron {i}: {n} {ch} channels on its membrane, rule gives {want_n}")
    if readback.stray_contact_voxels:
        bad(f"{readback.stray_contact_voxels} voxel faces where two neurons touch outside every drawn contact")
    for k, n in readback.misplaced.items():
        if n:
            bad(f"{n} {k} molecules off their membrane")
    numbers["stray_contact_voxels"] = readback.stray_contact_voxels
    numbers["total_contact_voxels"] = readback.total_contact_voxels
    return PhantomCheck(ok=not numbers["problems"], problems=problems, numbers=numbers)


def check_phantom(phantom: Phantom, circuit: Circuit, *, connectivity: bool = True) -> PhantomCheck:
    """Read ``phantom`` back from geometry and compare with ``circuit`` (see module doc)."""
    return compare_with_circuit(read_back_circuit(phantom, connectivity=connectivity), circuit, phantom)


def channel_totals_agreement(specimen: Circuit, phantom: Phantom, *, min_molecules: int = 20) -> dict:
    """Per-neuron channel totals of the ground truth's simulated Model against the channel
    molecules the phantom holds (the one-world check).

    The Model is :func:`~neurophantom.biophysics.build_model` of ``specimen`` (the circuit
    the truth simulates); its total of channel type ``c`` on neuron ``i`` is
    ``g_nS[i, c] / g_unit_c``. The phantom's is its molecule count on ``i`` divided by the
    type's sampling fraction. Pairs with fewer than ``min_molecules`` expected molecules
    are left out (rounding dominates them). Returns ``median_abs_log_ratio``, its
    ``max``, the ``n_pairs`` compared and the per-type medians.
    """
    from ..biophysics import biophysics_for, build_model

    model = build_model(specimen)
    bio = biophysics_for(specimen)
    g = np.asarray(model.params["g_nS"], dtype=np.float64)
    meta = phantom.metadata
    frac = meta.get("channel_sampling_fraction", 1.0)
    mol = phantom.molecules
    ch = mol[mol["kind"].astype(str) == "channel"]
    counts = ch.groupby([ch["neuron_id"].to_numpy(), ch["protein"].astype(str).to_numpy()]).size()
    logs, per_type = [], {}
    for j, c in enumerate(model.meta.channels):
        f = float(frac.get(c, 1.0)) if isinstance(frac, dict) else float(frac)
        unit_nS = bio.channel(c).g_unit_pS * 1e-3
        ratios = []
        for k, i in enumerate(specimen.neuron_ids):
            total = g[k, j] / unit_nS
            if total * f < min_molecules:
                continue
            n = float(counts.get((int(i), c), 0))
            ratios.append(np.log(max(n, 0.5) / f / total))
        if ratios:
            per_type[c] = float(np.median(np.abs(ratios)))
            logs += ratios
    a = np.abs(np.asarray(logs))
    return {"median_abs_log_ratio": float(np.median(a)) if a.size else float("nan"),
            "max_abs_log_ratio": float(a.max()) if a.size else float("nan"), "n_pairs": int(a.size), "per_type": per_type}
