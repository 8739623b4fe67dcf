"""Matching a reconstruction to the ground truth by voxel overlap.

The truth's label volume is sampled on the reconstruction's voxel grid (the phantom
voxel holding each scan voxel's centre; the scan's ``origin_nm`` places it), chunk by
chunk, and one pass accumulates

- the contingency table ``n[t, r]`` (voxels with truth label ``t`` and segment ``r``;
  truth background included as ``t = 0``),
- per truth neuron, its voxel faces toward another label or background (its membrane
  area seen on this grid, measured as the reconstruction measures its segments),

from which the neuron maps follow:

- :attr:`Overlap.segment_to_truth` (many to one): each segment to the truth neuron that
  holds most of its voxels, if that is at least ``min_fraction`` of them (else -1);
  used to map synapse partners and connectome edges;
- :attr:`Overlap.neuron_map` (one to one): each truth neuron to the largest segment
  mapped to it: the map to compare activity neuron by neuron.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd

from .._errors import NeurophantomError


@dataclasses.dataclass(frozen=True)
class Overlap:
    """Contingency table and neuron maps (ids are truth neuron ids and segment ids)."""

    table: pd.DataFrame  # label (truth label, 0 = background), truth (neuron id, -1 = background), segment, voxels
    truth_area_nm2: pd.Series  # neuron id -> membrane area seen on the grid (nm^2)
    segment_to_truth: dict
    neuron_map: dict

    def map_segments(self, seg: np.ndarray) -> np.ndarray:
        """Truth neuron id of each segment id (-1 when unmatched)."""
        return np.array([self.segment_to_truth.get(int(s), -1) for s in np.ravel(seg)], dtype=np.int64).reshape(np.shape(seg))


def check_frames(record: dict, phantom) -> None:
    """Raise when the reconstruction was not imaged from this phantom's geometry."""
    prov = record.get("scan", {}).get("provenance", {}) or {}
    vs = prov.get("phantom_voxel_size_nm")
    if vs is not None and not np.allclose(vs, phantom.voxel_size_nm, rtol=1e-9):
        raise NeurophantomError(f"mismatched voxel sizes: the reconstruction was imaged from a phantom of {list(vs)} nm voxels, "
                                f"the truth has {list(phantom.voxel_size_nm)} nm")
    shape = prov.get("phantom_shape")
    if shape is not None and list(shape) != list(phantom.shape):
        raise NeurophantomError(f"mismatched volumes: the reconstruction was imaged from a phantom of shape {list(shape)}, "
                                f"the truth has shape {list(phantom.shape)}")
    seed = prov.get("phantom_seed")
    if seed is not None and int(seed) != int(phantom.seed):
        raise NeurophantomError(f"the reconstruction was imaged from a phantom with seed {seed}, the truth has seed {phantom.seed}")


def truth_block(phantom, voxel_nm, origin_nm, lo, hi, *, keep_glia: bool = False) -> np.ndarray:
    """Truth neuron labels (phantom label values) at the centres of scan voxels ``lo..hi``
    (glia cells read as background 0 unless ``keep_glia``)."""
    vp = np.asarray(phantom.voxel_size_nm, dtype=np.float64)
    idx = []
    for a in range(3):
        c = origin_nm[a] + (np.arange(lo[a], hi[a], dtype=np.float64) + 0.5) * voxel_nm[a]
        idx.append(np.floor(c / vp[a]).astype(np.int64))
    inside = [(i >= 0) & (i < n) for i, n in zip(idx, phantom.shape)]
    out = np.zeros(tuple(h - l for l, h in zip(lo, hi)), dtype=np.int64)
    if not all(m.any() for m in inside):
        return out
    first = [int(i[m].min()) for i, m in zip(idx, inside)]
    last = [int(i[m].max()) + 1 for i, m in zip(idx, inside)]
    src = np.asarray(phantom.labels[first[0]:last[0], first[1]:last[1], first[2]:last[2]].compute(scheduler="synchronous"))
    sub = src[np.ix_(*(np.clip(i, f, l - 1) - f for i, f, l in zip(idx, first, last)))].astype(np.int64)
    mask = inside[0][:, None, None] & inside[1][None, :, None] & inside[2][None, None, :]
    out[mask] = sub[mask]
    glia = getattr(phantom, "glia", None)
    if glia is not None and len(glia) and not keep_glia:
        # Glia are no neurons: their voxels are scored as background (left out of VOI and
        # Rand, CREMI's convention), so a segment on an astrocyte is neither a split nor a merge.
        out[np.isin(out, glia["label"].to_numpy())] = 0
    return out


