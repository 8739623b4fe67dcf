"""Property-based fuzzing of every artifact reader (Hypothesis, in-process).

Each example mutates one part of a valid artifact of ``probe_world`` (a header's JSON
tree or text, a table's values, dtypes or columns, a store's metadata, manifest or chunk
bytes, an NWB file's datasets and attributes) and reads it back through the reader the
CLI uses. The reader must return a valid object or raise one
:class:`~neurophantom.NeurophantomError`: never another exception, a hang (deadline) or
unbounded memory (the ``fuzz`` fixture).
"""

from __future__ import annotations

import importlib.util
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

import neurophantom.cli  # noqa: F401 - imported once here, not inside a timed example
import neurophantom.io.nwb  # noqa: F401
import neurophantom.reconstruct  # noqa: F401
from neurophantom import NeurophantomError

pytestmark = pytest.mark.xdist_group("probe")

_spec = importlib.util.spec_from_file_location("fuzz_gen", Path(__file__).parent.parent / "fuzz" / "_gen.py")
gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen)
SEED = st.integers(0, 2**63 - 1)


def fuzz_settings(n: int):
    return settings(max_examples=n, deadline=10_000, derandomize=True, database=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def arts(probe_world, tmp_path_factory):
    """Private copies of the base artifacts (examples rewrite one file and restore it)."""
    root = tmp_path_factory.mktemp("fuzz-arts")
    for name in ("gt", "ph", "syn", "exms", "recon_syn", "sim"):
        shutil.copytree(probe_world / name, root / name)
    return root


class Restore:
    """Rewrite a file for one example and put the original back afterwards."""

    def __init__(self, path: Path):
        self.path, self.orig = path, path.read_bytes()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.path.write_bytes(self.orig)


def _mutated_json(r: random.Random, original: bytes) -> bytes:
    if r.random() < 0.7:
        return gen.dumps(gen.mutate_tree(r, json.loads(original))).encode()
    return gen.mutate_bytes(r, original) if r.random() < 0.5 else gen.mutate_text(r, original.decode()).encode("utf-8", "replace")


def _read(fn, *args):
    try:
        return fn(*args)
    except NeurophantomError:
        return None


@fuzz_settings(200)
@given(SEED)
def test_headers(fuzz, arts, seed):
    """circuit.json, phantom.json, scan.json (with and without a codebook), reconstruction.json."""
    from neurophantom.reconstruct import Reconstruction
    from neurophantom.types import Circuit
    from neurophantom.types.phantom import Phantom
    from neurophantom.types.scan import Scan

    fuzz()
    r = random.Random(seed)
    folder, header, reader = r.choice([("gt", "circuit.json", Circuit.load), ("gt", "circuit.json", Circuit.load),
                                       ("ph", "phantom.json", Phantom.load), ("syn", "scan.json", Scan.load),
                                       ("exms", "scan.json", Scan.load), ("recon_syn", "reconstruction.json", Reconstruction.load)])
    with Restore(arts / folder / header) as f:
        data = _mutated_json(r, f.orig)
        note(f"{folder}/{header}: {data[:3000]!r}")
        f.path.write_bytes(data)
        _read(reader, arts / folder)


def _odd(r: random.Random):
    return r.choice([np.nan, np.inf, -np.inf, 1e300, -1e300, -1.0, 0.0, 2**62, -(2**62), 1e7, 5e5, 0.5])


def _mutate_table(r: random.Random, df: pd.DataFrame) -> pd.DataFrame:
    try:
        return _mutate_table_once(r, df.copy())
    except (TypeError, ValueError, OverflowError):  # the mutation itself could not be made: one more
        return _mutate_table_once(r, df.copy()) if r.random() < 0.5 else df


def _mutate_table_once(r: random.Random, df: pd.DataFrame) -> pd.DataFrame:
    if not len(df.columns):
        return df
    col = r.choice(list(df.columns))
    op = r.randrange(7)
    if op == 0:
        df = df.drop(columns=col)
    elif op == 1 and len(df):
        vals = df[col].to_numpy(dtype=object).copy()
        vals[r.randrange(len(df))] = _odd(r) if r.random() < 0.8 else r.choice(["x", None, True])
        try:
            df[col] = pd.Series(vals).astype(df[col].dtype).to_numpy()
        except Exception:  # noqa: BLE001 - a value the column's dtype cannot hold: keep it as objects
            df[col] = vals
    elif op == 2:
        kind = r.choice([str, bool, float, object])
        try:
            df[col] = df[col].astype(kind)
        except (TypeError, ValueError, OverflowError):
            df[col] = df[col].astype(object)
    elif op == 3 and len(df):
        df = pd.concat([df, df.iloc[[r.randrange(len(df))]]], ignore_index=True)
    elif op == 4:
        df = df.iloc[: r.randrange(len(df) + 1)]
    elif op == 5 and len(df) and pd.api.types.is_numeric_dtype(df[col]):
        df[col] = df[col] * r.choice([-1, 1e300, 0, 1e6])
    else:
        df[r.choice(["zz", col + "_x"])] = _odd(r)
    return df


@fuzz_settings(100)
@given(SEED)
def test_tables(fuzz, probe_world, seed):
    """Circuit, Phantom and Reconstruction tables through their validating constructors."""
    from neurophantom.reconstruct._schema import check_tables
    from neurophantom.types import Circuit

    fuzz()
    r = random.Random(seed)
    c = _circuit(probe_world)
    which = r.choice([0, 0, 1, 2, 2])
    try:
        if which == 0:
            t = r.choice(["neurons", "synapses", "gap_junctions"])
            c.replace(**{t: _mutate_table(r, getattr(c, t))})
        elif which == 1:
            p = _phantom(probe_world)
            t = r.choice(["neurons", "synapses", "gap_junctions", "molecules", "skeletons"])
            p.replace(**{t: _mutate_table(r, getattr(p, t))})
        else:
            rec = _recon(probe_world)
            tables = {k: getattr(rec, k) for k in ("morphology", "uncertainty", "puncta", "contacts")}
            k = r.choice(list(tables))
            tables[k] = _mutate_table(r, tables[k])
            check_tables(tables, rec.circuit, probe_world / "recon_syn")
    except NeurophantomError:
        pass
    assert isinstance(c, Circuit)


_CACHE: dict = {}


def _circuit(world):
    from neurophantom.types import Circuit

    return _CACHE.setdefault("c", Circuit.load(world / "gt"))


def _phantom(world):
    from neurophantom.types.phantom import Phantom

    return _CACHE.setdefault("p", Phantom.load(world / "ph"))


def _recon(world):
    from neurophantom.reconstruct import Reconstruction

    return _CACHE.setdefault("r", Reconstruction.load(world / "recon_syn"))


@fuzz_settings(1500)
@given(SEED)
def test_zarr_metadata(fuzz, arts, seed):
    """Group metadata, array metadata and manifest trees through the store checks."""
    from neurophantom.io._zarr_check import check_array_meta, check_manifest, check_multiscales

    fuzz()
    r = random.Random(seed)
    store = arts / r.choice(["ph/phantom.ome.zarr", "syn/scan.ome.zarr", "recon_syn/segmentation.ome.zarr"])
    group, meta, man = (json.loads((store / p).read_text()) for p in ("zarr.json", "0/zarr.json", "0/manifest.json"))
    part = r.randrange(3)
    try:
        if part == 0:
            ms, ds, _ = check_multiscales(gen.mutate_tree(r, group), store)
            assert len(ds["scale"]) == len(ms["axes"])
        else:
            names = tuple(a["name"] for a in group["attributes"]["ome"]["multiscales"][0]["axes"])
            m = check_array_meta(gen.mutate_tree(r, meta) if part == 1 else meta, store / "0", len(names), names)
            crcs = check_manifest(gen.mutate_tree(r, man) if part == 2 else man, store / "0", m)
            assert all(isinstance(v, int) for v in crcs.values())
    except NeurophantomError:
        pass


@fuzz_settings(400)
@given(SEED)
def test_chunk_bytes(fuzz, arts, seed):
    """A changed chunk file is refused (never decoded into garbage, never a bomb)."""
    from neurophantom.io._zarr_check import _zstd_frame
    from neurophantom.io.omezarr import verify_ome_zarr

    fuzz()
    r = random.Random(seed)
    store = arts / r.choice(["syn/scan.ome.zarr", "recon_syn/segmentation.ome.zarr", "exms/scan.ome.zarr"])
    chunk = r.choice(sorted(p for p in (store / "0" / "c").rglob("*") if p.is_file()))
    with Restore(chunk) as f:
        data = gen.mutate_bytes(r, f.orig)
        _zstd_frame(bytes(r.randrange(256) for _ in range(r.randrange(40))))
        f.path.write_bytes(data)
        try:
            verify_ome_zarr(store)
        except NeurophantomError:
            return
        assert data == f.orig, "a changed chunk was read as valid"


def _nwb_mutation(r: random.Random, h) -> str:
    import h5py

    datasets = []
    h.visititems(lambda name, obj: datasets.append(name) if isinstance(obj, h5py.Dataset) else None)
    name = r.choice(datasets)
    ds = h[name]
    op = r.randrange(5)
    if op == 0:
        del h[name]
    elif op == 1 and ds.dtype.kind in "fiu" and ds.size:
        flat = np.asarray(ds[()]).astype(float).ravel()
        flat[r.randrange(flat.size)] = _odd(r)
        data = flat.reshape(ds.shape).astype(ds.dtype) if ds.dtype.kind == "f" else flat.reshape(ds.shape)
        del h[name]
        h.create_dataset(name, data=data)
    elif op == 2:
        shape = tuple(r.choice([0, 1, 3, 10**7]) for _ in range(r.randrange(1, 3)))
        del h[name]
        h.create_dataset(name, shape=shape, dtype=r.choice(["f8", "i8", "S4", "u1"]), chunks=True if all(shape) else None)
    elif op == 3:
        attrs = list(ds.attrs) or ["rate"]
        ds.attrs[r.choice(attrs)] = r.choice([0.0, -1.0, np.nan, "x", 10**12])
    else:
        data = ds[()]
        del h[name]
        h.create_dataset(name, data=np.asarray([json.dumps(gen.value(r), allow_nan=True).encode()]) if r.random() < 0.5 else data[:0]
                         if hasattr(data, "__getitem__") and np.ndim(data) else data)
    return f"{op} {name}"


@fuzz_settings(20)
@given(SEED)
def test_nwb(fuzz, arts, seed):
    import h5py

    from neurophantom.io.nwb import read_recording

    fuzz()
    r = random.Random(seed)
    with Restore(arts / "sim" / "recording.nwb") as f:
        with h5py.File(f.path, "r+") as h:
            note(_nwb_mutation(r, h))
        rec = _read(read_recording, f.path)
        if rec is not None:
            for arr in rec.traces.values():
                assert np.isfinite(arr).all() and arr.shape == (rec.time_ms.size, rec.neuron_ids.size)


@fuzz_settings(800)
@given(SEED)
def test_records(fuzz, arts, seed):
    """The reconstruction record, codebook and channel records (pure validators)."""
    from neurophantom.reconstruct._schema import check_record
    from neurophantom.types.scan import ChannelInfo, Codebook

    fuzz()
    r = random.Random(seed)
    part = r.randrange(3)
    try:
        if part == 0:
            rec = json.loads((arts / "recon_syn" / "reconstruction.json").read_text())
            rec.pop("files", None)
            rec.pop("version", None)
            vs, origin, shape = check_record(gen.mutate_tree(r, rec), arts / "recon_syn", "neurophantom.reconstruction", 1)
            assert all(v > 0 for v in vs) and len(origin) == 3 and min(shape) >= 1
        else:
            h = json.loads((arts / "exms" / "scan.json").read_text())
            if part == 1:
                cb = Codebook.from_json(gen.mutate_tree(r, h["codebook"]))
                assert cb.codewords.ndim == 2
            else:
                ChannelInfo.from_json(gen.mutate_tree(r, r.choice(h["channels"])))
    except NeurophantomError:
        pass


@fuzz_settings(500)
@given(st.binary(min_size=0, max_size=64))
def test_zstd_frame_headers(fuzz, data):
    """The frame walk that bounds decoding never fails on any bytes."""
    from neurophantom.io._zarr_check import _zstd_frame

    fuzz()
    declared, end = _zstd_frame(b"\x28\xb5\x2f\xfd" + data)
    assert declared is None or declared >= 0
    assert -1 <= end <= len(data) + 4
