"""A scan of part of a specimen is scored on that part: truth synapses outside the scanned
box are neither matched nor missed (before, recall counted every synapse of the whole
phantom, so a sub-region scored near 0 however good its reconstruction was)."""

from __future__ import annotations

import numpy as np

from neurophantom.instruments.static import scan
from neurophantom.reconstruct import ReconstructConfig, reconstruct
from neurophantom.validate.scores import score


def test_sub_region_scores_count_only_what_was_scanned(kit, organoid20, clean_score):
    shape = organoid20.shape
    lo, hi = (0, 0, 0), (shape[0], shape[1] // 2, shape[2])  # half the specimen, cut through the neuropil
    s = scan(organoid20, kit.exm(**kit.NOISE_FREE), seed=3, region=(lo, hi))  # membranes only: contacts are geometry
    part = score(reconstruct(s, ReconstructConfig(geometry_scale=kit.GEOMETRY_SCALE)), organoid20)
    # The truth rows counted are exactly those whose contact centre lies in the box (own count here).
    vs = np.asarray(organoid20.voxel_size_nm)
    pos = organoid20.synapses[["z_um", "y_um", "x_um"]].to_numpy() * 1000.0
    inside = np.all((pos >= np.asarray(lo) * vs) & (pos < np.asarray(hi) * vs), axis=1)
    assert 0 < inside.sum() < len(inside)
    syn = part.synapses
    assert syn["n_truth"] == int(inside.sum())
    assert part.inputs["truth_synapse_rows_outside_scan"] == int((~inside).sum())
    # Judged on its part, the cut scan recovers synapses about as well as the whole scan
    # (a cut through the neuropil splits neurites at the box's faces, so a little worse).
    full = clean_score.synapses["recall"]
    assert syn["recall"] > 0.8 * full and syn["recall"] > 0.5, (syn["recall"], full)
    # Against the whole phantom's rows it would have scored at most inside/total.
    assert syn["matched"] / len(inside) < syn["recall"]
    assert part.connectome["edges_truth"] < clean_score.connectome["edges_truth"]
