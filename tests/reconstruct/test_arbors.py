"""Synapse direction from arbor polarity, on drawn geometry whose answer is known.

Oracle: the drawing. Two neurons, each a spherical soma with a thin axon and a thicker
dendrite, touch where one's axon meets the other's dendrite; a neurite fragment without a
soma touches a dendrite elsewhere. The axon's side must be called presynaptic, the
fragment's contact left undecided.
"""

import numpy as np
import pandas as pd

from neurophantom.reconstruct.arbors import contact_polarity

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


def _faces(seg):
    rows = []
    for k in range(3):
        a = np.moveaxis(seg, k, 0)[:-1]
        b = np.moveaxis(seg, k, 0)[1:]
        hit = (a != b) & (a > 0) & (b > 0)
        idx = np.argwhere(hit)
        zyx = np.zeros_like(idx)
        order = [k] + [d for d in range(3) if d != k]
        for j, d in enumerate(order):
            zyx[:, d] = idx[:, j]
        rows.append(pd.DataFrame({"a": a[hit], "b": b[hit], "axis": k, "z": zyx[:, 0], "y": zyx[:, 1], "x": zyx[:, 2]}))
    return pd.concat(rows, ignore_index=True)


def _segments(seg):
    out = {}
    for s in np.unique(seg[seg > 0]):
        idx = np.argwhere(seg == s)
        lo, hi = idx.min(0), idx.max(0) + 1
        out[int(s)] = dict(z0=lo[0], y0=lo[1], x0=lo[2], z1=hi[0], y1=hi[1], x1=hi[2])
    return pd.DataFrame.from_dict(out, orient="index")


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
    seg = _drawing()
    faces = _faces(seg)
    pair = np.where(faces["a"] < faces["b"], faces["a"] * 10 + faces["b"], faces["b"] * 10 + faces["a"])
    keys = {12: 0, 13: 1}
    assert set(np.unique(pair)) == {12, 13}, "the drawing makes exactly two contacts"
    face_patch = np.array([keys[int(p)] for p in pair])
    pre = contact_polarity(faces, face_patch, 2, _segments(seg), {"segmentation": seg}, VOXEL_NM, min_voxels=50)
    assert pre[0] == 1  # neuron 1's axon onto neuron 2's dendrite
    assert pre[1] == -1  # the fragment has no soma: no polarity


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
    faces = _faces(seg)
    pair = np.where(faces["a"] < faces["b"], faces["a"] * 10 + faces["b"], faces["b"] * 10 + faces["a"])
    face_patch = np.where(pair == 12, 0, -1)
    pre = contact_polarity(faces, face_patch, 1, _segments(seg), {"segmentation": seg}, VOXEL_NM, min_voxels=50)
    assert pre[0] == -1  # dendrite against dendrite: neither side is an axon