def glia_scores(segmentation, voxel_nm, origin_nm, phantom, called_ids, *, chunk=(128, 128, 128)) -> dict:
    """How the reconstruction's glia calls (segment ids ``called_ids``) match the phantom's
    astrocytes. A call is correct when the largest share of its cell voxels (truth label > 0)
    lies in an astrocyte; an astrocyte is found when it is that share of a correct call, and "taken for a
    neuron" when the segment holding most of it is not called glia. One pass over the
    volume, only when either side has glia."""
    glia = getattr(phantom, "glia", None)
    labels = np.asarray(glia["label"], dtype=np.int64) if glia is not None and len(glia) else np.zeros(0, np.int64)
    called = np.asarray(sorted(int(v) for v in called_ids), dtype=np.int64)
    out = {"truth_astrocytes": 0, "called": int(len(called)), "correct_calls": 0, "found": 0, "taken_for_neurons": 0,
           "precision": None, "recall": None}
    if len(labels) == 0 and len(called) == 0:
        return out
    shape = tuple(int(s) for s in segmentation.shape)
    tables = []
    for lo in itertools.product(*(range(0, s, c) for s, c in zip(shape, chunk))):
        hi = tuple(min(s, a + c) for s, a, c in zip(shape, lo, chunk))
        t = truth_block(phantom, voxel_nm, origin_nm, lo, hi, keep_glia=True).ravel()
        r = np.asarray(segmentation[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]).astype(np.int64).ravel()
        m = (t > 0) & (np.isin(t, labels) | np.isin(r, called))
        if m.any():
            u, n = np.unique(np.stack([t[m], r[m]], axis=1), axis=0, return_counts=True)
            tables.append(pd.DataFrame({"label": u[:, 0], "segment": u[:, 1], "voxels": n}))
    tab = pd.concat(tables, ignore_index=True).groupby(["label", "segment"])["voxels"].sum().reset_index() if tables \
        else pd.DataFrame({"label": [], "segment": [], "voxels": []})
    seen = set(tab.loc[tab["label"].isin(labels), "label"].astype(int))
    major_of_call = tab[tab["segment"].isin(called)].sort_values("voxels", ascending=False).drop_duplicates("segment")
    correct = major_of_call[major_of_call["label"].isin(labels)]
    found = set(correct["label"].astype(int))
    holder = tab[tab["label"].isin(labels) & (tab["segment"] > 0)].sort_values("voxels", ascending=False).drop_duplicates("label")
    out.update(truth_astrocytes=len(seen), correct_calls=int(len(correct)), found=len(found),
               taken_for_neurons=int((~holder["segment"].isin(called)).sum()),
               precision=len(correct) / len(called) if len(called) else None,
               recall=len(found) / len(seen) if seen else None)
    return out


