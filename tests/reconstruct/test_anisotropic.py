"""Oracle: exact geometry on an anisotropic grid. Boxes outlined by a one-voxel membrane,
imaged with voxels of 80 x 40 x 20 nm (z, y, x): the recovered neurons sit at the boxes'
centres in um, their surfaces are the boxes' surfaces in um^2, and the contact between two
touching boxes is found with its true area. Axis order and units are checked at once."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.segmentation import find_boundaries

from neurophantom.reconstruct import ReconstructConfig, reconstruct
from neurophantom.types.scan import ChannelInfo, Scan

VOX = (80.0, 40.0, 20.0)
SHAPE = (20, 30, 60)
BOXES = {1: ((3, 4, 6), (11, 14, 30)), 2: ((3, 14, 6), (11, 26, 30)), 3: ((12, 6, 34), (18, 20, 56))}


def _scan() -> tuple[Scan, np.ndarray]:
    lab = np.zeros(SHAPE, np.uint32)
    for k, (lo, hi) in BOXES.items():
        lab[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = k
    memb = find_boundaries(lab, connectivity=1, mode="inner") & (lab > 0)
    img = (5.0 + 200.0 * memb).astype(np.float32)[None]
    s = Scan(images=img, channels=(ChannelInfo("membrane", "membrane"),), voxel_size_nm=VOX, instrument="em",
             config={"derived": {"membrane_contrast": "bright"}}, instrument_seconds=1.0, origin_nm=(1000.0, 0.0, 500.0))
    return s, lab


def test_positions_areas_and_contacts_in_physical_units():
    scan, lab = _scan()
    rec = reconstruct(scan, ReconstructConfig(chunk_vox=(16, 16, 32), morphology={"skeletons": False},
                                              synapses={"gap_junctions": "none"}))
    seg = np.asarray(rec.segmentation.compute())
    assert np.array_equal(seg > 0, lab > 0)
    n = rec.circuit.neurons.set_index("id")
    assert len(n) == 3
    vs = np.asarray(VOX)
    for k, (lo, hi) in BOXES.items():
        sid = int(np.bincount(seg[lab == k]).argmax())
        assert (seg[lab == k] == sid).all()
        size = (np.asarray(hi) - np.asarray(lo)) * vs  # nm
        # The soma is the deepest voxel: within half a box of the centre along each axis, in the specimen frame.
        centre_um = (np.asarray(scan.origin_nm) + (np.asarray(lo) + np.asarray(hi)) / 2 * vs) / 1000.0
        got = n.loc[sid, ["z_um", "y_um", "x_um"]].to_numpy(dtype=float)
        assert np.all(np.abs(got - centre_um) <= size / 2000.0)
        # Surface = the box's six faces (exposed plus contact faces), in um^2.
        area = 2 * (size[0] * size[1] + size[0] * size[2] + size[1] * size[2]) / 1e6
        assert n.loc[sid, "area_um2"] == pytest.approx(area, rel=1e-9)
    # Boxes 1 and 2 touch across a y-face of 8 x 24 voxels (80 x 20 nm each).
    c = rec.contacts
    assert len(c) == 1
    assert c["area_nm2"].iloc[0] == pytest.approx(8 * 24 * 80.0 * 20.0)
    assert c["y_nm"].iloc[0] == pytest.approx(14 * 40.0)


def test_a_scan_without_cells_gives_an_empty_circuit_and_a_flat_one_an_error(tmp_path):
    from neurophantom import NeurophantomError
    from neurophantom.reconstruct import Reconstruction

    img = np.full((1, 12, 12, 12), 5.0, np.float32)
    img[0, 3, 3, 3] = 50.0  # a speck of stain, nothing enclosed
    s = Scan(images=img, channels=(ChannelInfo("membrane", "membrane"),), voxel_size_nm=VOX, instrument="em", config={},
             instrument_seconds=1.0)
    rec = reconstruct(s)
    assert rec.circuit.n_neurons == 0 and rec.circuit.n_synapses == 0
    back = Reconstruction.load(rec.save(tmp_path / "empty"))
    assert back.circuit.n_neurons == 0 and int(back.segmentation.max().compute()) == 0
    flat = Scan(images=np.full((1, 12, 12, 12), 5.0, np.float32), channels=s.channels, voxel_size_nm=VOX, instrument="em",
                config={}, instrument_seconds=1.0)
    with pytest.raises(NeurophantomError, match="flat"):
        reconstruct(flat)
