"""Validation of the OME-Zarr stores neurophantom writes, before zarr decodes anything.

zarr trusts its metadata: a changed ``data_type`` reinterprets the stored bytes
(float32 read as int32), a ``path`` of ``../../other.ome.zarr/0`` reads another
artifact, a chunk declared 1e5 voxels a side is allocated whole, and a 1 GiB zstd frame
is decompressed before anything checks its size. Every reader therefore checks here:

- the group's NGFF ``multiscales`` (axes, scale, dataset paths kept inside the store);
- the array's ``zarr.json`` against the layout :func:`~.omezarr.write_ome_zarr` writes
  (codecs ``bytes`` little-endian -> ``zstd`` -> ``crc32c``, fill value 0, regular chunks,
  one of the numeric data types) and against the manifest (shape, chunks, **dtype**);
- the decoded size of one chunk against the memory budget (:mod:`._limits`);
- each chunk file before decoding: a regular file inside the store whose zstd frame
  declares exactly the chunk's decoded size.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from .._errors import CorruptDataError
from ._atomic import contained
from ._limits import check_memory, chunk_budget_bytes, nbytes_of

DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float32", "float64")
MANIFEST_FORMAT = "neurophantom.chunk-manifest"
MAX_CHUNKS = 10_000_000
_ZSTD_MAGIC = 0xFD2FB528


def _obj(v: Any, where: str) -> dict:
    if not isinstance(v, dict):
        raise CorruptDataError(f"{where} must be a JSON object")
    return v


def _ints(v: Any, n: int, lo: int, where: str) -> tuple[int, ...]:
    if not isinstance(v, list) or len(v) != n or any(isinstance(x, bool) or not isinstance(x, int) or x < lo for x in v):
        raise CorruptDataError(f"{where} must be {n} integers >= {lo}, got {v!r}"[:200])
    return tuple(v)


def check_multiscales(head: Any, path: Path) -> tuple[dict, dict, dict]:
    """The first multiscale (axes validated) and its first dataset (``path``, ``scale``)."""
    where = f"{path / 'zarr.json'}"
    head = _obj(head, where)
    attrs = _obj(head.get("attributes", {}), f"{where} attributes")
    try:
        ms = attrs["ome"]["multiscales"][0]
        datasets = ms["datasets"]
        axes = ms["axes"]
    except (TypeError, KeyError, IndexError):
        raise CorruptDataError(f"{path}: no NGFF 0.5 multiscales metadata in zarr.json") from None
    if not isinstance(axes, list) or not 1 <= len(axes) <= 8:
        raise CorruptDataError(f"{where}: multiscales axes must be a list of 1 to 8 axes")
    clean_axes = []
    for i, a in enumerate(axes):
        a = _obj(a, f"{where} axis {i}")
        name, unit = a.get("name"), a.get("unit")
        if not isinstance(name, str) or not name.isidentifier() or (unit is not None and not isinstance(unit, str)):
            raise CorruptDataError(f"{where}: axis {i} needs a name (identifier) and an optional text unit")
        clean_axes.append({"name": name, "unit": unit})
    if len({a["name"] for a in clean_axes}) != len(clean_axes):
        raise CorruptDataError(f"{where}: axis names repeat")
    if not isinstance(datasets, list) or not datasets:
        raise CorruptDataError(f"{where}: multiscales has no datasets")
    clean = []
    for i, d in enumerate(datasets):
        d = _obj(d, f"{where} dataset {i}")
        contained(path, d.get("path"), f"{path} dataset {i} path")  # every level stays inside
        transforms = d.get("coordinateTransformations")
        scale = None
        if isinstance(transforms, list):
            scale = next((t.get("scale") for t in transforms if isinstance(t, dict) and t.get("type") == "scale"), None)
        if not isinstance(scale, list) or len(scale) != len(clean_axes) or any(
                isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or not 0 < x < 1e12 for x in scale):
            raise CorruptDataError(f"{where}: dataset {i} needs a scale of {len(clean_axes)} positive finite numbers")
        clean.append({"path": d["path"], "scale": tuple(float(x) for x in scale)})
    return {"axes": clean_axes}, clean[0], attrs


def check_array_meta(meta: Any, array_dir: Path, ndim: int, axis_names: tuple[str, ...]) -> dict:
    """Shape, chunks and dtype of an array ``zarr.json`` of the layout neurophantom writes."""
    where = f"{array_dir / 'zarr.json'}"
    meta = _obj(meta, where)
    if meta.get("zarr_format") != 3 or meta.get("node_type") != "array":
        raise CorruptDataError(f"{where} is not a zarr v3 array")
    shape = _ints(meta.get("shape"), ndim, 0, f"{where} shape")
    dtype_name = meta.get("data_type")
    if dtype_name not in DTYPES:
        raise CorruptDataError(f"{where}: data_type {dtype_name!r} is not one of {', '.join(DTYPES)}"[:200])
    dtype = np.dtype(dtype_name)
    grid = _obj(meta.get("chunk_grid"), f"{where} chunk_grid")
    if grid.get("name") != "regular":
        raise CorruptDataError(f"{where}: chunk grid must be regular")
    chunks = _ints(_obj(grid.get("configuration"), f"{where} chunk_grid").get("chunk_shape"), ndim, 1, f"{where} chunk_shape")
    enc = _obj(meta.get("chunk_key_encoding"), f"{where} chunk_key_encoding")
    if enc.get("name") != "default" or _obj(enc.get("configuration", {}), where).get("separator") != "/":
        raise CorruptDataError(f"{where}: chunk keys must use the default encoding with '/'")
    if meta.get("fill_value") not in (0, 0.0, False) or isinstance(meta.get("fill_value"), str):
        raise CorruptDataError(f"{where}: fill_value must be 0")
    codecs = meta.get("codecs")
    names = [c.get("name") for c in codecs] if isinstance(codecs, list) and all(isinstance(c, dict) for c in codecs) else None
    if names != ["bytes", "zstd", "crc32c"]:
        raise CorruptDataError(f"{where}: codecs {names} are not bytes -> zstd -> crc32c")
    conf = codecs[0].get("configuration") or {}
    endian = conf.get("endian", "little") if isinstance(conf, dict) else None
    if endian != "little" and dtype.itemsize > 1:
        raise CorruptDataError(f"{where}: byte order {endian!r} (neurophantom stores little-endian)")
    if meta.get("storage_transformers") not in (None, []):
        raise CorruptDataError(f"{where}: storage transformers are not supported")
    dims = meta.get("dimension_names")
    if dims is not None and (not isinstance(dims, list) or tuple(dims) != axis_names):
        raise CorruptDataError(f"{where}: dimension names {dims} differ from the NGFF axes {list(axis_names)}")
    check_memory(nbytes_of(chunks, dtype.itemsize), f"{array_dir}: one chunk of {list(chunks)} {dtype.name}",
                 budget=chunk_budget_bytes())
    n_chunks = math.prod(-(-s // c) for s, c in zip(shape, chunks))
    if n_chunks > MAX_CHUNKS:
        raise CorruptDataError(f"{where}: {n_chunks} chunks (more than {MAX_CHUNKS})")
    return {"shape": shape, "chunks": chunks, "dtype": dtype}


def check_manifest(man: Any, array_dir: Path, meta: dict) -> dict[str, int]:
    """The manifest's chunk checksums, after checking it describes this very array."""
    where = f"{array_dir / 'manifest.json'}"
    man = _obj(man, where)
    if man.get("format") != MANIFEST_FORMAT:
        raise CorruptDataError(f"{where} is not a neurophantom chunk manifest")
    if man.get("version") != 1:
        raise CorruptDataError(f"{where}: unsupported manifest version {man.get('version')!r}")
    if man.get("shape") != list(meta["shape"]) or man.get("chunks") != list(meta["chunks"]):
        raise CorruptDataError(f"{array_dir}: array shape/chunks differ from the manifest")
    if man.get("dtype") != meta["dtype"].str:
        raise CorruptDataError(f"{array_dir}: the array says {meta['dtype'].name} ({meta['dtype'].str}), "
                               f"the manifest {man.get('dtype')!r}: the data type was changed")
    crcs = man.get("crc32c")
    if not isinstance(crcs, dict):
        raise CorruptDataError(f"{where}: crc32c must be a mapping of chunk keys to checksums")
    grid = [-(-s // c) for s, c in zip(meta["shape"], meta["chunks"])]
    n_expected = math.prod(grid)
    if len(crcs) != n_expected:
        raise CorruptDataError(f"{array_dir}: manifest lists {len(crcs)} of {n_expected} chunks (incomplete write)")
    for key, crc in crcs.items():
        parts = key.split("/") if isinstance(key, str) else []
        ok = len(parts) == len(grid) + 1 and parts[0] == "c" and all(p.isdigit() and int(p) < g for p, g in zip(parts[1:], grid))
        if not ok or isinstance(crc, bool) or not isinstance(crc, int) or not 0 <= crc < 2**32:
            raise CorruptDataError(f"{where}: bad entry {str(key)[:40]!r}: {str(crc)[:20]}")
    return crcs


def _zstd_frame(data: bytes) -> tuple[int | None, int]:
    """(declared decoded size or None, end offset of the first frame; -1 if malformed).

    Walks the frame's block headers (RFC 8878, section 3.1.1) without decoding, so that
    a second frame hidden after the first (which the decoder would also expand) is seen.
    """
    if len(data) < 6 or int.from_bytes(data[:4], "little") != _ZSTD_MAGIC:
        return None, -1
    fhd = data[4]
    fcs_flag, single, checksum, dict_flag = fhd >> 6, (fhd >> 5) & 1, (fhd >> 2) & 1, fhd & 3
    pos = 5 + (0 if single else 1) + (0, 1, 2, 4)[dict_flag]
    size = (1 if single else 0, 2, 4, 8)[fcs_flag]
    declared = None
    if size:
        if len(data) < pos + size:
            return None, -1
        declared = int.from_bytes(data[pos:pos + size], "little") + (256 if size == 2 else 0)
    pos += size
    while True:
        if len(data) < pos + 3:
            return declared, -1
        bh = int.from_bytes(data[pos:pos + 3], "little")
        last, kind, bsize = bh & 1, (bh >> 1) & 3, bh >> 3
        if kind == 3:
            return declared, -1
        pos += 3 + (1 if kind == 1 else bsize)
        if last:
            break
    pos += 4 if checksum else 0
    return declared, pos if pos <= len(data) else -1


def check_chunk_file(root: Path, array_dir: Path, key: str, where: str, nbytes: int) -> None:
    """A chunk file is a regular file inside the store holding one zstd frame (then the
    4-byte crc32c) that declares exactly ``nbytes`` decoded bytes: a decompression bomb
    is refused before anything is decoded."""
    f = array_dir / key
    try:
        st = os.lstat(f)
    except OSError:
        raise CorruptDataError(f"{where} is missing (its file was deleted or never written)") from None
    if stat.S_ISLNK(st.st_mode):
        contained(root, os.path.relpath(f, root), where)
        try:
            st = os.stat(f)
        except OSError:
            raise CorruptDataError(f"{where} is missing (a broken link)") from None
    if not stat.S_ISREG(st.st_mode):
        raise CorruptDataError(f"{where} is missing (not a regular file)")
    if st.st_size > nbytes + nbytes // 64 + 4096:
        raise CorruptDataError(f"{where} is corrupt ({st.st_size} bytes on disk for {nbytes} decoded bytes)")
    with open(f, "rb") as fh:
        data = fh.read(st.st_size + 1)
    declared, end = _zstd_frame(data)
    if declared is None or end < 0:
        raise CorruptDataError(f"{where} is corrupt (not one zstd frame with a declared size)")
    if declared != nbytes:
        raise CorruptDataError(f"{where} is corrupt (declares {declared} decoded bytes, the chunk holds {nbytes}; "
                               "refused before decoding)")
    if end != len(data) - 4:
        raise CorruptDataError(f"{where} is corrupt (bytes after the zstd frame; refused before decoding)")
