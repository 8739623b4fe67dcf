"""Detector noise, drawn per fixed tile of the global voxel grid.

A detector records ``Poisson(expected) + Normal(0, read_noise)`` electrons per voxel:
photon shot noise with the expected count as its mean (and variance), plus Gaussian
readout noise (an sCMOS camera's or a detector's). The random numbers of each
``NOISE_TILE``-cubed tile come from their own stream,
``SeedSequence(seed, spawn_key=(stream, channel, tz, ty, tx))``, so a voxel's noise depends
only on the seed and where the voxel is, never on how the volume is split into chunks.

Most voxels of a fluorescence or tag channel hold nothing but the uniform background, so
their counts are drawn by inverting the Poisson distribution function of that one mean
(a table lookup, ``scipy.stats.poisson.cdf`` + ``numpy.searchsorted``; Devroye 1986,
ch. X.3); numpy's per-element sampler (about 0.1 us a draw) is kept for every other voxel.
Both are exact Poisson draws; the split only changes which uniform numbers are used.

References
----------
Devroye L (1986) Non-Uniform Random Variate Generation. Springer.
Janesick JR (2007) Photon Transfer: DN -> lambda. SPIE Press (shot and read noise of
scientific cameras).
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy import stats

from .._errors import NeurophantomError
from .streams import DETECTOR, stream_rng

#: Edge (voxels) of the cubic tiles that own a noise stream each.
NOISE_TILE = 32

def tile_aligned(start: int, stop: int, n: int, tile: int = NOISE_TILE) -> tuple[int, int]:
    """The smallest ``[a, b)`` of whole tiles (clipped to ``n``) containing ``[start, stop)``."""
    return (start // tile) * tile, min(n, -(-stop // tile) * tile)


def poisson_table(lam: float) -> np.ndarray:
    """CDF of Poisson(lam) at 0, 1, ... far enough that the rest has probability < 1e-16."""
    kmax = int(lam + 12.0 * np.sqrt(lam) + 40)
    return stats.poisson.cdf(np.arange(kmax + 1), lam)


def _counts(block: np.ndarray, rng: np.random.Generator, common: float | None, table: np.ndarray | None) -> np.ndarray:
    """Poisson counts of ``block``; voxels whose mean equals ``common`` by table inversion."""
    if common is None:
        return rng.poisson(block).astype(np.float64)
    at = block == common
    out = np.empty(block.shape)
    out[at] = np.searchsorted(table, rng.random(int(at.sum())), side="right")
    if not at.all():
        out[~at] = rng.poisson(block[~at])
    return out


def detect(expected: np.ndarray, origin_vox, *, seed: int, channel: int, shot_noise: bool,
           read_noise_e: float, background: float | None = None, tile: int = NOISE_TILE) -> np.ndarray:
    """Measured electrons for a tile-aligned block of expected photo-electrons.

    Parameters
    ----------
    expected : (z, y, x) array
        Expected photo-electrons per voxel (finite, >= 0). Its origin ``origin_vox`` must lie
        on the tile grid and its far edges on the tile grid or the volume's edge, so that
        each tile is drawn whole.
    seed, channel : int
        The scan's seed and the channel index (each channel has its own streams).
    shot_noise : bool
        Draw Poisson counts (``False``: the expected value itself, a noise-free detector).
    read_noise_e : float
        Standard deviation of the Gaussian read noise (electrons).
    background : float, optional
        The channel's uniform background: voxels with exactly this mean are drawn by table
        inversion (faster, equally exact).
    """
    lam = np.asarray(expected, dtype=np.float64)
    if not np.all(np.isfinite(lam)) or np.any(lam < 0):
        raise NeurophantomError("expected photon counts must be finite and >= 0")
    if read_noise_e < 0:
        raise NeurophantomError(f"read_noise_e must be >= 0, got {read_noise_e}")
    if any(int(o) % tile for o in origin_vox):
        raise NeurophantomError(f"noise block origin {tuple(origin_vox)} is not on the {tile}-voxel tile grid")
    if not shot_noise and read_noise_e == 0:
        return lam.copy()
    table = poisson_table(background) if (shot_noise and background is not None) else None
    out = np.empty_like(lam)
    ranges = [range(0, s, tile) for s in lam.shape]
    for oz, oy, ox in itertools.product(*ranges):
        sl = (slice(oz, oz + tile), slice(oy, oy + tile), slice(ox, ox + tile))
        key = tuple((int(o) + d) // tile for o, d in zip(origin_vox, (oz, oy, ox)))
        rng = stream_rng(seed, DETECTOR, channel, *key)
        block = lam[sl]
        counts = _counts(block, rng, background if table is not None else None, table) if shot_noise else block.copy()
        if read_noise_e > 0:
            counts += rng.normal(0.0, read_noise_e, size=block.shape)
        out[sl] = counts
    return out
