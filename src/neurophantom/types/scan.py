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
    def from_json(cls, d: Mapping[str, Any]) -> "Codebook":
        try:
            return cls(scheme=d["scheme"], proteins=tuple(d["proteins"]), codewords=np.asarray(d["codewords"], dtype=np.int64),
                       rounds=d.get("rounds"), colors=d.get("colors"), fluorophores=d.get("fluorophores"),
                       per_tag=d.get("per_tag"), min_distance=int(d["min_distance"]), capacity=d.get("capacity"),
                       capacity_bound=int(d["capacity_bound"]))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, NeurophantomError):
                raise
            raise CorruptDataError(f"codebook record is malformed ({exc.__class__.__name__}: {exc})") from None


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
        if self.kind not in CHANNEL_KINDS:
            raise ValidationError(f"channel {self.name!r}: kind must be one of {CHANNEL_KINDS}, got {self.kind!r}")
        if self.kind == "tag" and not self.protein:
            raise ValidationError(f"tag channel {self.name!r} must name its protein")

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "round": self.round, "color": self.color, "protein": self.protein}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "ChannelInfo":
        try:
            return cls(str(d["name"]), str(d["kind"]), d.get("round"), d.get("color"), d.get("protein"))
        except (KeyError, TypeError) as exc:
            raise CorruptDataError(f"channel record is malformed ({exc.__class__.__name__}: {exc})") from None


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
        object.__setattr__(self, "origin_nm", tuple(float(v) for v in self.origin_nm))
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
        h = read_json(path / "scan.json", "scan header")
        if not isinstance(h, dict) or h.get("format") != SCAN_FORMAT:
            raise CorruptDataError(f"{path / 'scan.json'} is not a neurophantom scan header")
        if h.get("version") != SCAN_VERSION:
            raise CorruptDataError(f"{path / 'scan.json'}: unsupported scan version {h.get('version')!r}")
        img = read_ome_zarr(path / "scan.ome.zarr")
        if img.axes != ("c", "z", "y", "x"):
            raise CorruptDataError(f"{path / 'scan.ome.zarr'}: axes {img.axes}, expected (c, z, y, x)")
        try:
            vs = tuple(float(v) for v in h["voxel_size_nm"])
            if not np.allclose(vs, img.voxel_size_nm, rtol=1e-9):
                raise CorruptDataError(f"{path}: voxel size in scan.json {vs} differs from scan.ome.zarr {img.voxel_size_nm}")
            mask = None
            if (path / "lost_mask.ome.zarr").exists():
                mask = read_ome_zarr(path / "lost_mask.ome.zarr").data.astype(bool)
            # A block-wise identity in front of the verified reader: dask then always reads
            # whole chunks (the reader takes slices only), and any indexing works on top.
            images = img.data.map_blocks(np.asarray, dtype=img.data.dtype)
            return cls(
                images=images, channels=tuple(ChannelInfo.from_json(c) for c in h["channels"]), voxel_size_nm=vs,
                instrument=h["instrument"], config=h["config"], instrument_seconds=float(h["instrument_seconds"]),
                lost_fraction=float(h["lost_fraction"]), lost_mask=mask, lost_regions=tuple(h.get("lost_regions", ())),
                codebook=Codebook.from_json(h["codebook"]) if h.get("codebook") else None, seed=int(h["seed"]),
                origin_nm=tuple(h.get("origin_nm", (0, 0, 0))), provenance=h.get("provenance", {}),
            )
        except (KeyError, TypeError) as exc:
            raise CorruptDataError(f"{path / 'scan.json'} is malformed ({exc.__class__.__name__}: {exc})") from None
        except ValidationError as exc:
            raise CorruptDataError(f"{path}: {exc}") from None

