"""What an instrument images: a label volume and the protein molecules in it.

``Specimen`` is the array-level view of a :class:`~neurophantom.types.phantom.Phantom`
that the instruments need (labels, voxel size, molecule positions and protein types),
so the physics can also run on plain arrays (tests, benchmarks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from .._errors import NeurophantomError


@dataclass(frozen=True)
class Specimen:
    """Labels (z, y, x) with ``voxel_size_nm``, and molecules at ``molecule_pos_nm`` (M, 3)
    whose protein is ``proteins[molecule_protein[i]]``."""

    labels: Any
    voxel_size_nm: tuple[float, float, float]
    molecule_pos_nm: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    molecule_protein: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    proteins: tuple[str, ...] = ()
    source: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(getattr(self.labels, "shape", ())) != 3:
            raise NeurophantomError(f"specimen labels must be 3-d (z, y, x), got shape {getattr(self.labels, 'shape', None)}")
        vs = tuple(float(v) for v in self.voxel_size_nm)
        if len(vs) != 3 or not all(np.isfinite(v) and v > 0 for v in vs):
            raise NeurophantomError(f"specimen voxel_size_nm must be 3 positive numbers, got {self.voxel_size_nm}")
        object.__setattr__(self, "voxel_size_nm", vs)
        pos = np.asarray(self.molecule_pos_nm, dtype=np.float64).reshape(-1, 3)
        prot = np.asarray(self.molecule_protein, dtype=np.int64).reshape(-1)
        if pos.shape[0] != prot.shape[0]:
            raise NeurophantomError(f"specimen has {pos.shape[0]} molecule positions but {prot.shape[0]} protein indices")
        if prot.size and (prot.min() < 0 or prot.max() >= len(self.proteins)):
            raise NeurophantomError(f"molecule protein index outside 0..{len(self.proteins) - 1}")
        if not np.all(np.isfinite(pos)):
            raise NeurophantomError("molecule positions must be finite")
        object.__setattr__(self, "molecule_pos_nm", pos)
        object.__setattr__(self, "molecule_protein", prot)
        object.__setattr__(self, "proteins", tuple(str(p) for p in self.proteins))

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.labels.shape)

    @property
    def extent_nm(self) -> tuple[float, float, float]:
        return tuple(s * v for s, v in zip(self.shape, self.voxel_size_nm))

    @property
    def volume_um3(self) -> float:
        return float(np.prod(self.extent_nm)) * 1e-9

    def crop(self, start_vox, stop_vox) -> tuple["Specimen", tuple[float, float, float]]:
        """The sub-volume ``start_vox..stop_vox`` (z, y, x) with its molecules, re-origined at
        its first voxel; also returns that origin in the original frame (nm)."""
        start = [int(v) for v in start_vox]
        stop = [int(v) for v in stop_vox]
        if len(start) != 3 or len(stop) != 3 or any(not 0 <= a < b <= n for a, b, n in zip(start, stop, self.shape)):
            raise NeurophantomError(f"region {start}..{stop} is not a non-empty box inside the specimen {list(self.shape)}")
        labels = self.labels
        if not hasattr(labels, "compute") and not isinstance(labels, np.ndarray):
            import dask.array as da

            labels = da.from_array(labels, chunks=getattr(labels, "chunks", "auto"))
        origin = np.array(start, dtype=np.float64) * np.array(self.voxel_size_nm)
        end = np.array(stop, dtype=np.float64) * np.array(self.voxel_size_nm)
        inside = np.all((self.molecule_pos_nm >= origin) & (self.molecule_pos_nm < end), axis=1)
        sub = Specimen(labels[tuple(slice(a, b) for a, b in zip(start, stop))], self.voxel_size_nm,
                       self.molecule_pos_nm[inside] - origin, self.molecule_protein[inside], self.proteins,
                       {**dict(self.source), "region_vox": [start, stop]})
        return sub, tuple(float(v) for v in origin)

    @classmethod
    def from_phantom(cls, phantom, *, source: Mapping[str, Any] | None = None) -> "Specimen":
        """The specimen of a Phantom; protein types in sorted name order."""
        mol = phantom.molecules
        names = mol["protein"].astype(str)
        proteins = tuple(sorted(names.unique().tolist()))
        idx = pd.Categorical(names, categories=proteins).codes.astype(np.int64)
        pos = mol[["z_nm", "y_nm", "x_nm"]].to_numpy(dtype=np.float64)
        src = {"phantom_seed": int(phantom.seed), "phantom_shape": list(phantom.shape),
               "phantom_voxel_size_nm": list(phantom.voxel_size_nm), "representation": representation(phantom)}
        src.update(source or {})
        return cls(phantom.labels, phantom.voxel_size_nm, pos, idx, proteins, src)


def representation(phantom) -> dict[str, Any]:
    """How the phantom draws its specimen smaller than life, which a scan of real tissue
    would not need undoing: lengths scaled by ``geometry_scale``, membrane drawn as
    ``1 / membrane_area_factor`` of its area (abbreviated arbors, no spines), and each
    channel type's molecules thinned to ``channel_sampling_fraction`` (a compute budget).
    The scan passes it on, as a lab knows its own expansion factor, so that the
    reconstruction reports the specimen's membrane and molecule numbers, not the
    drawing's. It carries no fact about the specimen's biology."""
    meta = phantom.metadata
    types = list(meta.get("channel_types", []))
    f = meta.get("channel_sampling_fraction", 1.0)
    frac = {c: float(f.get(c, 1.0)) for c in types} if isinstance(f, dict) else {c: float(f) for c in types}
    return {"geometry_scale": float(meta.get("geometry_scale", 1.0)),
            "membrane_area_factor": float(meta.get("membrane_area_factor", 1.0)),
            "channel_sampling_fraction": frac}
