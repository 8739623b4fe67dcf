"""Smooth random expansion distortion: a displacement field in specimen nanometres.

Expansion is nearly isotropic, with small, smooth, non-rigid errors: Chen, Tillberg &
Boyden (2015) measured root-mean-square length errors of a few percent between pre- and
post-expansion images. The field here is a random-Fourier-feature Gaussian random field
(Rahimi & Recht 2007): per axis ``a``,

    d_a(x) = rms_nm * sqrt(2 / K) * sum_k cos(k_k . x + phi_{a,k})

with ``K`` wave vectors drawn from a normal distribution of scale ``1 / length_nm`` (a
squared-exponential correlation of length ``length_nm``) and uniform phases. It is defined
everywhere by a few numbers, so every chunk evaluates the same field, and it is bounded by
``rms_nm * sqrt(2 K)``. On a grid, ``cos(p + l)`` is expanded as
``cos p cos l - sin p sin l`` over a (z, y) plane term and an x line term computed from
global coordinates, so every chunk gets the same floats as the whole volume. To image a
volume, the field is evaluated at the centres of cells of a few voxels (aligned to the
global grid, at most 1/20 of the correlation length across) and held constant in each
cell (:meth:`Distortion.on_cells`): the step between cells is about 1/20 of the field's
change over a correlation length, far below a voxel, and the cost drops by the cell volume.

References
----------
Chen F, Tillberg PW, Boyden ES (2015) Expansion microscopy. Science 347:543-548.
Rahimi A, Recht B (2007) Random features for large-scale kernel machines. NIPS 20.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._errors import NeurophantomError

#: Number of random Fourier modes.
N_MODES = 8


@dataclass(frozen=True)
class Distortion:
    """A smooth displacement field ``d(x)`` (nm) over specimen coordinates (z, y, x) in nm."""

    rms_nm: float
    wavevectors: np.ndarray  # (K, 3) radians per nm
    phases: np.ndarray  # (3, K) one set per displaced axis

    @classmethod
    def random(cls, rms_nm: float, length_nm: float, rng: np.random.Generator) -> "Distortion":
        """Draw a field with per-axis RMS displacement ``rms_nm`` and correlation ``length_nm``."""
        if not (rms_nm >= 0 and math.isfinite(rms_nm)):
            raise NeurophantomError(f"distortion rms must be >= 0 nm, got {rms_nm}")
        if not (length_nm > 0 and math.isfinite(length_nm)):
            raise NeurophantomError(f"distortion length must be > 0 nm, got {length_nm}")
        k = rng.normal(0.0, 1.0 / length_nm, size=(N_MODES, 3))
        phi = rng.uniform(0.0, 2 * np.pi, size=(3, N_MODES))
        return cls(float(rms_nm), k, phi)

    @property
    def max_nm(self) -> float:
        """Upper bound of ``|d_a(x)|`` on any axis."""
        return self.rms_nm * math.sqrt(2.0 * self.wavevectors.shape[0])

    def at_points(self, pos_nm: np.ndarray) -> np.ndarray:
        """Displacement (M, 3) at points (M, 3)."""
        pos_nm = np.asarray(pos_nm, dtype=np.float64).reshape(-1, 3)
        arg = pos_nm @ self.wavevectors.T  # (M, K)
        amp = self.rms_nm * math.sqrt(2.0 / self.wavevectors.shape[0])
        return np.stack([amp * np.cos(arg + self.phases[a]).sum(axis=1) for a in range(3)], axis=1)

    def on_grid(self, centres_nm: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
        """Displacement (3, nz, ny, nx) on the grid spanned by per-axis voxel centres."""
        cz, cy, cx = (np.asarray(c, dtype=np.float64) for c in centres_nm)
        amp = self.rms_nm * math.sqrt(2.0 / self.wavevectors.shape[0])
        out = np.zeros((3, cz.size, cy.size, cx.size))
        for k, (kz, ky, kx) in enumerate(self.wavevectors):
            plane = kz * cz[:, None] + ky * cy[None, :]  # (nz, ny)
            cos_p, sin_p = np.cos(plane)[:, :, None], np.sin(plane)[:, :, None]
            for a in range(3):
                line = kx * cx + self.phases[a, k]  # cos(p + l) = cos p cos l - sin p sin l
                out[a] += amp * (cos_p * np.cos(line)[None, None, :] - sin_p * np.sin(line)[None, None, :])
        return out

    def cell_vox(self, voxel_size_nm) -> tuple[int, int, int]:
        """Cell edge (voxels) per axis: up to 4 voxels, at most 1/20 of the shortest wavelength scale."""
        length = 1.0 / max(float(np.abs(self.wavevectors).max()), 1e-300)
        return tuple(int(max(1, min(4, length / (20.0 * v)))) for v in voxel_size_nm)

    def on_cells(self, start, stop, voxel_size_nm) -> np.ndarray:
        """Displacement (3, z, y, x) on voxels ``start..stop``, constant in each global cell."""
        cell = self.cell_vox(voxel_size_nm)
        c0 = [int(a) // c for a, c in zip(start, cell)]
        c1 = [-(-int(b) // c) for b, c in zip(stop, cell)]
        centres = [(np.arange(a, b) * c + c / 2.0) * v for a, b, c, v in zip(c0, c1, cell, voxel_size_nm)]
        coarse = self.on_grid(centres)
        for a in range(3):
            coarse = np.repeat(coarse, cell[a], axis=a + 1)
        crop = tuple(slice(int(s0) - a * c, int(s1) - a * c) for s0, s1, a, c in zip(start, stop, c0, cell))
        return np.ascontiguousarray(coarse[(slice(None),) + crop])
