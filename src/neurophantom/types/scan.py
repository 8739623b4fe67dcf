"""The Scan: what a static instrument produced, and nothing more.

A Scan holds image volumes (channels, z, y, x) as a lazy dask array, a description of
each channel (membrane stain, barcode round and colour, or a direct tag), the voxel size
in specimen (pre-expansion) nanometres, the instrument's configuration, the time the real
instrument would have needed (``instrument_seconds``), the damage record (lost mask,
lost regions and the lost fraction), the barcode codebook when barcodes were used, and the
seed. It never carries ground truth: no label volume, no molecule or synapse table.

On disk (``Scan.save``)::

    DIR/scan.ome.zarr       images (c, z, y, x), float32 detector electrons, OME-Zarr
    DIR/lost_mask.ome.zarr  uint8 (z, y, x), 1 where tissue was lost (when any was)
    DIR/scan.json           everything else (format "neurophantom.scan")
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import dask.array as da
import numpy as np

from .._errors import CorruptDataError, NeurophantomError, ValidationError
from ._header import Header

SCAN_FORMAT = "neurophantom.scan"
SCAN_VERSION = 1
INSTRUMENTS = ("exm", "synchrotron", "em")
CHANNEL_KINDS = ("membrane", "barcode", "tag")


@dataclass(frozen=True)
class Codebook:
    """Which barcode each protein type carries.

    ``scheme="serial"``: ``codewords[i, r]`` is the colour (0..colors-1) of protein ``i`` in
    round ``r``; distance = rounds that differ. ``scheme="parallel"``: ``codewords[i, f]`` is
    1 when fluorophore ``f`` is in protein ``i``'s conjugate (``per_tag`` ones per row);
    distance = binary Hamming distance. ``capacity`` is how many protein types the designed
    code holds in full (``None`` when not enumerated), ``capacity_bound`` an upper bound for
    any code of this shape and distance.
    """

    scheme: str
    proteins: tuple[str, ...]
    codewords: np.ndarray
    rounds: int | None
    colors: int | None
    fluorophores: int | None
    per_tag: int | None
    min_distance: int
    capacity: int | None
    capacity_bound: int

    def __post_init__(self) -> None:
        cw = np.asarray(self.codewords)
        object.__setattr__(self, "codewords", cw)
        object.__setattr__(self, "proteins", tuple(self.proteins))
        n = len(self.proteins)
        if len(set(self.proteins)) != n or n == 0:
            raise ValidationError(f"codebook: protein names must be unique and non-empty, got {self.proteins}")
        if self.scheme == "serial":
            if not (self.rounds and self.colors) or cw.shape != (n, self.rounds):
                raise ValidationError(f"serial codebook: codewords shape {cw.shape} != ({n}, rounds={self.rounds})")
            if cw.size and (cw.min() < 0 or cw.max() >= self.colors):
                raise ValidationError(f"serial codebook: colours must be in [0, {self.colors})")
        elif self.scheme == "parallel":
            if not (self.fluorophores and self.per_tag) or cw.shape != (n, self.fluorophores):
                raise ValidationError(f"parallel codebook: codewords shape {cw.shape} != ({n}, fluorophores={self.fluorophores})")
            if not np.isin(cw, (0, 1)).all() or not (cw.sum(axis=1) == self.per_tag).all():
                raise ValidationError(f"parallel codebook: every conjugate must hold exactly {self.per_tag} fluorophores")
        else:
            raise ValidationError(f"codebook scheme must be 'serial' or 'parallel', got {self.scheme!r}")
        if self.achieved_min_distance < self.min_distance:
            raise ValidationError(
                f"codebook: two codewords are {self.achieved_min_distance} apart, below min_distance {self.min_distance}")

    @property
    def achieved_min_distance(self) -> int:
        """Smallest distance between two codewords in use (the code length if only one)."""
        cw = self.codewords
        if cw.shape[0] < 2:
            return int(cw.shape[1])
        best = int(cw.shape[1])
        for i in range(0, cw.shape[0], 256):  # all pairs, in row blocks to bound memory
            d = np.count_nonzero(cw[i:i + 256, None, :] != cw[None, :, :], axis=2)
            rows = np.arange(i, min(i + 256, cw.shape[0]))
            d[rows - i, rows] = best
            best = min(best, int(d.min()))
        return best

    @property
    def correctable_errors(self) -> int:
        """Errors the nearest-codeword decoder corrects: ``(d - 1) // 2`` (symbol errors for
        serial codes; for parallel codes, binary distance counts each swapped fluorophore twice)."""
        d = self.achieved_min_distance
        return (d - 1) // 2

    @property
    def n_channels(self) -> int:
        return self.rounds * self.colors if self.scheme == "serial" else self.fluorophores

    def to_json(self) -> dict:
        return {
            "scheme": self.scheme, "proteins": list(self.proteins), "codewords": self.codewords.tolist(),
            "rounds": self.rounds, "colors": self.colors, "fluorophores": self.fluorophores,
            "per_tag": self.per_tag, "min_distance": self.min_distance,
            "achieved_min_distance": self.achieved_min_distance, "capacity": self.capacity,
            "capacity_bound": self.capacity_bound,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any], where: str = "codebook record") -> "Codebook":
        h = Header(d, where)
        proteins = h.strs("proteins")
        rows = h.list("codewords")
        if not 1 <= len(proteins) <= 4096 or len(rows) != len(proteins):
            raise CorruptDataError(f"{where}: {len(rows)} codewords for {len(proteins)} proteins (1 to 4096 expected)")
        width = len(rows[0]) if isinstance(rows[0], list) else -1
        for i, r in enumerate(rows):
            if not isinstance(r, list) or len(r) != width or not 1 <= width <= 256 or \
                    any(isinstance(x, bool) or not isinstance(x, int) or not 0 <= x < 256 for x in r):
                raise CorruptDataError(f"{where}: codeword {i} must be a list of {max(width, 1)} small non-negative integers")
        small = dict(lo=1, hi=4096, optional=True)
        try:
            return cls(scheme=h.str("scheme", choices=("serial", "parallel")), proteins=proteins,
                       codewords=np.asarray(rows, dtype=np.int64), rounds=h.int("rounds", **small),
                       colors=h.int("colors", **small), fluorophores=h.int("fluorophores", **small),
                       per_tag=h.int("per_tag", **small), min_distance=h.int("min_distance", lo=0, hi=256),
                       capacity=h.int("capacity", lo=0, optional=True), capacity_bound=h.int("capacity_bound", lo=0))
        except ValidationError as exc:
            raise CorruptDataError(f"{where}: {exc}") from None


@dataclass(frozen=True)
class ChannelInfo:
    """One image channel: ``kind`` membrane | barcode | tag; barcode round and colour
    (serial: colour index; parallel: spectral detection channel); the protein a direct tag binds."""

    name: str
    kind: str
    round: int | None = None
    color: int | None = None
    protein: str | None = None

    def __post_init__(self) -> None:
        for name in ("round", "color"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0):
                raise ValidationError(f"channel {self.name!r}: {name} must be a non-negative integer or None, got {v!r}")
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError(f"channel name must be non-empty text, got {self.name!r}")
        if self.protein is not None and not isinstance(self.protein, str):
            raise ValidationError(f"channel {self.name!r}: protein must be text, got {self.protein!r}")
        if self.kind not in CHANNEL_KINDS:
            raise ValidationError(f"channel {self.name!r}: kind must be one of {CHANNEL_KINDS}, got {self.kind!r}")
        if self.kind == "tag" and not self.protein:
            raise ValidationError(f"tag channel {self.name!r} must name its protein")

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "round": self.round, "color": self.color, "protein": self.protein}

    @classmethod
    def from_json(cls, d: Mapping[str, Any], where: str = "channel record") -> "ChannelInfo":
        h = Header(d, where)
        try:
            return cls(h.str("name"), h.str("kind", choices=CHANNEL_KINDS), h.int("round", lo=0, optional=True),
                       h.int("color", lo=0, optional=True), h.str("protein", optional=True))
        except ValidationError as exc:
            raise CorruptDataError(f"{where}: {exc}") from None


def _freeze(obj: Any) -> Any:
    return MappingProxyType({k: _freeze(v) for k, v in obj.items()}) if isinstance(obj, Mapping) else obj


def _thaw(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {k: _thaw(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_thaw(v) for v in obj]
    return obj


@dataclass(frozen=True)
class Scan:
    """An instrument's output: images, channel descriptions, voxel size, time, damage.

    Parameters
    ----------
    images : dask.array.Array
        (c, z, y, x) float32, detector electrons.
    channels : tuple of ChannelInfo
        One per image channel.
    voxel_size_nm : (z, y, x) floats
        Voxel edge in specimen (pre-expansion) nanometres.
    instrument : str
        ``"exm"``, ``"synchrotron"`` or ``"em"``.
    config : mapping
        The instrument configuration (JSON-ready).
    instrument_seconds : float
        Time the real instrument would need for this volume.
    lost_fraction : float
        Fraction of scan voxels whose tissue was lost.
    lost_mask : dask.array.Array or None
        (z, y, x) bool, True where tissue was lost; None when nothing was.
    lost_regions : tuple of dict
        Lost holes and slabs (nm) and section shifts, as records.
    codebook : Codebook or None
        The barcode codebook, when barcodes were imaged.
    seed : int
        Seed of every random draw of this scan.
    origin_nm : (z, y, x) floats
        Specimen coordinate of the corner of voxel (0, 0, 0).
    provenance : mapping
        Free record of the inputs (e.g. the specimen's path and seed; never its content).
    """

    images: da.Array
    channels: tuple[ChannelInfo, ...]
    voxel_size_nm: tuple[float, float, float]
    instrument: str
    config: Mapping[str, Any]
    instrument_seconds: float
    lost_fraction: float = 0.0
    lost_mask: da.Array | None = None
    lost_regions: tuple = ()
    codebook: Codebook | None = None
    seed: int = 0
    origin_nm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    provenance: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.images, da.Array):
            object.__setattr__(self, "images", da.from_array(np.asarray(self.images)))
        if self.images.ndim != 4:
            raise ValidationError(f"scan images must be (c, z, y, x), got {self.images.ndim}-d")
        object.__setattr__(self, "channels", tuple(self.channels))
        if len(self.channels) != self.images.shape[0] or self.images.shape[0] == 0:
            raise ValidationError(f"scan has {self.images.shape[0]} image channels but {len(self.channels)} channel records")
        names = [c.name for c in self.channels]
        if len(set(names)) != len(names):
            raise ValidationError(f"scan channel names must be unique, got {names}")
        vs = tuple(float(v) for v in self.voxel_size_nm)
        if len(vs) != 3 or not all(math.isfinite(v) and v > 0 for v in vs):
            raise ValidationError(f"scan voxel_size_nm must be 3 positive numbers (z, y, x), got {self.voxel_size_nm}")
        object.__setattr__(self, "voxel_size_nm", vs)
        origin = tuple(float(v) for v in self.origin_nm)
        if len(origin) != 3 or not all(math.isfinite(v) for v in origin):
            raise ValidationError(f"scan origin_nm must be 3 finite numbers (z, y, x), got {self.origin_nm}")
        object.__setattr__(self, "origin_nm", origin)
        if self.instrument not in INSTRUMENTS:
            raise ValidationError(f"unknown instrument {self.instrument!r} (known: {', '.join(INSTRUMENTS)})")
        if not (math.isfinite(self.instrument_seconds) and self.instrument_seconds >= 0):
            raise ValidationError(f"instrument_seconds must be finite and >= 0, got {self.instrument_seconds}")
        if not 0.0 <= float(self.lost_fraction) <= 1.0:
            raise ValidationError(f"lost_fraction must be in [0, 1], got {self.lost_fraction}")
        if self.lost_mask is not None and tuple(self.lost_mask.shape) != tuple(self.images.shape[1:]):
            raise ValidationError(f"lost_mask shape {self.lost_mask.shape} != image shape {self.images.shape[1:]}")
        if self.lost_mask is None and self.lost_fraction > 0:
            raise ValidationError("a scan with lost tissue needs its lost_mask")
        n_barcode = sum(c.kind == "barcode" for c in self.channels)
        if self.codebook is not None and n_barcode != self.codebook.n_channels:
            raise ValidationError(f"codebook needs {self.codebook.n_channels} barcode channels, scan has {n_barcode}")
        if self.codebook is None and n_barcode:
            raise ValidationError("barcode channels without a codebook")
        object.__setattr__(self, "config", _freeze(copy.deepcopy(_thaw(self.config))))
        object.__setattr__(self, "provenance", _freeze(copy.deepcopy(_thaw(self.provenance))))
        object.__setattr__(self, "lost_regions", tuple(_freeze(r) for r in self.lost_regions))

    @property
    def shape(self) -> tuple[int, int, int]:
        """Spatial shape (z, y, x)."""
        return tuple(int(s) for s in self.images.shape[1:])

    def channel_index(self, name: str) -> int:
        for i, c in enumerate(self.channels):
            if c.name == name:
                return i
        raise NeurophantomError(f"scan has no channel {name!r} (channels: {', '.join(c.name for c in self.channels)})")

    def header(self) -> dict:
        """The scan.json record."""
        return {
            "format": SCAN_FORMAT, "version": SCAN_VERSION, "instrument": self.instrument,
            "shape": list(self.shape), "voxel_size_nm": list(self.voxel_size_nm), "axes": ["c", "z", "y", "x"],
            "origin_nm": list(self.origin_nm), "channels": [c.to_json() for c in self.channels],
            "instrument_seconds": float(self.instrument_seconds), "lost_fraction": float(self.lost_fraction),
            "lost_regions": _thaw(self.lost_regions), "codebook": self.codebook.to_json() if self.codebook else None,
            "seed": int(self.seed), "config": _thaw(self.config), "provenance": _thaw(self.provenance),
        }

    def save(self, path, *, progress: bool = False, chunks=None) -> Path:
        """Write DIR/scan.ome.zarr, DIR/lost_mask.ome.zarr (if any loss) and DIR/scan.json atomically."""
        from ..io import atomic_dir

        path = Path(path)
        with atomic_dir(path) as tmp:
            self.write_files(tmp, progress=progress, chunks=chunks)
        return path

    def write_files(self, folder, *, progress: bool = False, chunks=None) -> None:
        """Write the scan's files into an existing (temporary) folder; :meth:`save` is atomic."""
        from ..io import atomic_write_json
        from ..io.omezarr import add_label, write_ome_zarr

        folder = Path(folder)
        ch = tuple(chunks) if chunks is not None else (1,) + tuple(c[0] for c in self.images.chunks[1:])
        names = [c.name for c in self.channels]
        write_ome_zarr(folder / "scan.ome.zarr", self.images.astype(np.float32), axes=("c", "z", "y", "x"),
                       scale=(1.0,) + self.voxel_size_nm, chunks=ch, name="scan", progress=progress,
                       channel_names=names, attributes={"neurophantom": {"kind": "scan", "channels": names}})
        if self.lost_mask is not None:
            write_ome_zarr(folder / "lost_mask.ome.zarr", self.lost_mask.astype(np.uint8), axes=("z", "y", "x"),
                           scale=self.voxel_size_nm, chunks=ch[1:], name="lost_mask", label="lost_mask",
                           label_properties=[{"label-value": 1, "meaning": "tissue lost (not imaged)"}])
            add_label(folder / "scan.ome.zarr", "lost_mask", folder / "lost_mask.ome.zarr")
        atomic_write_json(folder / "scan.json", self.header())

    @classmethod
    def load(cls, path) -> "Scan":
        """Read a scan folder; bad metadata raises now, a bad chunk when it is computed."""
        from ..io import read_json
        from ..io.omezarr import read_ome_zarr

        path = Path(path)
        if not path.is_dir():
            raise NeurophantomError(f"scan folder not found: {path}")
        where = str(path / "scan.json")
        h = Header(read_json(path / "scan.json", "scan header"), where)
        if h.raw("format", None) != SCAN_FORMAT:
            raise CorruptDataError(f"{where} is not a neurophantom scan header")
        if h.raw("version", None) != SCAN_VERSION:
            raise CorruptDataError(f"{where}: unsupported scan version {h.raw('version', None)!r}")
        if h.raw("axes", ["c", "z", "y", "x"]) != ["c", "z", "y", "x"]:
            raise CorruptDataError(f"{where}: axes {h.raw('axes')} are not ['c', 'z', 'y', 'x']")
        instrument = h.str("instrument", choices=INSTRUMENTS)
        shape = h.ints("shape", 3, lo=1)
        vs = h.vector("voxel_size_nm", 3, positive=True, hi=1e9)
        origin = h.vector("origin_nm", 3, lo=-1e12, hi=1e12, default=[0, 0, 0])
        channels = tuple(ChannelInfo.from_json(c, f"{where} channel {i}") for i, c in enumerate(h.list("channels")))
        seconds = h.float("instrument_seconds", lo=0)
        lost = h.float("lost_fraction", lo=0, hi=1)
        regions = h.list("lost_regions", default=[])
        if any(not isinstance(r, dict) for r in regions):
            raise CorruptDataError(f"{where}: field 'lost_regions' must be a list of JSON objects")
        cb = h.raw("codebook", None)
        codebook = None if cb is None else Codebook.from_json(cb, f"{where} codebook")
        seed, config, provenance = h.int("seed", lo=0), h.dict("config"), h.dict("provenance", default={})
        from ..io import contained

        img = read_ome_zarr(contained(path, "scan.ome.zarr", f"scan {path}"))
        if img.axes != ("c", "z", "y", "x"):
            raise CorruptDataError(f"{path / 'scan.ome.zarr'}: axes {img.axes}, expected (c, z, y, x)")
        if np.dtype(img.data.dtype) != np.float32:
            raise CorruptDataError(f"{path / 'scan.ome.zarr'}: images are {img.data.dtype}, expected float32")
        if tuple(img.data.shape[1:]) != shape or img.data.shape[0] != len(channels):
            raise CorruptDataError(f"{path}: scan.json says {len(channels)} channels of {list(shape)} voxels, "
                                   f"scan.ome.zarr holds {list(img.data.shape)}")
        if not np.allclose(vs, img.voxel_size_nm, rtol=1e-9):
            raise CorruptDataError(f"{path}: voxel size in scan.json {vs} differs from scan.ome.zarr {img.voxel_size_nm}")
        names = (img.attributes.get("neurophantom") or {}).get("channels") if isinstance(img.attributes.get("neurophantom"), dict) else None
        if names is not None and list(names) != [c.name for c in channels]:
            raise CorruptDataError(f"{path}: channel names in scan.json and scan.ome.zarr differ")
        mask = None
        if (path / "lost_mask.ome.zarr").exists():
            m = read_ome_zarr(contained(path, "lost_mask.ome.zarr", f"scan {path}"))
            if np.dtype(m.data.dtype) != np.uint8 or m.axes != ("z", "y", "x") or tuple(m.data.shape) != shape:
                raise CorruptDataError(f"{path / 'lost_mask.ome.zarr'}: expected uint8 (z, y, x) of {list(shape)}, "
                                       f"got {m.data.dtype} {m.axes} {list(m.data.shape)}")
            mask = m.data.astype(bool)
        # A block-wise identity in front of the verified reader: dask then always reads
        # whole chunks (the reader takes slices only), and any indexing works on top.
        images = img.data.map_blocks(np.asarray, dtype=img.data.dtype)
        try:
            return cls(
                images=images, channels=channels, voxel_size_nm=vs, instrument=instrument, config=config,
                instrument_seconds=seconds, lost_fraction=lost, lost_mask=mask, lost_regions=tuple(regions),
                codebook=codebook, seed=seed, origin_nm=origin, provenance=provenance,
            )
        except ValidationError as exc:
            raise CorruptDataError(f"{path}: {exc}") from None
