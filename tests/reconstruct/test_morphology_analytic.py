"""Oracle: geometry drawn with known answers. A soma (a ball) with three straight
cylindrical neurites in a T (one arm on each side of the soma along x, a side branch
along y from the longer arm) on an anisotropic voxel grid: the morphology stage must
return the soma radius, the cable length, one branch point and three terminals, with
kimimaro's branch repair (``fix_branching``) on or off (off is the default: it skips a
Dijkstra over the bounding box per branch).

Expected cable: the drawn centrelines (9 um along x through the soma, 2.5 um of side
branch; the skeleton reaches the tips within a voxel), within 5%: measured 11.87 um with
the default smoothing (+3%), 13.24 um as the raw voxel polyline (+15%, the control that
the smoothing is needed and that the bar can fail).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurophantom.reconstruct.chunks import Grid, WorkStore
from neurophantom.reconstruct.config import MorphologyConfig
from neurophantom.reconstruct.morphology import morphology

VOXEL_NM = (50.0, 40.0, 40.0)
SOMA_NM = 1000.0
NEURITE_NM = 150.0
ARM_PLUS_X_NM, ARM_MINUS_X_NM = 5000.0, 4000.0  # from the soma centre
BRANCH_AT_X_NM, BRANCH_Y_NM = 2500.0, 2500.0  # side branch along +y from the +x arm


def _drawn() -> tuple[np.ndarray, np.ndarray]:
    """The label volume (one neuron, id 7) and its soma centre (voxel)."""
    vs = np.asarray(VOXEL_NM)
    extent_nm = np.array([2 * SOMA_NM + 600, 2 * SOMA_NM + BRANCH_Y_NM + 600, ARM_PLUS_X_NM + ARM_MINUS_X_NM + 600])
    shape = tuple(int(np.ceil(e / v)) for e, v in zip(extent_nm, vs))
    c = np.array([extent_nm[0] / 2, SOMA_NM + 300, ARM_MINUS_X_NM + 300])  # soma centre, nm
    z, y, x = np.meshgrid(*[(np.arange(n) + 0.5) * v for n, v in zip(shape, vs)], indexing="ij", sparse=True)
    dz, dy, dx = z - c[0], y - c[1], x - c[2]
    soma = dz**2 + dy**2 + dx**2 <= SOMA_NM**2
    arm_x = (dz**2 + dy**2 <= NEURITE_NM**2) & (dx >= -ARM_MINUS_X_NM) & (dx <= ARM_PLUS_X_NM)
    branch = (dz**2 + (dx - BRANCH_AT_X_NM) ** 2 <= NEURITE_NM**2) & (dy >= 0) & (dy <= BRANCH_Y_NM)
    labels = np.where(soma | arm_x | branch, 7, 0).astype(np.uint32)
    return labels, np.floor(c / vs).astype(int)


@pytest.mark.parametrize("fix_branching", [False, True])
def test_soma_cable_and_branches_of_a_drawn_neuron(tmp_path, fix_branching):
    labels, centre = _drawn()
    store = WorkStore(Grid(labels.shape, (64, 64, 64)), tmp_path / "store")
    store.array("segmentation", np.uint32)[...] = labels
    nz = np.argwhere(labels)
    lo, hi = nz.min(axis=0), nz.max(axis=0) + 1
    segments = pd.DataFrame({"z0": [lo[0]], "y0": [lo[1]], "x0": [lo[2]], "z1": [hi[0]], "y1": [hi[1]], "x1": [hi[2]]}, index=[7])
    row = morphology(segments, store, VOXEL_NM, MorphologyConfig(fix_branching=fix_branching)).iloc[0]
    assert row["id"] == 7
    # The deepest point is the soma centre (within a voxel) and its depth the soma radius
    # (within one of the coarsest voxel: the ball is voxelised).
    assert np.abs(np.array([row["soma_z_vox"], row["soma_y_vox"], row["soma_x_vox"]]) - centre).max() <= 1
    assert row["soma_radius_um"] * 1000 == pytest.approx(SOMA_NM, abs=max(VOXEL_NM))
    drawn = ARM_PLUS_X_NM + ARM_MINUS_X_NM + BRANCH_Y_NM
    assert row["cable_length_um"] * 1000 == pytest.approx(drawn, rel=0.05)
    assert row["n_branch_points"] == 1 and row["n_terminals"] == 3
    raw = morphology(segments, store, VOXEL_NM, MorphologyConfig(fix_branching=fix_branching, cable_smoothing_vertices=0)).iloc[0]
    assert raw["cable_length_um"] * 1000 > 1.1 * drawn
    # Radius along the skeleton: the neurites' (most of the cable), not the soma's.
    assert row["median_radius_um"] * 1000 == pytest.approx(NEURITE_NM, rel=0.35)
