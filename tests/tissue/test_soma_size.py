"""Soma size follows membrane area: the rule, and the rendered spheres.

Oracles: the closed-form rule ``r = r_ref (a / median a) ** e`` (inside the block's
bounds, on a quarter-voxel grid); the largest inscribed sphere of each rendered neuron
(Euclidean distance transform, scipy) equals its recorded soma radius to within a voxel;
every neuron stays one 6-connected piece however small its soma (the exit cables run
through the whole exit cell).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from neurophantom.tissue import TissueConfig, grow_tissue
from neurophantom.tissue.geometry import choose_geometry, soma_radii_nm
from neurophantom.validate.phantom_check import compare_with_circuit, read_back_circuit

GEOM = choose_geometry(TissueConfig(), np.array([0.1, 0.2]), np.array([0, 1]), 4)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(100.0, 1e5), min_size=1, max_size=30), st.sampled_from([0.0, 0.25, 0.5, 1.0]))
def test_radius_rule(areas, exponent):
    a = np.asarray(areas)
    r = soma_radii_nm(GEOM, a, exponent)
    lo, hi = GEOM.soma_bounds_nm()
    q = min(GEOM.voxel_nm) / 4
    assert np.all((r >= lo - 1e-9) & (r <= hi + 1e-9))
    want = np.clip(GEOM.soma_radius_nm * (a / np.median(a)) ** exponent, lo, hi)
    assert np.all(np.abs(r - want) <= q / 2 + 1e-9)
    # Monotone in area: a larger neuron never has a smaller soma.
    order = np.argsort(a, kind="stable")
    assert np.all(np.diff(r[order]) >= -1e-9)
    if exponent == 0.0:
        assert np.allclose(r, np.clip(np.round(GEOM.soma_radius_nm / q) * q, lo, hi))


def test_bounds_hold_the_block():
    """The smallest soma reaches one voxel into its exit cells; the largest leaves the
    block's outer voxel layer empty."""
    lo, hi = GEOM.soma_bounds_nm()
    p, v, b = GEOM.pitch_nm, np.asarray(GEOM.voxel_nm), GEOM.soma_cells
    assert lo == pytest.approx(float(np.max((b / 2 - 1) * p + v)))
    assert hi == pytest.approx(float(np.min(b * p / 2 - v)))
    assert lo < GEOM.soma_radius_nm <= hi


@pytest.fixture(scope="module")
def spread_phantom(circuit_factory):
    """Areas spread 25-fold, so somata span the whole range, both bounds included."""
    c = circuit_factory(n=12, n_synapses=24, n_gaps=2, seed=3)
    area = np.geomspace(400.0, 10000.0, c.n_neurons)
    c = c.replace(neurons=c.neurons.assign(area_um2=area))
    return c, grow_tissue(c, TissueConfig(seed=2))


def test_rendered_somata_have_their_radius(spread_phantom):
    circuit, ph = spread_phantom
    vol = np.asarray(ph.labels.compute())
    vox = np.asarray(ph.voxel_size_nm)
    r = ph.neurons.set_index("neuron_id")["soma_radius_um"].to_numpy() * 1000
    lo, hi = ph.metadata["soma_radius_bounds_nm"]
    assert r.min() == pytest.approx(lo) and r.max() == pytest.approx(hi)
    for nid, label, radius in zip(ph.neurons["neuron_id"], ph.neurons["label"], r):
        inside = ndimage.distance_transform_edt(vol == label, sampling=vox)
        # The deepest voxel centre lies within a voxel of the sphere's radius.
        assert abs(inside.max() - radius) <= vox.max(), (nid, inside.max(), radius)


def test_small_somata_stay_connected(spread_phantom):
    circuit, ph = spread_phantom
    back = read_back_circuit(ph)
    assert compare_with_circuit(back, circuit, ph).ok
    comps = back.neurons["components"].to_numpy()
    assert np.all(comps == 1), comps
