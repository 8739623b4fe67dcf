"""Oracle: independent computations of every metric on tiny inputs (scikit-image, brute
force over voxel pairs and permutations) and the contracts a metric must keep (a
comparison with itself is perfect; a pure split has no merge error and precision 1)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from skimage.metrics import adapted_rand_error, variation_of_information

from neurophantom.validate.connectome import edge_scores, match_points, synapse_scores, truth_edges
from neurophantom.validate.match import _maps, truth_block
from neurophantom.validate.molecules import accuracy, confusion, detection, site_confusion
from neurophantom.validate.segmentation import adapted_rand, run_lengths, splits_and_merges, variation_of_information as vi


def _table(truth: np.ndarray, seg: np.ndarray) -> pd.DataFrame:
    """Contingency table as :func:`neurophantom.validate.match.overlap` builds it (label = id here)."""
    t, s = truth.ravel().astype(np.int64), seg.ravel().astype(np.int64)
    key, n = np.unique(t * 1000 + s, return_counts=True)
    lab = key // 1000
    return pd.DataFrame({"label": lab, "truth": np.where(lab > 0, lab, -1), "segment": key % 1000, "voxels": n})


def _volumes(seed: int):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 4, size=(5, 6, 7))
    seg = np.where(rng.random(truth.shape) < 0.7, truth, rng.integers(0, 5, size=truth.shape))
    return truth, seg


@pytest.mark.parametrize("seed", range(5))
def test_vi_and_adapted_rand_agree_with_scikit_image(seed):
    truth, seg = _volumes(seed)
    split, merge = vi(_table(truth, seg))
    ref = variation_of_information(truth, seg, ignore_labels=[0])
    # scikit-image reports bits (log base 2); ours are nats.
    assert (split, merge) == pytest.approx(tuple(np.asarray(ref) * np.log(2.0)), abs=1e-12)
    err, precision, recall = adapted_rand(_table(truth, seg))
    ref_err, ref_p, ref_r = adapted_rand_error(truth, seg, ignore_labels=[0])
    assert err == pytest.approx(ref_err, abs=1e-12)
    # scikit-image issue 6485: its "precision" and "recall" are the other way round.
    assert (precision, recall) == pytest.approx((ref_r, ref_p), abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_adapted_rand_matches_a_brute_force_pair_count(seed):
    truth, seg = _volumes(seed)
    keep = truth.ravel() > 0
    t, s = truth.ravel()[keep], seg.ravel()[keep]
    same_t = same_s = both = 0
    for i, j in itertools.combinations(range(t.size), 2):
        same_t += t[i] == t[j]
        same_s += s[i] == s[j]
        both += (t[i] == t[j]) and (s[i] == s[j])
    _, precision, recall = adapted_rand(_table(truth, seg))
    assert precision == pytest.approx(both / same_s) and recall == pytest.approx(both / same_t)


def test_self_comparison_is_perfect_and_a_pure_split_is_only_a_split():
    truth, _ = _volumes(7)
    assert vi(_table(truth, truth)) == (0.0, 0.0)
    assert adapted_rand(_table(truth, truth)) == (0.0, 1.0, 1.0)
    split_seg = truth.copy()
    split_seg[(truth == 2) & (np.arange(truth.shape[2]) < 3)] = 9  # cut neuron 2 in two
    s, m = vi(_table(truth, split_seg))
    err, precision, recall = adapted_rand(_table(truth, split_seg))
    assert s > 0.05 and m == 0.0
    assert precision == 1.0 and recall < 1.0 and err > 0
    assert splits_and_merges(_table(truth, split_seg), 0.05) == ([2], [])
    merged = np.where(truth == 3, 1, truth)
    assert splits_and_merges(_table(truth, merged), 0.05) == ([], [1])
    s2, m2 = vi(_table(truth, merged))
    assert s2 == 0.0 and m2 > 0.05


def test_neuron_maps_follow_overlap():
    truth = np.zeros((2, 2, 10), np.int64)
    truth[..., :6] = 1
    truth[..., 6:] = 2
    seg = np.zeros_like(truth)
    seg[..., :3], seg[..., 3:6], seg[..., 6:] = 5, 6, 7
    seg[0, 0, 9] = 6  # a stray voxel: segment 6 stays mostly neuron 1
    to_truth, one_to_one = _maps(_table(truth, seg), 0.5)
    assert to_truth == {5: 1, 6: 1, 7: 2}
    assert one_to_one == {5: 1, 7: 2} or one_to_one == {6: 1, 7: 2}
    assert one_to_one[7] == 2 and len(one_to_one) == 2


def test_truth_is_sampled_at_scan_voxel_centres():
    class P:  # the two attributes truth_block reads, on a 10 nm grid
        voxel_size_nm = (10.0, 10.0, 10.0)
        labels = None
        shape = (4, 4, 8)

    import dask.array as da

    lab = np.arange(4 * 4 * 8, dtype=np.uint32).reshape(P.shape)
    P.labels = da.from_array(lab, chunks=3)
    # 20 nm scan voxels starting 10 nm into the specimen: centres at 20, 40, 60, 80 nm ->
    # phantom indices 2, 4, 6, 8; beyond the phantom (index >= its shape) the truth is 0.
    got = truth_block(P, (20.0, 20.0, 20.0), (10.0, 10.0, 10.0), (0, 0, 0), (2, 2, 4))
    want = np.zeros((2, 2, 4), np.int64)
    for i, j, k in itertools.product(range(2), range(2), range(4)):
        z, y, x = 2 + 2 * i, 2 + 2 * j, 2 + 2 * k
        if z < 4 and y < 4 and x < 8:
            want[i, j, k] = lab[z, y, x]
    assert np.array_equal(got, want) and got[0, 0, :3].tolist() == [82, 84, 86]


def test_match_points_is_the_optimal_assignment():
    rng = np.random.default_rng(3)
    for _ in range(20):
        a = rng.uniform(0, 10, (4, 3))
        b = rng.uniform(0, 10, (5, 3))
        tol = 6.0
        pairs = match_points(a, b, tol)
        d = np.linalg.norm(a[:, None] - b[None], axis=2)
        best = (0, 0.0)
        for perm in itertools.permutations(range(5), 4):  # brute force: most pairs, then least distance
            ok = [(i, j) for i, j in enumerate(perm) if d[i, j] < tol]
            key = (len(ok), -sum(d[i, j] for i, j in ok))
            best = max(best, key)
        assert len(pairs) == best[0]
        assert -sum(d[i, j] for i, j in pairs) == pytest.approx(best[1])


def test_site_confusion_is_an_exact_transport():
    t = np.array([5.0, 2.0, 0.0])
    r = np.array([3.0, 2.0, 4.0])
    c = site_confusion(t, r)
    assert c[:3].sum(axis=1) == pytest.approx(t) and c[:, :3].sum(axis=0) == pytest.approx(r)
    assert np.trace(c[:3, :3]) == 5.0 and c[0, 2] == 2.0 and c[3, 2] == 2.0
    # Single molecules: the ordinary confusion matrix of calls.
    calls = pd.DataFrame({"a": [1, 0, 0], "b": [0, 1, 0]})
    truth = pd.DataFrame({"a": [1, 1, 0], "b": [0, 0, 1]})
    m = confusion(truth, calls, ["a", "b"])  # rows truth a, b, spurious; columns read a, b, missed
    assert m.tolist() == [[1, 1, 0], [0, 0, 1], [0, 0, 0]]
    assert accuracy(m) == pytest.approx(0.5)  # of the two molecules found, one has its own type
    assert detection(m) == pytest.approx((2 / 3, 1.0))
    assert accuracy(confusion(truth, truth, ["a", "b"])) == 1.0


def test_edges_and_synapses_compared_with_themselves_are_perfect(organoid12):
    te = truth_edges(organoid12)
    e = edge_scores(te, te)
    assert e["edge_precision"] == e["edge_recall"] == e["edge_f1"] == 1.0
    assert e["weight_correlation"] == pytest.approx(1.0)
    syn = organoid12.synapses
    rows = pd.DataFrame({"site": syn["synapse_id"], "pre": syn["pre"], "post": syn["post"],
                         "z_nm": syn["z_um"] * 1000, "y_nm": syn["y_um"] * 1000, "x_nm": syn["x_um"] * 1000,
                         "area_nm2": syn["rendered_contact_area_um2"] * 1e6})
    ident = {int(i): int(i) for i in organoid12.neurons["neuron_id"]}
    s, _ = synapse_scores(syn, rows, ident, 100.0)
    assert s["precision"] == s["recall"] == s["partner_f1"] == s["pre_correct"] == 1.0
    assert s["sites_exact_fraction"] == 1.0 and s["contact_area_relative_error_median"] == 0.0
    # A reversed edge is a wrong edge.
    flipped = te.rename(columns={"pre": "post", "post": "pre"})
    assert edge_scores(te, flipped)["edge_precision"] < 1.0


def test_run_length_on_a_toy_skeleton():
    sk = pd.DataFrame({"neuron_id": [7] * 4, "node_id": [0, 1, 2, 3], "parent_id": [-1, 0, 1, 2],
                       "z_um": 0.0, "y_um": 0.0, "x_um": [0.0, 1.0, 2.0, 3.0], "radius_um": 0.1, "compartment": "axon"})
    table, erl = run_lengths(sk, np.array([4, 4, 9, 9]), {4: 7}, set())
    assert table.loc[0, "skeleton_um"] == 3.0 and table.loc[0, "run_um"] == 1.0
    assert erl == pytest.approx(1.0 / 3.0)
    table, erl = run_lengths(sk, np.array([4, 4, 4, 4]), {4: 7}, {4})  # a merged segment earns nothing
    assert table.loc[0, "run_um"] == 0.0 and erl == 0.0
