"""Oracle: the input Circuit. Reading a phantom back from its geometry alone gives back
every neuron, synapse partner, contact size (voxel rule), receptor count, connexin count
and channel density of the Circuit, and nothing else touches."""

from __future__ import annotations


import numpy as np
import pytest

from neurophantom.tissue import TissueConfig, grow_tissue
from neurophantom.validate.phantom_check import check_phantom, compare_with_circuit, read_back_circuit

pytestmark = pytest.mark.xdist_group("tissue")


def _assert_exact(phantom, circuit):
    result = check_phantom(phantom, circuit)
    assert result.ok, result.problems
    assert result.numbers["synapse_partners_checked"] == len(circuit.synapses) - len(phantom.metadata["autapse_rows"])
    assert result.numbers["stray_contact_voxels"] == 0
    return result


def test_hand_made_organoid_is_exact(small_phantom, small_circuit):
    result = _assert_exact(small_phantom, small_circuit)
    # Polyadic release sites: one bouton voxel, several partners, all read back.
    syn = small_phantom.synapses
    sizes = syn.groupby("synapse_id").size()
    assert (sizes > 1).any()
    poly = syn[syn["synapse_id"].isin(sizes[sizes > 1].index)]
    assert (poly.groupby("synapse_id")[["bouton_z_vox", "bouton_y_vox", "bouton_x_vox"]].nunique() == 1).all().all()
    assert result.numbers["gap_junctions_checked"] == len(small_circuit.gap_junctions) > 0


def test_organoid_source_is_exact(organoid_circuit):
    phantom = grow_tissue(organoid_circuit, TissueConfig(seed=2))
    _assert_exact(phantom, organoid_circuit)


def test_celegans_subcircuit_is_exact(worm_circuit):
    assert len(worm_circuit.synapses) > 50 and len(worm_circuit.gap_junctions) > 10
    phantom = grow_tissue(worm_circuit, TissueConfig(seed=0))
    assert phantom.metadata["layout"] == "circuit"
    _assert_exact(phantom, worm_circuit)


def test_contact_area_follows_the_voxel_rule(small_phantom, small_circuit):
    """Rendered contact = rint(area * scale^2 / face area) voxel faces per face, so the
    area error is at most half a voxel face per contact face (or the 1-voxel floor)."""
    syn = small_phantom.synapses
    vs = small_phantom.voxel_size_nm
    s2 = small_phantom.metadata["geometry_scale"] ** 2
    face = np.asarray([vs[1] * vs[2], vs[0] * vs[2], vs[0] * vs[1]])[syn["contact_axis"].to_numpy()] / 1e6
    err = np.abs(syn["rendered_contact_area_um2"].to_numpy() - s2 * syn["contact_area_um2"].to_numpy())
    tol = syn["contact_faces"].to_numpy() * face / 2 + (syn["contact_voxels"].to_numpy() == syn["contact_faces"].to_numpy()) * face
    assert np.all(err <= tol + 1e-12)


def test_check_catches_a_wrong_phantom(small_phantom, small_circuit):
    """The check is not a tautology: tampered phantoms fail it, each for its reason."""
    # 1. Two neurons' labels swapped in the table: partners no longer match.
    nrn = small_phantom.neurons.copy()
    lab = nrn["label"].to_numpy().copy()
    lab[[0, 1]] = lab[[1, 0]]
    nrn["label"] = lab
    syn = small_phantom.synapses.copy()
    for col, lcol in (("pre", "pre_label"), ("post", "post_label")):
        syn[lcol] = nrn.set_index("neuron_id").loc[syn[col], "label"].to_numpy()
    gap = small_phantom.gap_junctions.copy()
    for col, lcol in (("a", "a_label"), ("b", "b_label")):
        gap[lcol] = nrn.set_index("neuron_id").loc[gap[col], "label"].to_numpy()
    swapped = small_phantom.replace(neurons=nrn, synapses=syn, gap_junctions=gap)
    assert not check_phantom(swapped, small_circuit, connectivity=False).ok
    # 2. One receptor molecule removed: its synapse's count is off by one.
    mol = small_phantom.molecules
    drop = int(np.flatnonzero(mol["kind"].astype(str).to_numpy() == "receptor")[0])
    fewer = small_phantom.replace(molecules=mol.drop(index=drop).reset_index(drop=True))
    res = check_phantom(fewer, small_circuit, connectivity=False)
    assert not res.ok and any("receptors" in p for p in res.problems)
    # 3. One extra voxel of another neuron glued onto a soma: a stray contact and a split label.
    vol = np.asarray(small_phantom.labels.compute())
    z, y, x = (int(v) for v in np.argwhere(vol == 1)[0])  # lowest voxel of neuron label 1 (its soma)
    assert vol[z - 1, y, x] == 0
    vol[z - 1, y, x] = 2
    glued = small_phantom.replace(labels=vol)
    res = check_phantom(glued, small_circuit)
    assert not res.ok
    assert res.numbers["stray_contact_voxels"] == 1
    assert any("connected components" in p for p in res.problems)


def test_autapses_are_listed_not_drawn(circuit_factory):
    c = circuit_factory(n=8, n_synapses=10, n_gaps=0, seed=4)
    syn = c.synapses.copy()
    syn.loc[0, "post"] = syn.loc[0, "pre"]
    syn = syn[~syn.duplicated(["synapse_id", "post"])].reset_index(drop=True)
    c = c.replace(synapses=syn)
    phantom = grow_tissue(c, TissueConfig(seed=1))
    assert phantom.metadata["autapse_rows"] == [0]
    assert len(phantom.synapses) == len(c.synapses) - 1
    assert check_phantom(phantom, c).ok


def test_readback_tables_match_counts(small_phantom, small_circuit):
    rb = read_back_circuit(small_phantom, connectivity=False)
    assert set(rb.neurons["neuron_id"]) == set(small_circuit.neuron_ids)
    assert (rb.neurons["voxels"] > 0).all()
    # Receptor totals equal the sum of the rounding rule over all partner rows.
    want = sum(int(np.rint(d * a)) for d, a in zip(small_circuit.synapses["ampa"], small_circuit.synapses["contact_area_um2"]))
    assert int(rb.synapses["ampa"].sum()) == want
    res = compare_with_circuit(rb, small_circuit, small_phantom)
    assert res.ok, res.problems
