"""Oracle: the schema. A Phantom that breaks it cannot be built; the message names the
table, column and row."""

from __future__ import annotations

import numpy as np
import pytest

from neurophantom import ValidationError

pytestmark = pytest.mark.xdist_group("tissue-io")


def test_invalid_phantoms_are_rejected(small_phantom):
    p = small_phantom
    with pytest.raises(ValidationError, match="dtype must be uint32 or uint64"):
        p.replace(labels=np.zeros(p.shape, np.int32))
    with pytest.raises(ValidationError, match="3 axes"):
        p.replace(labels=np.zeros((4, 4), np.uint32))
    with pytest.raises(ValidationError, match="voxel_size_nm"):
        p.replace(voxel_size_nm=(40.0, 0.0, 40.0))
    mol = p.molecules.copy()
    mol.loc[0, "z_nm"] = p.extent_um[0] * 1000 + 1
    with pytest.raises(ValidationError, match=r"table 'molecules'.*outside the volume"):
        p.replace(molecules=mol)
    mol = p.molecules.copy()
    mol["kind"] = mol["kind"].astype(str)
    mol.loc[3, "kind"] = "glia"
    with pytest.raises(ValidationError, match=r"unknown kind 'glia'.*|row 3"):
        p.replace(molecules=mol)
    syn = p.synapses.copy()
    syn.loc[2, "post_label"] = syn.loc[2, "post_label"] + 1 if syn.loc[2, "post_label"] < len(p.neurons) else 1
    with pytest.raises(ValidationError, match=r"synapses', column 'post_label', row 2"):
        p.replace(synapses=syn)
    with pytest.raises(ValidationError, match="missing column"):
        p.replace(synapses=p.synapses.drop(columns=["contact_voxels"]))
    with pytest.raises(ValidationError, match="provenance"):
        p.replace(provenance={"bad": float("nan")})


def test_summary_and_header(small_phantom, small_circuit):
    s = small_phantom.summary()
    assert s["neurons"] == small_circuit.n_neurons
    assert s["synapse_partners"] == small_circuit.n_synapse_partners
    h = small_phantom.header()
    assert h["axes"] == ["z", "y", "x"] and h["voxel_size_nm"] == [40.0, 40.0, 40.0]
    assert sum(s["molecules"].values()) == len(small_phantom.molecules)
