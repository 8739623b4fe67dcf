"""Astrocytes in the tissue (issue 19, item 3): labelled bodies with their own membrane
markers, where the ground truth puts them, counted exactly, and nothing changed when off."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurophantom import ValidationError
from neurophantom.sources.hidden import GliaConfig, astrocytes
from neurophantom.tissue import TissueConfig, grow_tissue
from neurophantom.tissue.config import TissueGliaConfig
from neurophantom.tissue.surface import label_surface_nm2
from neurophantom.types.phantom import Phantom
from neurophantom.validate.match import overlap

from .conftest import organoid_like

GLIA = TissueGliaConfig(astrocytes=GliaConfig(n_astrocytes=3, domain_um=200.0), seed=7, marker_density_per_um2=15.0)
BASE = dict(seed=2, max_channel_molecules=2000)
NEURON_TABLES = ("neurons", "synapses", "gap_junctions", "skeletons")


@pytest.fixture(scope="module")
def pair():
    circuit = organoid_like(8, 12, 2, seed=1)
    off = grow_tissue(circuit, TissueConfig(**BASE))
    on = grow_tissue(circuit, TissueConfig(**BASE, glia=GLIA))
    return (circuit, off.replace(labels=off.labels.persist()), on.replace(labels=on.labels.persist()))


def _vol(phantom) -> np.ndarray:
    return np.asarray(phantom.labels.compute())


def test_off_switch_changes_nothing_of_the_neurons(pair):
    """Every neuron voxel, table and molecule is the same with glia on and off; off leaves
    no trace (no glia rows, kinds, header keys or config key)."""
    _, off, on = pair
    a, b = _vol(off), _vol(on)
    glial = np.isin(b, on.glia["label"].to_numpy())
    assert np.array_equal(a[~glial], b[~glial])
    assert (a[glial] == 0).all(), "astrocytes are drawn in free space only"
    for name in NEURON_TABLES:
        pd.testing.assert_frame_equal(getattr(off, name), getattr(on, name))
    mol_on = on.molecules[on.molecules["kind"].astype(str) != "glia"].reset_index(drop=True)
    pd.testing.assert_frame_equal(off.molecules.astype({"kind": str, "protein": str}),
                                  mol_on.astype({"kind": str, "protein": str}))
    assert len(off.glia) == 0 and "glia" not in off.config and "glia" not in off.metadata
    assert "glia" not in off.summary() and set(off.summary()["molecules"]) == {"receptor", "channel", "connexin"}


def test_astrocytes_are_where_the_ground_truth_puts_them(pair):
    """The glia table repeats the ground truth's astrocytes (sources.hidden), each body
    voxel holds its own label, and labels are new values after the neurons'."""
    circuit, _, on = pair
    where, member = astrocytes(circuit, GLIA.astrocytes, GLIA.seed)
    g = on.glia
    assert len(g) == GLIA.astrocytes.n_astrocytes
    np.testing.assert_allclose(g[["circuit_x_um", "circuit_y_um", "circuit_z_um"]].to_numpy(), where, rtol=0, atol=1e-12)
    assert g["domain_neurons"].tolist() == member.sum(axis=1).tolist()
    assert set(g["label"]).isdisjoint(on.neurons["label"]) and (g["cell_class"] == "astrocyte").all()
    vol = _vol(on)
    vs = np.asarray(on.voxel_size_nm)
    for row in g.itertuples():
        centre = np.floor(np.array([row.soma_z_um, row.soma_y_um, row.soma_x_um]) * 1000 / vs).astype(int)
        assert vol[tuple(centre)] == row.label
        assert row.cells >= 2, "a body with at least one process"


def test_marker_count_is_exact_on_the_rendered_membrane(pair):
    """A perfect instrument (the label under each marker) counts ``rint(density * area)``
    markers per astrocyte, ``area`` measured independently on the rendered volume, and
    every marker lies within its astrocyte's reach of its body."""
    _, _, on = pair
    vol = _vol(on)
    vs = np.asarray(on.voxel_size_nm)
    mol = on.molecules[on.molecules["kind"].astype(str) == "glia"]
    assert set(mol["protein"].astype(str)) == {GLIA.marker_protein} and (mol["neuron_id"] == -1).all()
    pos = mol[["z_nm", "y_nm", "x_nm"]].to_numpy()
    under = vol[tuple(np.floor(pos / vs).astype(int).T)]
    surface = label_surface_nm2(vol, vs, int(on.glia["label"].max()))
    s2 = on.metadata["geometry_scale"] ** 2
    reach_nm = (GLIA.process_cells + 1) * np.asarray(on.metadata["lattice_pitch_nm"]).max() * np.sqrt(3)
    for row in on.glia.itertuples():
        seen = int((under == row.label).sum())
        expect = int(np.rint(GLIA.marker_density_per_um2 * surface[row.label] / 1e6 / s2))
        assert seen == row.marker_count == expect > 0
        body = np.array([row.soma_z_um, row.soma_y_um, row.soma_x_um]) * 1000
        assert np.linalg.norm(pos[under == row.label] - body, axis=1).max() <= reach_nm
    assert (under != 0).all() and np.isin(under, on.glia["label"]).all()


def test_glia_kind_only_with_glia_cells_and_roundtrip(pair, tmp_path):
    """A 'glia' molecule in a phantom without glia cells, or a glia label equal to a
    neuron's, is refused; save/load keeps the glia table, and a phantom without glia
    writes no glia file."""
    _, off, on = pair
    glial = on.molecules[on.molecules["kind"].astype(str) == "glia"]
    with pytest.raises(ValidationError, match="without glia cells"):
        off.replace(molecules=pd.concat([off.molecules.astype({"kind": str, "protein": str}),
                                         glial.astype({"kind": str, "protein": str})], ignore_index=True))
    clash = on.glia.copy()
    clash.loc[0, "label"] = int(on.neurons["label"].iloc[0])
    with pytest.raises(ValidationError, match="neuron's label"):
        on.replace(glia=clash)
    on.save(tmp_path / "on")
    off.save(tmp_path / "off")
    back = Phantom.load(tmp_path / "on")
    pd.testing.assert_frame_equal(back.glia, on.glia)
    assert len(back.molecules) == len(on.molecules)
    assert not (tmp_path / "off" / "glia.parquet").exists() and (tmp_path / "on" / "glia.parquet").exists()


def test_a_perfect_segmentation_scores_glia_as_background(pair):
    """Scoring the phantom's own labels: every neuron maps to itself, no astrocyte
    segment maps to anything (not a split, not a merge, not a missed neuron)."""
    _, _, on = pair
    ov = overlap(_vol(on), on.voxel_size_nm, (0.0, 0.0, 0.0), on, chunk=(64, 64, 64))
    lab_to_id = dict(zip(on.neurons["label"], on.neurons["neuron_id"]))
    assert ov.neuron_map == {int(k): int(v) for k, v in lab_to_id.items()}
    assert set(ov.segment_to_truth).isdisjoint(on.glia["label"].tolist())
    assert set(ov.table["label"]).isdisjoint(on.glia["label"].tolist())
