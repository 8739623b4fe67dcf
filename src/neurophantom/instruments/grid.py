"""The scan's voxel grid and the mass-conserving resampling from the specimen grid.

Coordinates are specimen (pre-expansion) nanometres with axis order (z, y, x). Voxel ``i``
of an axis with voxel size ``v`` covers ``[i v, (i + 1) v)``; the specimen's voxel (0, 0, 0)
starts at the origin, and the scan grid covers the whole specimen (its last voxel may reach
past the specimen, where there is no tissue).

Resampling is an area-weighted (box-overlap) average along each axis, so the scan voxel
holds the fraction of its volume occupied by what the specimen voxels held. It is
hand-written rather than ``scipy.ndimage.zoom`` (an interpolator, which does not conserve
mass) or ``skimage.transform.downscale_local_mean`` (integer factors only). Weights are
computed from global indices and summed tap by tap in a fixed order, so a block of the
output is bit-identical whether computed alone or as part of the whole volume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._errors import NeurophantomError


@dataclass(frozen=True)
class ScanGrid:
    """A regular voxel grid in specimen nanometres.

    Parameters
    ----------
    shape : tuple of int
        Voxels per axis (z, y, x).
    voxel_size_nm : tuple of float
        Voxel edge per axis (z, y, x), specimen (pre-expansion) nm.
    """

    shape: tuple[int, int, int]
    voxel_size_nm: tuple[float, float, float]

    def __post_init__(self) -> None:
        if len(self.shape) != 3 or any(int(s) < 1 for s in self.shape):
            raise NeurophantomError(f"grid shape must be 3 positive ints (z, y, x), got {self.shape}")
        if len(self.voxel_size_nm) != 3 or not all(math.isfinite(v) and v > 0 for v in self.voxel_size_nm):
            raise NeurophantomError(f"voxel_size_nm must be 3 positive numbers (z, y, x), got {self.voxel_size_nm}")
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "voxel_size_nm", tuple(float(v) for v in self.voxel_size_nm))

    @property
    def extent_nm(self) -> tuple[float, float, float]:
        return tuple(n * v for n, v in zip(self.shape, self.voxel_size_nm))

    @property
    def n_voxels(self) -> int:
        return int(np.prod(self.shape))

    @classmethod
    def covering(cls, extent_nm, voxel_size_nm) -> "ScanGrid":
        """The smallest grid with ``voxel_size_nm`` that covers ``extent_nm`` from the origin."""
        shape = tuple(max(1, math.ceil(e / v - 1e-9)) for e, v in zip(extent_nm, voxel_size_nm))
        return cls(shape, tuple(voxel_size_nm))

    def centres_nm(self, axis: int, start: int, stop: int) -> np.ndarray:
        """Voxel centres (nm) of indices ``start..stop-1`` along ``axis``."""
        return (np.arange(start, stop, dtype=np.float64) + 0.5) * self.voxel_size_nm[axis]


def source_range(out_start: int, out_stop: int, v_in: float, v_out: float, n_in: int) -> tuple[int, int]:
    """Input indices ``[j0, j1)`` (clipped to ``[0, n_in)``) that overlap outputs ``[out_start, out_stop)``."""
    j0 = int(math.floor(out_start * v_out / v_in))
    j1 = int(math.ceil(out_stop * v_out / v_in))
    return max(0, min(j0, n_in)), max(0, min(j1, n_in))


def _taps(out_start: int, out_stop: int, v_in: float, v_out: float) -> tuple[np.ndarray, np.ndarray]:
    """Input index and weight of each tap, shape (K, n_out); weight = overlap / v_out."""
    i = np.arange(out_start, out_stop, dtype=np.int64)
    lo = i * v_out
    hi = (i + 1) * v_out
    j_first = np.floor(lo / v_in).astype(np.int64)
    j_last = np.ceil(hi / v_in).astype(np.int64) - 1
    k = int(np.max(j_last - j_first)) + 1 if i.size else 1
    idx = j_first[None, :] + np.arange(k, dtype=np.int64)[:, None]
    a = np.maximum(lo[None, :], idx * v_in)
    b = np.minimum(hi[None, :], (idx + 1) * v_in)
    w = np.clip(b - a, 0.0, None) / v_out
    return idx, w


def resample_axis(arr: np.ndarray, axis: int, in_start: int, n_in_total: int,
                  out_start: int, out_stop: int, v_in: float, v_out: float) -> np.ndarray:
    """Area-weighted resampling of ``arr`` along ``axis``.

    ``arr`` holds input voxels ``[in_start, in_start + arr.shape[axis])`` of an axis with
    ``n_in_total`` voxels; inputs outside ``[0, n_in_total)`` count as zero. The result has
    ``out_stop - out_start`` voxels along ``axis``. Mass is conserved:
    ``sum(out) * v_out == sum(in) * v_in`` when the inputs are all inside.
    """
    idx, w = _taps(out_start, out_stop, v_in, v_out)
    n_here = arr.shape[axis]
    local = idx - in_start
    valid = (idx >= 0) & (idx < n_in_total) & (w > 0)
    if np.any(valid & ((local < 0) | (local >= n_here))):
        raise NeurophantomError("resample_axis: input block does not cover the requested output")
    w = np.where(valid, w, 0.0)
    local = np.clip(local, 0, max(n_here - 1, 0))
    shape = [1] * arr.ndim
    shape[axis] = out_stop - out_start
    out = np.zeros(arr.shape[:axis] + (out_stop - out_start,) + arr.shape[axis + 1:], dtype=np.float64)
    if n_here == 0:
        return out
    for k in range(idx.shape[0]):  # fixed tap order: same float sums in any chunking
        out += np.take(arr, local[k], axis=axis) * w[k].reshape(shape)
    return out
