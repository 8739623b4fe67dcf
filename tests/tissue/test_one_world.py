"""One world: the specimen the ground truth simulates is the one the phantom draws.

Oracles: a brute-force face count over the whole label volume (surface areas), and the
ground truth's own Model (channel totals = conductance / unitary conductance) held
against the molecules the phantom carries, for every source that makes phantoms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neurophantom.tissue import TissueConfig, grow_tissue, specimen_circuit
from neurophantom.tissue.surface import label_surface_nm2
from neurophantom.validate.phantom_check import channel_totals_agreement

pytestmark = pytest.mark.xdist_group("tissue")


def _brute_surface(labels: np.ndarray, vs, n: int) -> np.ndarray:
    face = np.array([vs[1] * vs[2], vs[0] * vs[2], vs[0] * vs[1]])
    out = np.zeros(n + 1)
    for axis in range(3):
        a = np.moveaxis(labels, axis, 0)
        for i in range(a.shape[0] - 1):
            for x, y in zip(a[i].ravel(), a[i + 1].ravel()):
                if x != y:
                    out[x] += face[axis] * (x > 0)
                    out[y] += face[axis] * (y > 0)
    return out


@settings(max_examples=25, deadline=None)
@given(shape=st.tuples(*[st.integers(2, 7)] * 3), n=st.integers(1, 4), chunk=st.tuples(*[st.integers(1, 4)] * 3),
       seed=st.integers(0, 2**16))
def test_surface_counts_every_face_once_whatever_the_chunking(shape, n, chunk, seed):
    labels = np.random.default_rng(seed).integers(0, n + 1, shape)
    vs = (30.0, 40.0, 50.0)  # anisotropic: each axis has its own face area
    got = label_surface_nm2(labels, vs, n, chunks=chunk)
    np.testing.assert_allclose(got, _brute_surface(labels, vs, n), rtol=1e-12)


def _agreement(circuit, config):
    phantom = grow_tissue(circuit, config)
    spec = specimen_circuit(circuit, phantom)
    surf = phantom.neurons.set_index("neuron_id").loc[spec.neuron_ids]
    # The truth's membrane is the phantom's rendered surface times one factor per specimen.
    factor = phantom.metadata["membrane_area_factor"]
    np.testing.assert_allclose(spec.neurons["area_um2"].to_numpy(), factor * surf["surface_area_um2"].to_numpy(), rtol=1e-12)
    return channel_totals_agreement(spec, phantom), phantom


def test_organoid_truth_and_phantom_hold_the_same_channels(organoid_circuit):
    # Water-filled sampling of the default run (a cap of 20 000 molecules) thins Na and Kdr.
    res, phantom = _agreement(organoid_circuit, TissueConfig(seed=2, max_channel_molecules=20000))
    assert min(phantom.metadata["channel_sampling_fraction"].values()) < 1
    assert res["n_pairs"] >= 60
    # Rounding alone (counts >= 20) keeps each ratio within about 1/40.
    assert res["median_abs_log_ratio"] < 0.1 and res["max_abs_log_ratio"] < 0.12, res


def test_worm_truth_and_phantom_hold_the_same_channels(worm_circuit):
    res, _ = _agreement(worm_circuit, TissueConfig(seed=0))
    assert res["n_pairs"] >= 30
    assert res["median_abs_log_ratio"] < 0.1, res


def test_hand_made_truth_and_phantom_hold_the_same_channels(small_circuit):
    res, _ = _agreement(small_circuit, TissueConfig(seed=5))
    assert res["median_abs_log_ratio"] < 0.1, res


def test_the_old_world_would_fail_the_check(organoid_circuit):
    """Control: the source's own areas (what the truth simulated before) against the same
    phantom disagree far beyond the tolerance, so the check can fail."""
    phantom = grow_tissue(organoid_circuit, TissueConfig(seed=2, max_channel_molecules=20000))
    spec = specimen_circuit(organoid_circuit, phantom)
    old = spec.replace(neurons=spec.neurons.assign(area_um2=organoid_circuit.neurons["area_um2"].to_numpy()))
    assert channel_totals_agreement(old, phantom)["median_abs_log_ratio"] > 0.1
