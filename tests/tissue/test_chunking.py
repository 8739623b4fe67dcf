"""Oracle: the renderer itself at another chunking. Chunked and unchunked renderings are
bit-identical, and the same seed gives the same phantom (different seeds do not)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurophantom.tissue import TissueConfig, grow_tissue
from neurophantom.types.phantom import TABLES, Phantom

pytestmark = pytest.mark.xdist_group("tissue")


def test_chunked_equals_unchunked(small_circuit, small_phantom):
    whole = np.asarray(small_phantom.labels.compute())
    shape = small_phantom.shape
    one = grow_tissue(small_circuit, TissueConfig(seed=5, chunk_shape=tuple(max(8, s) for s in shape)))
    assert one.labels.numblocks == (1, 1, 1)
    odd = grow_tissue(small_circuit, TissueConfig(seed=5, chunk_shape=(17, 23, 29)))
    assert np.prod(odd.labels.numblocks) > 50
    a = np.asarray(one.labels.compute())
    b = np.asarray(odd.labels.compute())
    assert a.dtype == b.dtype == np.uint32
    assert np.array_equal(a, b) and np.array_equal(a, whole)
    assert len(np.unique(a)) == len(small_circuit.neurons) + 1


def test_same_seed_same_phantom_other_seed_differs(small_circuit, small_phantom):
    again = grow_tissue(small_circuit, TissueConfig(seed=5))
    assert np.array_equal(np.asarray(again.labels.compute()), np.asarray(small_phantom.labels.compute()))
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(again, name), getattr(small_phantom, name))
    other = grow_tissue(small_circuit, TissueConfig(seed=6))
    assert not other.synapses[["z_vox", "y_vox", "x_vox"]].equals(small_phantom.synapses[["z_vox", "y_vox", "x_vox"]])


def test_save_load_round_trip(tmp_path, small_phantom):
    small_phantom.save(tmp_path / "ph", chunks=(40, 64, 50))
    back = Phantom.load(tmp_path / "ph")
    assert back.labels.chunksize == (40, 64, 50)
    assert np.array_equal(np.asarray(back.labels.compute()), np.asarray(small_phantom.labels.compute()))
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(back, name), getattr(small_phantom, name), check_categorical=False)
    assert back.voxel_size_nm == small_phantom.voxel_size_nm and back.seed == small_phantom.seed
    assert back.metadata == small_phantom.metadata and back.provenance == small_phantom.provenance
