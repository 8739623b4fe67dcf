"""OME-Zarr (zarr v3, NGFF 0.5) volumes with a chunk-completeness manifest.

Layout written by :func:`write_ome_zarr` (one multiscale image at the root group)::

    NAME.ome.zarr/
        zarr.json               group; attributes["ome"] = NGFF 0.5 "multiscales" (+ extra keys)
        0/zarr.json             the full-resolution array (zarr v3)
        0/c/<i>/<j>/...         chunks: codecs bytes -> zstd -> crc32c
        0/manifest.json         which chunks were written, with a checksum of each

The NGFF metadata is written by the ``ome-zarr`` package (``FormatV05``); the arrays by
``zarr`` 3 with a ``crc32c`` codec last in the codec chain, so a flipped byte in a stored
chunk fails to decode. zarr 3.1 reads a chunk file that was never written (or was
deleted) as the fill value, silently; the manifest closes that hole. It lists every chunk
of the grid with the CRC-32C of its decoded bytes (C order) and is written atomically
after all chunks; :func:`read_ome_zarr` checks each chunk against it when the chunk is
read and raises :class:`~neurophantom.CorruptDataError` naming the chunk when its file is
missing, does not decode, or decodes to other bytes.

The writer is generic: any dtype, any number of leading non-spatial axes (``c``, ``t``,
rounds), axis names, types and units in the metadata; data comes from dask (or numpy) and
is stored chunk by chunk by the active dask scheduler (a ``dask.distributed`` client when
one is active), never gathered in memory. The whole store is built in a temporary sibling
folder and renamed into place when complete (:func:`~neurophantom.io.atomic_dir`).

References
----------
Moore, J. et al. (2023). OME-Zarr: a cloud-optimized bioimaging file format with
international community support. Histochemistry and Cell Biology 160, 223-251.
NGFF specification 0.5, https://ngff.openmicroscopy.org/0.5/
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import dask
import dask.array as da
import google_crc32c
import numpy as np
import zarr
from zarr.codecs import BytesCodec, Crc32cCodec, ZstdCodec

from .._errors import CorruptDataError, NeurophantomError
from ._atomic import atomic_dir, atomic_write_json, contained, read_json
from ._limits import nbytes_of

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "neurophantom.chunk-manifest"
_SPACE_AXES = ("z", "y", "x")
_AXIS_TYPES = {"z": "space", "y": "space", "x": "space", "t": "time", "c": "channel"}

__all__ = ["OmeZarrImage", "write_ome_zarr", "read_ome_zarr", "verify_ome_zarr", "chunk_key"]


@dataclasses.dataclass(frozen=True)
class OmeZarrImage:
    """A multiscale image read back from an OME-Zarr store (level 0 only).

    Attributes
    ----------
    data : dask.array.Array
        Lazy array over the stored chunks; computing a block verifies it against the
        manifest.
    axes : tuple of str
        Axis names in storage order, e.g. ``("c", "z", "y", "x")``.
    scale : tuple of float
        Physical size of one voxel per axis (1.0 for non-physical axes).
    units : tuple of str or None
        NGFF unit per axis (``"nanometer"`` for spatial axes written by neurophantom).
    attributes : dict
        The root group's extra attributes (everything beside ``"ome"``).
    path : pathlib.Path
        The store folder.
    """

    data: da.Array
    axes: tuple[str, ...]
    scale: tuple[float, ...]
    units: tuple[str | None, ...]
    attributes: dict
    path: Path

    @property
    def voxel_size_nm(self) -> tuple[float, ...]:
        """Scale of the spatial axes (z, y, x) in nm (requires unit ``nanometer``)."""
        out = []
        for ax, s, u in zip(self.axes, self.scale, self.units):
            if ax in _SPACE_AXES:
                if u != "nanometer":
                    raise NeurophantomError(f"{self.path}: axis {ax!r} has unit {u!r}, expected 'nanometer'")
                out.append(float(s))
        return tuple(out)


def chunk_key(index: Sequence[int]) -> str:
    """Storage key of the chunk at grid position ``index`` (default encoding, ``/``)."""
    return "c/" + "/".join(str(int(i)) for i in index)


def _crc(block: np.ndarray) -> int:
    return int(google_crc32c.value(np.ascontiguousarray(block).tobytes()))


def _check_axes(axes: Sequence[str], ndim: int) -> tuple[str, ...]:
    axes = tuple(axes)
    if len(axes) != ndim:
        raise NeurophantomError(f"ome-zarr: {len(axes)} axis names {axes} for a {ndim}-d array")
    if len(set(axes)) != ndim or not all(isinstance(a, str) and a.isidentifier() for a in axes):
        raise NeurophantomError(f"ome-zarr: axis names must be distinct identifiers, got {axes}")
    spatial = tuple(a for a in axes if a in _SPACE_AXES)
    if not 2 <= len(spatial) <= 3:
        raise NeurophantomError(f"ome-zarr: need 2 or 3 spatial axes, got {axes}")
    if spatial != tuple(a for a in _SPACE_AXES if a in spatial) or axes[-len(spatial):] != spatial:
        raise NeurophantomError(f"ome-zarr: spatial axes must come last in (z, y, x) order, got {axes}")
    return axes


def _axes_meta(axes: tuple[str, ...], units: Sequence[str | None]) -> list[dict]:
    out = []
    for ax, unit in zip(axes, units):
        entry = {"name": ax, "type": _AXIS_TYPES.get(ax, "custom")}
        if unit is not None:
            entry["unit"] = unit
        out.append(entry)
    return out


def _regular_chunks(arr: da.Array, chunks: Sequence[int] | None) -> tuple[int, ...]:
    if chunks is None:
        chunks = tuple(c[0] for c in arr.chunks)
    chunks = tuple(int(c) for c in chunks)
    if len(chunks) != arr.ndim or any(c < 1 for c in chunks):
        raise NeurophantomError(f"ome-zarr: chunk shape {chunks} does not fit a {arr.ndim}-d array")
    return tuple(min(c, max(s, 1)) for c, s in zip(chunks, arr.shape))


def _write_block(block: np.ndarray, array_dir: str, index: tuple[int, ...], chunks: tuple[int, ...]) -> tuple[str, int]:
    target = zarr.open_array(store=array_dir, mode="r+").with_config({"write_empty_chunks": True})
    region = tuple(slice(i * c, i * c + s) for i, c, s in zip(index, chunks, block.shape))
    block = np.ascontiguousarray(block, dtype=target.dtype)
    target[region] = block
    return chunk_key(index), _crc(block)


def _compute_writes(tasks: list, progress: bool, label: str) -> list:
    """Run the write tasks on the active scheduler, with a progress bar if asked."""
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        client = None
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar:
        job = bar.add_task(label, total=len(tasks))
        if client is not None:
            from distributed import as_completed

            futures = client.compute(tasks)
            results = []
            for fut in as_completed(futures):
                results.append(fut.result())
                bar.advance(job)
            return results
        from dask.callbacks import Callback

        class _Tick(Callback):
            def _posttask(self, key, result, dsk, state, worker_id):  # noqa: D401
                name = key[0] if isinstance(key, tuple) else key
                if isinstance(name, str) and name.startswith("np-write-"):
                    bar.advance(job)

        with _Tick():
            return list(dask.compute(*tasks))


def write_ome_zarr(
    path: str | os.PathLike,
    data: da.Array | np.ndarray,
    *,
    axes: Sequence[str] = ("z", "y", "x"),
    scale: Sequence[float],
    units: Sequence[str | None] | None = None,
    chunks: Sequence[int] | None = None,
    name: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    progress: bool = False,
    zstd_level: int = 3,
) -> Path:
    """Write ``data`` as a single-scale OME-Zarr image at ``path``, chunk by chunk.

    Parameters
    ----------
    path : path-like
        Store folder to create (replaced atomically if it exists).
    data : dask.array.Array or numpy.ndarray
        Any dtype; rechunked to ``chunks`` if its blocks differ.
    axes : sequence of str
        Axis names; spatial axes (``z``, ``y``, ``x``) last in that order, leading axes
        free (``c`` gets NGFF type "channel", ``t`` "time", others "custom").
    scale : sequence of float
        Physical voxel size per axis (use 1.0 for non-spatial axes).
    units : sequence of str or None, optional
        NGFF unit per axis; default ``"nanometer"`` on spatial axes, none elsewhere.
    chunks : sequence of int, optional
        Chunk shape (default: the first block of ``data``).
    name : str, optional
        Multiscale name.
    attributes : mapping, optional
        Extra JSON attributes stored on the root group beside ``"ome"``.
    progress : bool
        Show a progress bar over chunks.

    Returns
    -------
    pathlib.Path
        The store folder.
    """
    arr = data if isinstance(data, da.Array) else da.from_array(np.asarray(data), chunks=chunks or "auto")
    axes = _check_axes(axes, arr.ndim)
    scale = tuple(float(s) for s in scale)
    if len(scale) != arr.ndim or not all(np.isfinite(s) and s > 0 for s in scale):
        raise NeurophantomError(f"ome-zarr: scale must be {arr.ndim} positive numbers, got {scale}")
    if units is None:
        units = tuple("nanometer" if a in _SPACE_AXES else None for a in axes)
    units = tuple(units)
    if len(units) != arr.ndim:
        raise NeurophantomError(f"ome-zarr: {len(units)} units for {arr.ndim} axes")
    attributes = dict(attributes or {})
    if "ome" in attributes:
        raise NeurophantomError("ome-zarr: attribute key 'ome' is reserved for the NGFF metadata")
    chunk_shape = _regular_chunks(arr, chunks)
    arr = arr.rechunk(chunk_shape)
    dtype = np.dtype(arr.dtype)

    import warnings

    from ome_zarr.format import FormatV05

    with warnings.catch_warnings():  # ome-zarr's module defaults use its own deprecated Scaler
        warnings.simplefilter("ignore", DeprecationWarning)
        from ome_zarr.writer import write_multiscales_metadata

    path = Path(path)
    with atomic_dir(path) as tmp:
        root = zarr.open_group(store=str(tmp), mode="w", zarr_format=3)
        zarr.create_array(
            store=str(tmp / "0"),
            shape=arr.shape,
            dtype=dtype,
            chunks=chunk_shape,
            serializer=BytesCodec(),
            compressors=[ZstdCodec(level=zstd_level), Crc32cCodec()],
            fill_value=0,
            chunk_key_encoding={"name": "default", "separator": "/"},
            dimension_names=list(axes),
            config={"write_empty_chunks": True},
            zarr_format=3,
        )
        blocks = arr.to_delayed().ravel()
        indices = list(itertools.product(*(range(n) for n in arr.numblocks)))
        tasks = [
            dask.delayed(_write_block)(b, str(tmp / "0"), idx, chunk_shape, dask_key_name=f"np-write-{k}")
            for k, (b, idx) in enumerate(zip(blocks, indices))
        ]
        written = dict(_compute_writes(tasks, progress, f"writing {path.name}"))
        atomic_write_json(tmp / "0" / MANIFEST, {
            "format": MANIFEST_FORMAT,
            "version": 1,
            "shape": list(arr.shape),
            "chunks": list(chunk_shape),
            "dtype": dtype.str,
            "checksum": "crc32c of the decoded chunk bytes in C order",
            "crc32c": {k: written[k] for k in sorted(written)},
        })
        dataset = {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": list(scale)}]}
        write_multiscales_metadata(root, [dataset], fmt=FormatV05(), axes=_axes_meta(axes, units), name=name)
        if attributes:
            root.attrs.update(attributes)
    return path


class _VerifiedArray:
    """Array-like over a zarr array that checks every chunk it reads against the manifest."""

    def __init__(self, array: zarr.Array, array_dir: Path, crcs: Mapping[str, int], root: Path | None = None):
        self._array = array
        self._dir = array_dir
        self._root = root if root is not None else array_dir
        self._crcs = crcs
        self.shape = tuple(array.shape)
        self.dtype = np.dtype(array.dtype)
        self.ndim = len(self.shape)
        self.chunks = tuple(array.chunks)

    def read_chunk(self, index: tuple[int, ...]) -> np.ndarray:
        key = chunk_key(index)
        where = f"{self._dir}: chunk {key}"
        from ._zarr_check import check_chunk_file

        if key not in self._crcs:
            raise CorruptDataError(f"{where} is not listed in the manifest (incomplete write)")
        check_chunk_file(self._root, self._dir, key, where, nbytes_of(self.chunks, self.dtype.itemsize))
        region = tuple(slice(i * c, min((i + 1) * c, s)) for i, c, s in zip(index, self.chunks, self.shape))
        try:
            block = np.asarray(self._array[region])
        except Exception as exc:  # codec errors (crc32c mismatch, zstd) come in several types
            raise CorruptDataError(f"{where} is corrupt ({exc.__class__.__name__}: {exc})".splitlines()[0]) from None
        if _crc(block) != self._crcs[key]:
            raise CorruptDataError(f"{where} is corrupt (checksum differs from the manifest)")
        return block

    def __getitem__(self, key) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        bounds = [k.indices(s) for k, s in zip(key, self.shape)]
        if any(st != 1 for _, _, st in bounds):
            raise NeurophantomError("ome-zarr: only unit-step slices are supported")
        lo = [b[0] for b in bounds]
        hi = [max(b[0], b[1]) for b in bounds]
        out = np.empty([h - l for l, h in zip(lo, hi)], dtype=self.dtype)
        grids = [range(l // c, (h - 1) // c + 1) if h > l else range(0) for l, h, c in zip(lo, hi, self.chunks)]
        for index in itertools.product(*grids):
            block = self.read_chunk(index)
            start = [i * c for i, c in zip(index, self.chunks)]
            src, dst = [], []
            for s0, n, l, h in zip(start, block.shape, lo, hi):
                a, b = max(s0, l), min(s0 + n, h)
                src.append(slice(a - s0, b - s0))
                dst.append(slice(a - l, b - l))
            out[tuple(dst)] = block[tuple(src)]
        return out


def _open(path: Path) -> tuple[_VerifiedArray, dict, dict]:
    from ._zarr_check import check_array_meta, check_manifest, check_multiscales

    if not path.is_dir():
        raise NeurophantomError(f"ome-zarr store not found: {path}")
    head = read_json(path / "zarr.json", "ome-zarr group metadata")
    ms, dataset, attrs = check_multiscales(head, path)
    array_dir = contained(path, dataset["path"], f"{path} dataset path")
    ndim = len(ms["axes"])
    meta = check_array_meta(read_json(array_dir / "zarr.json", "zarr array metadata"), array_dir, ndim,
                            tuple(a["name"] for a in ms["axes"]))
    crcs = check_manifest(read_json(array_dir / MANIFEST, "chunk manifest"), array_dir, meta)
    try:
        array = zarr.open_array(store=str(array_dir), mode="r")
    except Exception as exc:
        raise CorruptDataError(f"{array_dir}: unreadable zarr array ({exc.__class__.__name__})") from None
    if tuple(array.shape) != meta["shape"] or tuple(array.chunks) != meta["chunks"] or np.dtype(array.dtype) != meta["dtype"]:
        raise CorruptDataError(f"{array_dir}: zarr reads the array differently from its metadata")
    info = {"axes": ms["axes"], "scale": dataset["scale"]}
    return _VerifiedArray(array, array_dir, crcs, root=path), info, {k: v for k, v in attrs.items() if k != "ome"}


def read_ome_zarr(path: str | os.PathLike) -> OmeZarrImage:
    """Open an OME-Zarr store written by :func:`write_ome_zarr` (lazy, verified per chunk).

    Raises
    ------
    CorruptDataError
        Bad metadata or manifest now; a missing, undecodable or altered chunk when that
        chunk is computed (the message names the chunk).
    """
    path = Path(path)
    varr, meta, extra = _open(path)
    data = da.from_array(varr, chunks=varr.chunks, asarray=False, name=f"omezarr-{dask.base.tokenize(str(path.resolve()), varr.shape, sorted(varr._crcs.items()))}")
    axes = tuple(a["name"] for a in meta["axes"])
    units = tuple(a.get("unit") for a in meta["axes"])
    return OmeZarrImage(data=data, axes=axes, scale=tuple(float(s) for s in meta["scale"]), units=units, attributes=extra, path=path)


def verify_ome_zarr(path: str | os.PathLike) -> int:
    """Read every chunk of the store and check it against the manifest; returns the count.

    Raises :class:`~neurophantom.CorruptDataError` naming the first bad chunk.
    """
    varr, _, _ = _open(Path(path))
    grid = [range(-(-s // c)) for s, c in zip(varr.shape, varr.chunks)]
    n = 0
    for index in itertools.product(*grid):
        varr.read_chunk(index)
        n += 1
    return n
