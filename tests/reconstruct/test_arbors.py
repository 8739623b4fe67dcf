"""Synapse direction from arbor polarity, on drawn geometry whose answer is known.

Oracle: the drawing. Two neurons, each a spherical soma with a thin axon and a thicker
dendrite, touch where one's axon meets the other's dendrite; a neurite fragment without a
soma touches a dendrite elsewhere. The axon's side must be called presynaptic; the
fragment's contact is left undecided by the two-sided rule and called from the dendrite's
side (the fragment presynaptic) by the one-sided rule. A neuron whose axon loops back to
touch its own dendrite has a single arbor around its soma (no classes): its contact on
another neuron's dendrite is directed by that dendrite alone.
"""

import numpy as np

from neurophantom.reconstruct.arbors import contact_polarity
from neurophantom.reconstruct.chunks import Grid, WorkStore
from neurophantom.reconstruct.contacts import scan_contacts

VOXEL_NM = (40.0, 40.0, 40.0)


def _ball(vol, centre, r, label):
    g = np.ogrid[tuple(slice(0, n) for n in vol.shape)]
    vol[sum((a - c) ** 2 for a, c in zip(g, centre)) <= r * r] = label


def _tube_x(vol, z, y, x0, x1, r, label):
    g = np.ogrid[tuple(slice(0, n) for n in vol.shape[:2])]
    disk = (g[0] - z) ** 2 + (g[1] - y) ** 2 <= r * r
    vol[:, :, x0:x1][disk] = label


def _tube_y(vol, z, x, y0, y1, r, label):
    zz, xx = np.ogrid[0:vol.shape[0], 0:vol.shape[2]]
    disk = (zz - z) ** 2 + (xx - x) ** 2 <= r * r
    for y in range(y0, y1):
        vol[:, y, :][disk] = label


def _contacts(seg, lo_patch: dict[int, int]):
    """The reconstruction's own contact scan of ``seg`` (faces, segment boxes, its store)
    and each face's patch: ``lo_patch`` maps a pair key ``10 * low + high`` to a patch."""
    grid = Grid(seg.shape, (32, 32, 32))
    store = WorkStore(grid)
    store.array("segmentation", np.uint32)[:] = seg
    store.array("lost", np.uint8)
    cs = scan_contacts(grid, store, int(seg.max()), 0)
    f = cs.faces
    pair = np.minimum(f["a"], f["b"]) * 10 + np.maximum(f["a"], f["b"])
    return cs, store, np.array([lo_patch.get(int(k), -1) for k in pair]), set(np.unique(pair))


def _drawing():
    seg = np.zeros((40, 70, 130), np.uint32)
    # Neuron 1: soma at x=15, axon (r=2) along +x to x=110, dendrite (r=4) along +y.
    _tube_x(seg, 20, 12, 15, 110, 2, 1)
    _tube_y(seg, 20, 15, 12, 40, 4, 1)
    _ball(seg, (20, 12, 15), 8, 1)
    # Neuron 2: soma at x=110, y=55; its dendrite (r=4) runs along -y and touches 1's axon.
    _tube_y(seg, 20, 110, 15, 55, 4, 2)
    _tube_x(seg, 20, 55, 110, 128, 2, 2)
    _ball(seg, (20, 55, 110), 8, 2)
    # A fragment (no soma) lying against neuron 1's dendrite.
    _tube_x(seg, 20, 36, 20, 60, 3, 3)
    return seg


def test_axon_side_is_presynaptic_and_fragment_undecided():
    cs, store, face_patch, pairs = _contacts(_drawing(), {12: 0, 13: 1})
    assert pairs == {12, 13}, "the drawing makes exactly two contacts"
    pre_two_sided, _ = contact_polarity(cs.faces, face_patch, 2, cs.segments, store, VOXEL_NM, min_voxels=50, one_sided=False)
    pre, both = contact_polarity(cs.faces, face_patch, 2, cs.segments, store, VOXEL_NM, min_voxels=50)
    store.close()
    assert pre_two_sided[0] == pre[0] == 1  # neuron 1's axon onto neuron 2's dendrite
    assert pre_two_sided[1] == -1  # the fragment has no soma: no polarity of its own
    assert pre[1] == 3  # ... but it touches a dendrite, which receives
    assert both.tolist() == [True, False]  # only the axon-dendrite call classified both sides


