"""Segmentation scores from the contingency table: variation of information, adapted Rand
error, splits and merges, skeleton run length.

Voxels whose truth is background are left out (the convention of CREMI and of
``skimage.metrics`` with ``ignore_labels=[0]`` on the truth); a truth voxel the
reconstruction left as background counts as a segment of its own (label 0).

- Variation of information (Meila 2003), in nats: ``voi_split = H(R | T)`` (the truth
  neuron is cut into several segments) and ``voi_merge = H(T | R)`` (a segment spans
  several neurons).
- Adapted Rand error (Arganda-Carreras et al. 2015): with ``n_ij`` voxels of neuron ``i``
  in segment ``j``, ``precision = sum n_ij^2 / sum_j b_j^2`` (pairs of voxels put together
  by the reconstruction that belong together: 1 for a pure split) and ``recall = sum
  n_ij^2 / sum_i a_i^2``; error = 1 - F1. (scikit-image's ``adapted_rand_error`` returns
  these two the other way round, scikit-image issue 6485; the error is the same.)
- Run length: each truth skeleton edge whose two nodes fall in the segment matched to
  its neuron (one-to-one map) is reconstructed; a merged segment (holding more than
  ``split_fraction`` of another neuron) reconstructs nothing. Per neuron: skeleton
  length, reconstructed length, longest run; over all: the expected run length
  ``ERL = sum_runs L^2 / sum_neurons L`` (Januszewski et al. 2018).

References
----------
Meila M (2003) Comparing clusterings by the variation of information. COLT, 173-187.
Arganda-Carreras I et al. (2015) Crowdsourcing the creation of image segmentation
algorithms for connectomics. Front Neuroanat 9:142.
Januszewski M et al. (2018) High-precision automated reconstruction of neurons with
flood-filling networks. Nat Methods 15:605-610.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def _fg(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["label"] > 0]


def variation_of_information(table: pd.DataFrame) -> tuple[float, float]:
    """(split, merge) = (H(R|T), H(T|R)) in nats over truth-foreground voxels."""
    t = _fg(table)
    n = t["voxels"].to_numpy(dtype=np.float64)
    if n.sum() == 0:
        return 0.0, 0.0
    p = n / n.sum()
    pt = t.groupby("truth")["voxels"].transform("sum").to_numpy() / n.sum()
    pr = t.groupby("segment")["voxels"].transform("sum").to_numpy() / n.sum()
    split = float(-np.sum(p * np.log(p / pt)))
    merge = float(-np.sum(p * np.log(p / pr)))
    return max(split, 0.0), max(merge, 0.0)


def adapted_rand(table: pd.DataFrame) -> tuple[float, float, float]:
    """(error, precision, recall) of the adapted Rand index over truth-foreground voxels."""
    t = _fg(table)
    n = t["voxels"].to_numpy(dtype=np.float64)
    total = n.sum()
    if total == 0:
        return 0.0, 1.0, 1.0
    a = t.groupby("truth")["voxels"].sum().to_numpy(dtype=np.float64)
    b = t.groupby("segment")["voxels"].sum().to_numpy(dtype=np.float64)
    both = n @ n - total
    sa = a @ a - total
    sb = b @ b - total
    precision = both / sb if sb > 0 else 1.0
    recall = both / sa if sa > 0 else 1.0
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return float(1.0 - f), float(precision), float(recall)


def splits_and_merges(table: pd.DataFrame, fraction: float) -> tuple[list[int], list[int]]:
    """Truth neurons cut into >= 2 segments each holding > ``fraction`` of them, and
    segments holding > ``fraction`` of each of >= 2 neurons (their own foreground voxels)."""
    t = _fg(table)
    t = t[t["segment"] > 0]
    of_truth = t["voxels"] / t.groupby("truth")["voxels"].transform("sum")
    of_seg = t["voxels"] / t.groupby("segment")["voxels"].transform("sum")
    split = t[of_truth > fraction].groupby("truth")["segment"].nunique()
    merge = t[of_seg > fraction].groupby("segment")["truth"].nunique()
    return sorted(int(i) for i in split[split >= 2].index), sorted(int(i) for i in merge[merge >= 2].index)


def run_lengths(skeletons: pd.DataFrame, node_segment: np.ndarray, neuron_map: dict, merged: set) -> tuple[pd.DataFrame, float]:
    """Per-neuron skeleton and reconstructed run lengths (um) and the expected run length.

    ``node_segment[i]`` is the segment at skeleton node ``i`` (row order of ``skeletons``).
    """
    sk = skeletons.reset_index(drop=True)
    own = {t: s for s, t in neuron_map.items() if s not in merged}
    row_of = {(int(n), int(i)): k for k, (n, i) in enumerate(zip(sk["neuron_id"], sk["node_id"]))}
    child = np.flatnonzero(sk["parent_id"].to_numpy() >= 0)
    parent = np.array([row_of[(int(sk["neuron_id"].iat[k]), int(sk["parent_id"].iat[k]))] for k in child], dtype=np.int64)
    xyz = sk[["z_um", "y_um", "x_um"]].to_numpy(dtype=np.float64)
    length = np.linalg.norm(xyz[child] - xyz[parent], axis=1)
    nid = sk["neuron_id"].to_numpy()[child]
    target = np.array([own.get(int(n), -1) for n in nid], dtype=np.int64)
    good = (node_segment[child] == target) & (node_segment[parent] == target) & (target > 0)
    n_nodes = len(sk)
    g = coo_matrix((np.ones(int(good.sum()), np.int8), (child[good], parent[good])), shape=(n_nodes, n_nodes))
    comp = connected_components(g, directed=False)[1] if n_nodes else np.zeros(0, np.int64)
    runs = pd.DataFrame({"comp": comp[child[good]], "len": length[good]}).groupby("comp")["len"].sum()
    run_neuron = pd.Series(nid[good], index=comp[child[good]]).groupby(level=0).first()
    per = pd.DataFrame({"neuron_id": nid, "len": length, "good": np.where(good, length, 0.0)}).groupby("neuron_id").sum()
    longest = pd.Series(runs.to_numpy(), index=run_neuron.reindex(runs.index).to_numpy()).groupby(level=0).max() if len(runs) \
        else pd.Series(dtype=float)
    table = pd.DataFrame({"neuron_id": per.index.to_numpy(dtype=np.int64), "skeleton_um": per["len"].to_numpy(),
                          "run_um": per["good"].to_numpy(), "longest_run_um": longest.reindex(per.index, fill_value=0.0).to_numpy()})
    total = float(per["len"].sum())
    erl = float((runs.to_numpy() ** 2).sum() / total) if total > 0 else 0.0
    return table, erl
