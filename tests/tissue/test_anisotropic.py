"""Oracle: physical lengths. With z != y != x voxels the phantom keeps shapes in nm (a
soma is as wide along z as along x), contact sizes use the face area of their own axis,
and the exactness check still holds."""

from __future__ import annotations

import numpy as np
import pytest

from neurophantom.tissue import TissueConfig, grow_tissue
from neurophantom.validate.phantom_check import check_phantom, read_back_circuit

pytestmark = pytest.mark.xdist_group("tissue-io")

VOXEL = (60.0, 30.0, 45.0)


@pytest.fixture(scope="module")
def aniso(small_circuit):
    return grow_tissue(small_circuit, TissueConfig(seed=5, voxel_size_nm=VOXEL))


def test_anisotropic_phantom_is_exact(aniso, small_circuit):
    assert aniso.voxel_size_nm == VOXEL
    pitch_nm = np.asarray(aniso.metadata["lattice_pitch_nm"])
    # One lattice pitch in nm on every axis, up to the odd-voxel rounding (< 2 voxels).
    assert np.all(pitch_nm - 2 * np.asarray(VOXEL) < pitch_nm.min())
    result = check_phantom(aniso, small_circuit)
    assert result.ok, result.problems


def test_soma_is_round_in_nm(aniso):
    """Chords of a soma along z, y and x at the same physical offset from its centre have
    the analytic length 2 sqrt(R^2 - d^2) to within one voxel of that axis."""
    vol = np.asarray(aniso.labels.compute())
    vs = np.asarray(VOXEL)
    soma = aniso.skeletons[aniso.skeletons["compartment"].astype(str) == "soma"]
    checked = 0
    for _, row in soma.head(4).iterrows():
        nrn = aniso.neurons.set_index("neuron_id").loc[row["neuron_id"]]
        label, R = int(nrn["label"]), float(nrn["soma_radius_um"]) * 1000
        assert R == pytest.approx(row["radius_um"] * 1000)
        c = np.floor(np.asarray([row["z_um"], row["y_um"], row["x_um"]]) * 1000 / vs).astype(int)
        for axis in range(3):
            lat = (axis + 1) % 3  # offset the chord sideways, away from the exit cables
            k = int(round(0.5 * R / vs[lat]))
            d = k * vs[lat]
            idx = list(c)
            idx[lat] += k
            reach = int(np.ceil(R / vs[axis])) + 1  # stay inside the soma block
            idx[axis] = slice(c[axis] - reach, c[axis] + reach + 1)
            chord = (vol[tuple(idx)] == label).sum() * vs[axis]
            assert abs(chord - 2 * np.sqrt(R ** 2 - d ** 2)) <= vs[axis] + 1e-9, (axis, chord)
            checked += 1
    assert checked == 12


def test_contact_area_uses_the_face_of_its_axis(aniso):
    rb = read_back_circuit(aniso, connectivity=False)
    face = np.asarray([VOXEL[1] * VOXEL[2], VOXEL[0] * VOXEL[2], VOXEL[0] * VOXEL[1]]) / 1e6
    read = rb.synapses.set_index(["synapse_id", "post"])
    tab = aniso.synapses.set_index(["synapse_id", "post"])
    per_axis = read.loc[tab.index, ["contact_voxels_z", "contact_voxels_y", "contact_voxels_x"]].to_numpy()
    assert np.allclose(per_axis @ face, tab["rendered_contact_area_um2"].to_numpy())
    assert (per_axis > 0).sum(axis=0).min() > 0  # contacts normal to every axis occur