def test_a_neuron_touching_itself_is_directed_by_its_partner():
    seg = _drawing()
    seg[seg == 3] = 0
    # Neuron 1's axon turns back (along +y at x=40, then along -x at y=30) onto its own
    # dendrite (x=15): one connected arbor outside the soma, so no arbor classes.
    _tube_y(seg, 20, 40, 12, 31, 2, 1)
    _tube_x(seg, 20, 30, 15, 41, 2, 1)
    cs, store, face_patch, pairs = _contacts(seg, {12: 0})
    assert pairs == {12}
    pre_two_sided, _ = contact_polarity(cs.faces, face_patch, 1, cs.segments, store, VOXEL_NM, min_voxels=50, one_sided=False)
    pre, both = contact_polarity(cs.faces, face_patch, 1, cs.segments, store, VOXEL_NM, min_voxels=50)
    store.close()
    assert not both[0]
    assert pre_two_sided[0] == -1  # the control: neuron 1 alone tells nothing
    assert pre[0] == 1  # neuron 2's dendrite receives: neuron 1 is presynaptic


def test_swapping_calibres_swaps_the_call():
    # The thinnest arbor is the axon: make neuron 2's far process the thinnest one and
    # its contact process thick, then 2's side is no longer axonal.
    seg = _drawing()
    seg[seg == 2] = 0
    _tube_y(seg, 20, 110, 18, 55, 4, 2)
    _tube_x(seg, 20, 55, 110, 128, 1, 2)
    _ball(seg, (20, 55, 110), 8, 2)
    seg[seg == 1] = 0
    _tube_x(seg, 20, 12, 15, 110, 5, 1)  # neuron 1's contact process is now its thickest
    _tube_y(seg, 20, 15, 12, 33, 2, 1)
    _ball(seg, (20, 12, 15), 9, 1)
    cs, store, face_patch, _ = _contacts(seg, {12: 0})
    # The two-sided rule alone (neuron 2's one-voxel process is under min_voxels, so the
    # one-sided rule would call neuron 1's dendrite postsynaptic: tested above).
    pre, _ = contact_polarity(cs.faces, face_patch, 1, cs.segments, store, VOXEL_NM, min_voxels=50, one_sided=False)
    store.close()
    assert pre[0] == -1  # dendrite against dendrite: neither side is an axon


def test_a_one_sided_call_and_the_thickness_gap_rule():
    """Without barcodes, a contact of two neurites of equal calibre is electrical unless
    the arbors show an axon. The fragment (drawn as thick as the dendrite it touches) is
    classified from the dendrite's side only: with ``gap_one_sided`` that call leaves the
    junction possible (the control); without it, the call makes the contact chemical,
    directed from the fragment. The two-sided axon-dendrite contact is chemical either way."""
    import pandas as pd

    from neurophantom.reconstruct.config import SynapseConfig
    from neurophantom.reconstruct.synapses import detect_synapses

    seg = _drawing()
    seg[seg == 3] = 0
    _tube_x(seg, 20, 36, 20, 60, 4, 3)  # as thick as neuron 1's dendrite (r=4)
    cs, store, _, pairs = _contacts(seg, {})
    assert pairs == {12, 13}
    puncta = pd.DataFrame({c: np.zeros(0) for c in ("z", "y", "x", "segment", "unknown")})
    kinds = {}
    for flag in (True, False):
        cfg = SynapseConfig(gap_junctions="thickness", arbor_min_voxels=50, gap_one_sided=flag)
        patches, _ = detect_synapses(cs.faces, puncta, None, store, VOXEL_NM, cfg, cs.segments)
        by_pair = {(int(r.seg_a), int(r.seg_b)): r for r in patches.itertuples()}
        kinds[flag] = {k: (r.kind, int(r.pre)) for k, r in by_pair.items()}
    store.close()
    assert kinds[True][(1, 3)][0] == "gap"  # control: equal calibres, one side unknown
    assert kinds[False][(1, 3)] == ("chemical", 3)  # the fragment sends onto the dendrite
    assert kinds[True][(1, 2)] == kinds[False][(1, 2)] == ("chemical", 1)