def _face_area(lab: np.ndarray, n_core, voxel_nm) -> pd.Series:
    """Membrane area (nm^2) per label: faces of core voxels toward another value (any label or 0)."""
    vs = np.asarray(voxel_nm, dtype=np.float64)
    face = np.array([vs[1] * vs[2], vs[0] * vs[2], vs[0] * vs[1]])
    parts = []
    for k in range(3):
        m = lab.shape[k] - 1
        if m <= 0:
            continue
        a = [slice(0, n) for n in n_core]
        b = list(a)
        a[k] = slice(0, m)
        b[k] = slice(1, m + 1)
        A, B = lab[tuple(a)], lab[tuple(b)]
        d = A != B
        v = np.concatenate([A[d & (A > 0)], B[d & (B > 0)]])
        u, c = np.unique(v, return_counts=True)
        parts.append(pd.Series(c * face[k], index=u))
    return pd.concat(parts).groupby(level=0).sum() if parts else pd.Series(dtype=np.float64)


def overlap(segmentation, voxel_nm, origin_nm, phantom, *, chunk=(128, 128, 128), min_fraction: float = 0.5) -> Overlap:
    """Accumulate the contingency table and face counts chunk by chunk; build the maps."""
    shape = tuple(int(s) for s in segmentation.shape)
    lab_to_id = dict(zip(phantom.neurons["label"].to_numpy().tolist(), phantom.neurons["neuron_id"].to_numpy().tolist()))
    tables, tfaces = [], []
    for idx in itertools.product(*(range(0, s, c) for s, c in zip(shape, chunk))):
        lo = idx
        hi = tuple(min(s, a + c) for s, a, c in zip(shape, lo, chunk))
        hi1 = tuple(min(s, b + 1) for s, b in zip(shape, hi))
        t = truth_block(phantom, voxel_nm, origin_nm, lo, hi1)
        r = np.asarray(segmentation[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]).astype(np.int64)
        core = t[:hi[0] - lo[0], :hi[1] - lo[1], :hi[2] - lo[2]]
        key = core.ravel() * (int(r.max()) + 1) + r.ravel()
        u, n = np.unique(key, return_counts=True)
        tables.append(pd.DataFrame({"t": u // (int(r.max()) + 1), "r": u % (int(r.max()) + 1), "n": n}))
        tfaces.append(_face_area(t, core.shape, voxel_nm))
    tab = pd.concat(tables).groupby(["t", "r"], sort=True)["n"].sum().reset_index()
    unknown = set(tab["t"].unique().tolist()) - set(lab_to_id) - {0}
    if unknown:
        raise NeurophantomError(f"truth label volume holds labels {sorted(unknown)[:5]} missing from the neuron table")
    # Neuron ids may be 0, so the table keeps the truth *label* (0 = background) beside the id.
    tab = tab.rename(columns={"t": "label", "r": "segment", "n": "voxels"})
    tab["truth"] = tab["label"].map(lambda v: lab_to_id.get(int(v), -1)).astype(np.int64)
    tab = tab[["label", "truth", "segment", "voxels"]]
    area = pd.concat(tfaces).groupby(level=0).sum() if tfaces else pd.Series(dtype=np.float64)
    area.index = [lab_to_id[int(v)] for v in area.index]
    seg_to_truth, neuron_map = _maps(tab, min_fraction)
    return Overlap(tab, area, seg_to_truth, neuron_map)


def _maps(tab: pd.DataFrame, min_fraction: float) -> tuple[dict, dict]:
    seg = tab[tab["segment"] > 0]
    total = seg.groupby("segment")["voxels"].sum()
    fg = seg[seg["label"] > 0].sort_values(["segment", "voxels", "truth"], ascending=[True, False, True], kind="stable")
    best = fg.drop_duplicates("segment").set_index("segment")
    frac = best["voxels"] / total.reindex(best.index)
    ok = best[frac >= min_fraction]
    seg_to_truth = {int(s): int(t) for s, t in ok["truth"].items()}
    mapped = ok.reset_index().sort_values(["truth", "voxels", "segment"], ascending=[True, False, True], kind="stable")
    neuron_map = {int(r.segment): int(r.truth) for r in mapped.drop_duplicates("truth").itertuples()}
    return seg_to_truth, neuron_map
