"""Point spread functions: Gaussian widths from the optics, blur, and point rendering.

A light-sheet microscope's detection PSF is approximated by a 3D Gaussian with the
paraxial widefield widths of Zhang et al. (2007, table 1)::

    sigma_lateral = 0.21 * lambda_em / NA
    sigma_axial   = 0.66 * lambda_em * n / NA**2

and the light sheet confines the axial extent further: the effective axial PSF is the
product of the detection PSF and the sheet's Gaussian profile, whose width is
``1 / sqrt(sigma_axial**-2 + sigma_sheet**-2)`` (Huisken & Stainier 2009).
In an expanded specimen every width shrinks by the expansion factor when expressed in
pre-expansion nanometres.

References
----------
Zhang B, Zerubia J, Olivo-Marin J-C (2007) Gaussian approximations of fluorescence
microscope point-spread function models. Applied Optics 46:1819-1829.
Huisken J, Stainier DYR (2009) Selective plane illumination microscopy techniques in
developmental biology. Development 136:1963-1975.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.special import erf

#: Gaussian kernels are cut at this many standard deviations (scipy's default is 4).
TRUNCATE = 4.0


def gaussian_psf_sigma_nm(wavelength_nm: float, na: float, refractive_index: float,
                          sheet_sigma_nm: float | None = None) -> tuple[float, float, float]:
    """Gaussian PSF widths (z, y, x) in nm of a widefield detection objective.

    Parameters
    ----------
    wavelength_nm : float
        Emission wavelength.
    na : float
        Numerical aperture of the detection objective (``0 < na < n``).
    refractive_index : float
        Immersion / specimen refractive index ``n``.
    sheet_sigma_nm : float, optional
        Gaussian width of the light sheet (axial); ``None`` for widefield.

    References
    ----------
    Zhang, Zerubia & Olivo-Marin (2007), Applied Optics 46:1819, table 1 (paraxial
    widefield fluorescence microscope).
    """
    lateral = 0.21 * wavelength_nm / na
    axial = 0.66 * wavelength_nm * refractive_index / na**2
    if sheet_sigma_nm is not None:
        axial = 1.0 / math.sqrt(axial**-2 + sheet_sigma_nm**-2)
    return (axial, lateral, lateral)


def blur_radius_vox(sigma_vox) -> tuple[int, int, int]:
    """Half-width (voxels) of the truncated Gaussian kernel per axis, as scipy uses it."""
    return tuple(int(TRUNCATE * float(s) + 0.5) for s in sigma_vox)


def blur(image: np.ndarray, sigma_vox) -> np.ndarray:
    """Gaussian blur with zero outside the array; the kernel sums to one (signal preserved).

    ``scipy.ndimage.gaussian_filter`` with ``mode='constant'``: away from the edges, the total
    of the image is unchanged.
    """
    sigma = tuple(float(s) for s in sigma_vox)
    if all(s == 0 for s in sigma):
        return np.asarray(image, dtype=np.float64)
    return gaussian_filter(np.asarray(image, dtype=np.float64), sigma=sigma, mode="constant", cval=0.0,
                           truncate=TRUNCATE)


def _axis_weights(pos_nm: np.ndarray, sigma_nm: float, v_nm: float, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Voxel index (M, 2r+1) and normalised weight of a Gaussian integrated over each voxel."""
    centre = np.floor(pos_nm / v_nm).astype(np.int64)
    idx = centre[:, None] + np.arange(-radius, radius + 1, dtype=np.int64)[None, :]
    if sigma_nm <= 0:
        w = (idx == centre[:, None]).astype(np.float64)
        return idx, w
    s = math.sqrt(2.0) * sigma_nm
    edges_lo = (idx * v_nm - pos_nm[:, None]) / s
    w = 0.5 * (erf(edges_lo + v_nm / s) - erf(edges_lo))
    w /= w.sum(axis=1, keepdims=True)
    return idx, w


def point_radius_vox(sigma_nm, voxel_size_nm) -> tuple[int, int, int]:
    """Half-width (voxels) of a rendered punctum per axis: every voxel within ``TRUNCATE``
    sigma of a point lies within this many voxels of the voxel holding it."""
    return tuple(int(math.ceil(TRUNCATE * s / v)) for s, v in zip(sigma_nm, voxel_size_nm))


def render_points(pos_nm: np.ndarray, amplitude: np.ndarray, sigma_nm, voxel_size_nm,
                  origin_vox, shape, batch_ids=None) -> np.ndarray:
    """Render Gaussian puncta into a block of voxels, integrating each over its voxels.

    Each point deposits exactly ``amplitude`` (the per-axis weights are normalised), spread
    as a Gaussian of width ``sigma_nm`` integrated over voxel boxes (an error-function
    difference per axis), cut at ``TRUNCATE`` sigma. The block covers global voxels
    ``origin_vox .. origin_vox + shape``; parts of a punctum outside it are dropped. Points
    add in their input order, so a block's values do not depend on how the volume is split.

    Parameters
    ----------
    pos_nm : (M, 3) array
        Positions (z, y, x) in nm.
    amplitude : (M,) array
        Total signal of each point (photons).
    sigma_nm, voxel_size_nm : 3-tuples
        Gaussian width and voxel edge per axis (nm).
    origin_vox, shape : 3-tuples
        First global voxel and size of the block.
    batch_ids : (M,) int array, optional
        Global index of each point (its row in the full table); points are summed in
        batches of global rows, so pass it whenever ``pos_nm`` is a subset of a table.
    """
    shape = tuple(int(s) for s in shape)
    out = np.zeros(int(np.prod(shape)), dtype=np.float64)
    pos_nm = np.asarray(pos_nm, dtype=np.float64).reshape(-1, 3)
    amplitude = np.asarray(amplitude, dtype=np.float64).reshape(-1)
    order = np.arange(pos_nm.shape[0]) if batch_ids is None else np.asarray(batch_ids, dtype=np.int64)
    # Points are summed in batches fixed by the caller's global ids, so that a voxel's
    # total is the same float sum whichever block computes it (and memory stays bounded).
    for b in np.unique(order // POINT_BATCH):
        sel = (order // POINT_BATCH) == b
        out += _splat(pos_nm[sel], amplitude[sel], sigma_nm, voxel_size_nm, origin_vox, shape)
    return out.reshape(shape)


#: Points rendered together (bounds memory at POINT_BATCH * (2r+1)^3 weights).
POINT_BATCH = 8192


def _splat(pos_nm, amplitude, sigma_nm, voxel_size_nm, origin_vox, shape) -> np.ndarray:
    radius = point_radius_vox(sigma_nm, voxel_size_nm)
    idx, w = zip(*(_axis_weights(pos_nm[:, a], float(sigma_nm[a]), float(voxel_size_nm[a]), radius[a]) for a in range(3)))
    local = [idx[a] - int(origin_vox[a]) for a in range(3)]
    w = [np.where((local[a] >= 0) & (local[a] < shape[a]), w[a], 0.0) for a in range(3)]
    loc = [np.clip(local[a], 0, shape[a] - 1) for a in range(3)]
    flat = (loc[0][:, :, None, None] * shape[1] + loc[1][:, None, :, None]) * shape[2] + loc[2][:, None, None, :]
    weight = amplitude[:, None, None, None] * w[0][:, :, None, None] * w[1][:, None, :, None] * w[2][:, None, None, :]
    keep = weight != 0
    # bincount adds in input order: point by point, the same in any blocking.
    return np.bincount(flat[keep], weights=weight[keep], minlength=int(np.prod(shape)))
