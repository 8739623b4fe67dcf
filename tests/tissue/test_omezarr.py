"""Oracle: the written bytes and the NGFF 0.5 schema (ome-zarr-models). Round trips are
lossless for any dtype and leading axes; a missing or altered chunk is an error that names
the chunk, never a silent fill value."""

from __future__ import annotations

import json
import os

import dask.array as da
import numpy as np
import pytest
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

from neurophantom import CorruptDataError, NeurophantomError
from neurophantom.io.omezarr import read_ome_zarr, verify_ome_zarr, write_ome_zarr
from neurophantom.types.phantom import Phantom

pytestmark = pytest.mark.xdist_group("tissue-io")


def _validate_ngff(path):
    from ome_zarr_models.v05 import Image

    return Image.from_zarr(zarr.open_group(str(path), mode="r"))


def test_scan_like_round_trip_and_metadata(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.normal(size=(3, 10, 12, 14)).astype(np.float32)
    path = write_ome_zarr(tmp_path / "scan.ome.zarr", da.from_array(data, chunks=(1, 4, 5, 6)),
                          axes=("c", "z", "y", "x"), scale=(1.0, 100.0, 50.0, 25.0), name="scan",
                          attributes={"neurophantom": {"channels": ["membrane", "r1c1", "r1c2"]}})
    img = read_ome_zarr(path)
    assert img.axes == ("c", "z", "y", "x")
    assert img.units == (None, "nanometer", "nanometer", "nanometer")
    assert img.voxel_size_nm == (100.0, 50.0, 25.0)
    assert img.attributes["neurophantom"]["channels"][0] == "membrane"
    assert img.data.dtype == np.float32 and np.array_equal(img.data.compute(), data)
    model = _validate_ngff(path)
    ms = model.ome_attributes.multiscales[0] if hasattr(model, "ome_attributes") else model.attributes.ome.multiscales[0]
    assert [a.name for a in ms.axes] == ["c", "z", "y", "x"]
    meta = json.loads((path / "0" / "zarr.json").read_text())
    assert [c["name"] for c in meta["codecs"]] == ["bytes", "zstd", "crc32c"]
    assert verify_ome_zarr(path) == 3 * 3 * 3 * 3


@settings(max_examples=12, deadline=None)
@given(shape=st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 9)),
       chunks=st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5)),
       dtype=st.sampled_from(["uint8", "uint16", "uint32", "uint64", "float32", "float64"]))
def test_round_trip_any_shape_chunking_dtype(tmp_path_factory, shape, chunks, dtype):
    rng = np.random.default_rng(sum(shape) * 7 + sum(chunks))
    data = (rng.random(shape) * 200).astype(dtype)
    path = tmp_path_factory.mktemp("rt") / "a.ome.zarr"
    write_ome_zarr(path, data, scale=(1.0, 2.0, 3.0), chunks=chunks)
    back = read_ome_zarr(path).data
    assert back.dtype == np.dtype(dtype)
    assert np.array_equal(back.compute(), data)
    # Unaligned reads through the verified array agree too.
    sl = tuple(slice(s // 3, max(s // 3 + 1, s - 1)) for s in shape)
    assert np.array_equal(back[sl].compute(), data[sl])


def _labels_store(tmp_path):
    lab = np.zeros((20, 20, 20), np.uint32)
    lab[2:9, 3:15, 4:12] = 7  # leaves whole chunks at zero: they must be written too
    return lab, write_ome_zarr(tmp_path / "l.ome.zarr", lab, scale=(40.0, 40.0, 40.0), chunks=(8, 8, 8))


def test_all_zero_chunks_are_written_and_listed(tmp_path):
    lab, path = _labels_store(tmp_path)
    manifest = json.loads((path / "0" / "manifest.json").read_text())
    assert len(manifest["crc32c"]) == 27
    assert all((path / "0" / key).is_file() for key in manifest["crc32c"])
    _validate_ngff(path)


def test_deleted_chunk_is_an_error_naming_it(tmp_path):
    lab, path = _labels_store(tmp_path)
    os.remove(path / "0" / "c" / "2" / "2" / "2")  # an all-zero chunk: zarr would read zeros
    data = read_ome_zarr(path).data
    assert np.array_equal(data[:8, :8, :8].compute(), lab[:8, :8, :8])  # other chunks still read
    with pytest.raises(CorruptDataError, match=r"chunk c/2/2/2 is missing"):
        data.compute()
    with pytest.raises(CorruptDataError, match=r"c/2/2/2"):
        verify_ome_zarr(path)


def test_corrupted_chunk_is_an_error_naming_it(tmp_path):
    lab, path = _labels_store(tmp_path)
    f = path / "0" / "c" / "0" / "0" / "1"
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2] ^= 0x5A
    f.write_bytes(bytes(raw))
    with pytest.raises(CorruptDataError, match=r"chunk c/0/0/1 is corrupt"):
        read_ome_zarr(path).data.compute()


def test_missing_manifest_or_metadata_is_an_error(tmp_path):
    _, path = _labels_store(tmp_path)
    (path / "0" / "manifest.json").unlink()
    with pytest.raises(NeurophantomError, match="manifest"):
        read_ome_zarr(path)
    with pytest.raises(NeurophantomError, match="not found"):
        read_ome_zarr(tmp_path / "nothing.ome.zarr")


def test_bad_writer_arguments(tmp_path):
    a = np.zeros((4, 4, 4), np.uint8)
    with pytest.raises(NeurophantomError, match="axis names"):
        write_ome_zarr(tmp_path / "a", a, axes=("z", "y"), scale=(1, 1, 1))
    with pytest.raises(NeurophantomError, match="spatial axes must come last"):
        write_ome_zarr(tmp_path / "a", a, axes=("x", "y", "z"), scale=(1, 1, 1))
    with pytest.raises(NeurophantomError, match="scale"):
        write_ome_zarr(tmp_path / "a", a, scale=(1, 0, 1))
    assert not (tmp_path / "a").exists()


def test_phantom_with_deleted_chunk_fails_loudly(tmp_path, small_phantom):
    small_phantom.save(tmp_path / "ph")
    store = tmp_path / "ph" / "phantom.ome.zarr"
    _validate_ngff(store)
    key = sorted(json.loads((store / "0" / "manifest.json").read_text())["crc32c"])[-1]
    os.remove(store / "0" / key)
    back = Phantom.load(tmp_path / "ph")  # opening is lazy ...
    with pytest.raises(CorruptDataError, match=key):  # ... reading the chunk is not silent
        back.labels.compute()
