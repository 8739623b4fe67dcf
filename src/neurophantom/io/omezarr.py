"""OME-Zarr (zarr v3, NGFF 0.5) volumes with a chunk-completeness manifest.

Layout written by :func:`write_ome_zarr` (one multiscale image at the root group)::

    NAME.ome.zarr/
        zarr.json               group; attributes["ome"] = NGFF 0.5 "multiscales" (+ "omero"
                                channel names when the image has a channel axis; extra keys)
        0/zarr.json             the full-resolution array (zarr v3)
        0/c/<i>/<j>/...         chunks: codecs bytes -> zstd -> crc32c
        0/manifest.json         which chunks were written, with a checksum of each
        1/, 2/, ...             the pyramid: each level halves the spatial axes of the one
                                before (2x2x2 mean for images, every other voxel for labels)
        labels/zarr.json        (label volumes) {"ome": {"labels": [LABEL]}}
        labels/LABEL/           the same arrays (hard links, no second copy) as an NGFF
                                ``image-label`` group: viewers show them as labels

A label volume (``label=`` in :func:`write_ome_zarr`: a phantom's neurons, a
segmentation, a lost-tissue mask) is its own root image and, by the same bytes, the
``labels/LABEL`` of that image, so NGFF readers and viewers see it as labels while every
neurophantom reader keeps reading level 0 of the root. :func:`add_label` links such a
store under another image's ``labels/`` (a scan's lost-tissue mask under the scan).

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

#: The pyramid stops before a spatial axis of the next level would be shorter than this.
MIN_LEVEL_EDGE = 16
#: At most this many levels (level 0 included).
MAX_LEVELS = 6
#: Display colours of the channels (``omero`` metadata), cycled: grey, then a colour-blind-safe set.
CHANNEL_COLOURS = ("FFFFFF", "0072B2", "E69F00", "009E73", "CC79A7", "56B4E9", "D55E00", "F0E442")

__all__ = ["OmeZarrImage", "write_ome_zarr", "read_ome_zarr", "verify_ome_zarr", "chunk_key", "add_label",
           "pyramid_shapes"]


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


def pyramid_shapes(shape: Sequence[int], axes: Sequence[str], levels: int | None = None) -> list[tuple[int, ...]]:
    """Shapes of the pyramid levels: each halves (rounding up) every spatial axis of the
    one before; ``levels`` None = as many as keep every spatial axis >= :data:`MIN_LEVEL_EDGE`
    (at most :data:`MAX_LEVELS`), always at least level 0."""
    spatial = [a in _SPACE_AXES for a in axes]
    out = [tuple(int(n) for n in shape)]
    while len(out) < (MAX_LEVELS if levels is None else int(levels)):
        nxt = tuple(-(-n // 2) if sp else n for n, sp in zip(out[-1], spatial))
        if levels is None and min(n for n, sp in zip(nxt, spatial) if sp) < MIN_LEVEL_EDGE:
            break
        out.append(nxt)
    return out


def _create_array(array_dir: Path, shape, dtype, chunks, axes, zstd_level: int) -> None:
    zarr.create_array(
        store=str(array_dir),
        shape=shape,
        dtype=dtype,
        chunks=chunks,
        serializer=BytesCodec(),
        compressors=[ZstdCodec(level=zstd_level), Crc32cCodec()],
        fill_value=0,
        chunk_key_encoding={"name": "default", "separator": "/"},
        dimension_names=list(axes),
        config={"write_empty_chunks": True},
        zarr_format=3,
    )


def _store_level(arr: da.Array, array_dir: Path, chunk_shape, axes, zstd_level: int, progress: bool, label: str) -> None:
    """Write ``arr`` chunk by chunk into a new array at ``array_dir``, then its manifest."""
    dtype = np.dtype(arr.dtype)
    arr = arr.rechunk(chunk_shape)
    _create_array(array_dir, arr.shape, dtype, chunk_shape, axes, zstd_level)
    blocks = arr.to_delayed().ravel()
    indices = list(itertools.product(*(range(n) for n in arr.numblocks)))
    tasks = [
        dask.delayed(_write_block)(b, str(array_dir), idx, chunk_shape, dask_key_name=f"np-write-{k}")
        for k, (b, idx) in enumerate(zip(blocks, indices))
    ]
    written = dict(_compute_writes(tasks, progress, label))
    atomic_write_json(array_dir / MANIFEST, {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "shape": list(arr.shape),
        "chunks": list(chunk_shape),
        "dtype": dtype.str,
        "checksum": "crc32c of the decoded chunk bytes in C order",
        "crc32c": {k: written[k] for k in sorted(written)},
    })


def _downsample(arr: da.Array, axes: Sequence[str], nearest: bool) -> da.Array:
    """Half the size on every spatial axis (rounding up): every other voxel for labels (a
    label value is never averaged into one that does not exist), else the 2x2x2 mean of
    the edge-padded array (integer images: the rounded mean, in their own dtype)."""
    spatial = [a in _SPACE_AXES for a in axes]
    if nearest:
        return arr[tuple(slice(None, None, 2) if sp else slice(None) for sp in spatial)]
    pad = [(0, n % 2) if sp else (0, 0) for n, sp in zip(arr.shape, spatial)]
    if any(p[1] for p in pad):
        arr = da.pad(arr, pad, mode="edge")
    factors = {i: 2 for i, sp in enumerate(spatial) if sp}
    dtype = np.dtype(arr.dtype)
    out = da.coarsen(np.mean, arr.astype(np.float64), factors)
    if np.issubdtype(dtype, np.integer):
        out = da.round(out)
    return out.astype(dtype)


def _channel_metadata(names: Sequence[str], smallest: da.Array, channel_axis: int) -> dict:
    """NGFF ``omero`` block: one entry per channel with its name, a colour and a display
    window (0.5th to 99.5th percentile of the pyramid's smallest level)."""
    data = np.moveaxis(np.asarray(smallest.compute()), channel_axis, 0).astype(np.float64)
    chans = []
    for k, name in enumerate(names):
        v = data[k][np.isfinite(data[k])]
        lo, hi = (float(x) for x in np.percentile(v, [0.5, 99.5])) if v.size else (0.0, 1.0)
        mn, mx = (float(v.min()), float(v.max())) if v.size else (0.0, 1.0)
        chans.append({"label": str(name), "color": CHANNEL_COLOURS[k % len(CHANNEL_COLOURS)], "active": True,
                      "window": {"min": mn, "max": mx, "start": lo, "end": hi if hi > lo else lo + 1.0}})
    return {"channels": chans, "rdefs": {"model": "color"}}


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link every file under ``src`` into ``dst`` (copy where links are not possible)."""
    import shutil

    for root, _, files in os.walk(src):
        target = dst / Path(root).relative_to(src)
        target.mkdir(parents=True, exist_ok=True)
        for f in files:
            try:
                os.link(Path(root) / f, target / f)
            except OSError:
                shutil.copy2(Path(root) / f, target / f)


def _write_label_group(image_store: Path, label: str, source: Path, properties: Sequence[Mapping] | None) -> None:
    """``image_store/labels/LABEL``: the arrays of the multiscale image ``source`` (linked),
    with its multiscales metadata plus NGFF ``image-label``; ``labels/zarr.json`` lists it."""
    from ome_zarr.format import FormatV05

    if not label.isidentifier():
        raise NeurophantomError(f"ome-zarr: label name must be an identifier, got {label!r}")
    head = read_json(source / "zarr.json", "ome-zarr group metadata")
    ome = dict(head["attributes"]["ome"])
    ms = [dict(m, name=label) for m in ome["multiscales"]]
    labels_dir = image_store / "labels"
    dest = labels_dir / label
    if dest.exists():
        raise NeurophantomError(f"ome-zarr: {dest} exists already")
    for ds in ms[0]["datasets"]:
        _link_tree(source / ds["path"], dest / ds["path"])
    image_label: dict = {"version": FormatV05().version, "source": {"image": "../../"}}
    if properties:
        image_label["properties"] = [dict(p) for p in properties]
    atomic_write_json(dest / "zarr.json", {"zarr_format": 3, "node_type": "group", "attributes": {
        "ome": {"version": ome["version"], "multiscales": ms, "image-label": image_label}}})
    listed = []
    if (labels_dir / "zarr.json").is_file():
        listed = list(read_json(labels_dir / "zarr.json", "labels group").get("attributes", {}).get("ome", {}).get("labels", []))
    atomic_write_json(labels_dir / "zarr.json", {"zarr_format": 3, "node_type": "group", "attributes": {
        "ome": {"version": ome["version"], "labels": [*listed, label]}}})


def add_label(image_store: str | os.PathLike, label: str, label_store: str | os.PathLike,
              properties: Sequence[Mapping] | None = None) -> Path:
    """List the label volume at ``label_store`` (written by :func:`write_ome_zarr`) as
    ``labels/LABEL`` of the image at ``image_store``, by hard links (no second copy).

    The label's spatial grid must be the image's (same spatial shape and scale)."""
    image_store, label_store = Path(image_store), Path(label_store)
    img, lab = read_ome_zarr(image_store), read_ome_zarr(label_store)
    sp = lambda im: [(n, s) for a, n, s in zip(im.axes, im.data.shape, im.scale) if a in _SPACE_AXES]  # noqa: E731
    if sp(img) != sp(lab):
        raise NeurophantomError(f"ome-zarr: label {label_store} is not on the grid of {image_store}")
    if not np.issubdtype(lab.data.dtype, np.integer):
        raise NeurophantomError(f"ome-zarr: a label volume must hold integers, {label_store} holds {lab.data.dtype}")
    _write_label_group(image_store, label, label_store, properties)
    return image_store


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
    levels: int | None = None,
    channel_names: Sequence[str] | None = None,
    label: str | None = None,
    label_properties: Sequence[Mapping[str, Any]] | None = None,
) -> Path:
    """Write ``data`` as a multiscale OME-Zarr image at ``path``, chunk by chunk.

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
    levels : int, optional
        Resolution levels (level 0 included); default: halve the spatial axes while each
        stays >= :data:`MIN_LEVEL_EDGE` voxels (see :func:`pyramid_shapes`). Each level is
        computed from the stored level before it, never from ``data`` again.
    channel_names : sequence of str, optional
        One name per index of the ``c`` axis, written as NGFF ``omero`` channels (with a
        colour and a display window).
    label : str, optional
        ``data`` is a label volume (integers): its pyramid takes every other voxel, and the
        store also lists it as ``labels/LABEL`` (NGFF ``image-label``, ``source`` the root).
    label_properties : sequence of mapping, optional
        NGFF ``image-label`` ``properties``: one mapping per label value
        (``{"label-value": 3, "neuron_id": 2, ...}``).

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
    if label is not None and not np.issubdtype(np.dtype(arr.dtype), np.integer):
        raise NeurophantomError(f"ome-zarr: a label volume must hold integers, got {arr.dtype}")
    if channel_names is not None:
        if "c" not in axes or len(channel_names) != arr.shape[axes.index("c")]:
            raise NeurophantomError(f"ome-zarr: {len(channel_names)} channel names for axes {axes} of shape {arr.shape}")
    shapes = pyramid_shapes(arr.shape, axes, levels)
    spatial = [a in _SPACE_AXES for a in axes]

    import warnings

    from ome_zarr.format import FormatV05

    with warnings.catch_warnings():  # ome-zarr's module defaults use its own deprecated Scaler
        warnings.simplefilter("ignore", DeprecationWarning)
        from ome_zarr.writer import write_multiscales_metadata

    path = Path(path)
    with atomic_dir(path) as tmp:
        root = zarr.open_group(store=str(tmp), mode="w", zarr_format=3)
        datasets = []
        level = arr
        for k, shape in enumerate(shapes):
            if k:
                prev = da.from_array(_open_level(tmp / str(k - 1)), chunks=chunk_shape, asarray=False)
                level = _downsample(prev, axes, nearest=label is not None)
                assert level.shape == shape, (level.shape, shape)
            _store_level(level, tmp / str(k), tuple(min(c, n) for c, n in zip(chunk_shape, shape)), axes, zstd_level,
                         progress, f"writing {path.name}" + (f" (level {k})" if k else ""))
            f = 2.0 ** k
            transforms = [{"type": "scale", "scale": [s * f if sp else s for s, sp in zip(scale, spatial)]}]
            if k and label is None:  # a 2^k mean is centred (2^k - 1)/2 level-0 voxels in
                transforms.append({"type": "translation",
                                   "translation": [s * (f - 1) / 2 if sp else 0.0 for s, sp in zip(scale, spatial)]})
            datasets.append({"path": str(k), "coordinateTransformations": transforms})
        meta: dict = {"type": "nearest" if label is not None else "mean"} if len(shapes) > 1 else {}
        if channel_names is not None:
            smallest = da.from_array(_open_level(tmp / str(len(shapes) - 1)), asarray=False)
            meta["metadata"] = {"omero": _channel_metadata(channel_names, smallest, axes.index("c"))}
        write_multiscales_metadata(root, datasets, fmt=FormatV05(), axes=_axes_meta(axes, units), name=name, **meta)
        if attributes:
            root.attrs.update(attributes)
        if label is not None:
            _write_label_group(tmp, label, tmp, label_properties)
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
        if not all(isinstance(k, slice) for k in key):
            raise NeurophantomError("ome-zarr: only slices are supported")
        bounds = [k.indices(s) for k, s in zip(key, self.shape)]
        if any(st < 1 for _, _, st in bounds):
            raise NeurophantomError("ome-zarr: only positive-step slices are supported")
        if any(st != 1 for _, _, st in bounds):  # read the unit-step box, then take every st-th voxel
            box = self[tuple(slice(a, b) for a, b, _ in bounds)]
            return box[tuple(slice(None, None, st) for _, _, st in bounds)]
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


def _open_level(array_dir: Path) -> "_VerifiedArray":
    """One stored level as a verified array (checked against its manifest chunk by chunk)."""
    manifest = read_json(array_dir / MANIFEST, "chunk manifest")
    return _VerifiedArray(zarr.open_array(store=str(array_dir), mode="r"), array_dir, manifest.get("crc32c", {}))


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
