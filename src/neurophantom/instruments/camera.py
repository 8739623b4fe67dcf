"""Detector noise, drawn per fixed tile of the global voxel grid.

A detector records ``Poisson(expected) + Normal(0, read_noise)`` electrons per voxel:
photon shot noise with the expected count as its mean (and variance), plus Gaussian
readout noise (an sCMOS camera's or a detector's). The random numbers of each
``NOISE_TILE``-cubed tile come from their own stream,
``SeedSequence(seed, spawn_key=(stream, channel, tz, ty, tx))``, so a voxel's noise depends
only on the seed and where the voxel is, never on how the volume is split into chunks.

References
----------
Janesick JR (2007) Photon Transfer: DN -> lambda. SPIE Press (shot and read noise of
scientific cameras).
"""

from __future__ import annotations

import itertools

import numpy as np

from .._errors import NeurophantomError

#: Edge (voxels) of the cubic tiles that own a noise stream each.
NOISE_TILE = 32

#: spawn_key namespaces of the streams a scan draws from (never reuse one for another purpose).
STREAM_DETECTOR = 1


def tile_rng(seed: int, *key: int) -> np.random.Generator:
    """A Generator for one (stream, channel, tile) key under the scan's seed."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key)))


def tile_aligned(start: int, stop: int, n: int, tile: int = NOISE_TILE) -> tuple[int, int]:
    """The smallest ``[a, b)`` of whole tiles (clipped to ``n``) containing ``[start, stop)``."""
    return (start // tile) * tile, min(n, -(-stop // tile) * tile)


def detect(expected: np.ndarray, origin_vox, *, seed: int, channel: int, shot_noise: bool,
           read_noise_e: float, tile: int = NOISE_TILE) -> np.ndarray:
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
    out = np.empty_like(lam)
    ranges = [range(0, s, tile) for s in lam.shape]
    for oz, oy, ox in itertools.product(*ranges):
        sl = (slice(oz, oz + tile), slice(oy, oy + tile), slice(ox, ox + tile))
        key = tuple((int(o) + d) // tile for o, d in zip(origin_vox, (oz, oy, ox)))
        rng = tile_rng(seed, STREAM_DETECTOR, channel, *key)
        block = lam[sl]
        counts = rng.poisson(block).astype(np.float64) if shot_noise else block.copy()
        if read_noise_e > 0:
            counts += rng.normal(0.0, read_noise_e, size=block.shape)
        out[sl] = counts
    return out
