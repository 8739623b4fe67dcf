"""The chunked image formation shared by every static instrument.

For each channel ``c`` and scan voxel ``q`` (centre in specimen nm), the expected
detector electrons are::

    E_c(q) = background_c + keep(q) * [ g_c * M(q - u(q) - s_c) + P_c(q) ]

``M`` is the membrane stain fraction on the scan grid blurred by the PSF; ``u`` the
displacement of the tissue (smooth expansion distortion plus section misalignment);
``s_c`` the channel's registration shift; ``g_c`` its membrane gain (negative for dark
membranes: heavy-metal stains absorb); ``P_c`` the puncta of labelled molecules, each a
PSF-blurred point of the molecule's photons in this channel at its displaced position;
``keep`` is zero where tissue was lost. The detector adds shot and read noise
(:mod:`.camera`).

Blocks are computed independently: a block reads the specimen it needs plus halos (the
PSF radius, the largest displacement, one voxel for membrane detection), and its noise
tiles are keyed by their global position, so the result is bit-identical for any
chunking, and the same seed gives the same scan.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

import dask.array as da
import numpy as np
from dask.highlevelgraph import HighLevelGraph
from scipy.ndimage import map_coordinates

from .camera import NOISE_TILE, detect, tile_aligned
from .damage import DamageModel
from .distortion import Distortion
from .grid import ScanGrid
from .membrane import membrane_fraction
from .psf import blur, blur_radius_vox, point_radius_vox, render_points


@dataclass(frozen=True)
class ChannelPlan:
    """How one channel forms: membrane gain, background, puncta column, registration shift."""

    membrane_gain: float
    background: float
    column: int | None = None
    shift_nm: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class ChannelSet:
    """An instrument's channels: records for the Scan, how each forms, molecule photons.

    ``amplitudes[m, j]`` is the photons molecule ``m`` gives the channel whose plan has
    ``column == j`` (None when no channel shows molecules); ``derived`` holds numbers the
    operator knows (e.g. the calibrated crosstalk matrix) for the Scan's record.
    """

    infos: tuple
    plans: tuple[ChannelPlan, ...]
    amplitudes: np.ndarray | None = None
    codebook: Any = None
    derived: dict = field(default_factory=dict)


@dataclass(frozen=True)
class MoleculeIndex:
    """Molecule positions (nm) binned by tile of the scan grid, for fast block lookups."""

    pos_nm: np.ndarray  # (M, 3) displaced positions
    order: np.ndarray  # molecule indices sorted by cell key
    keys: np.ndarray  # sorted cell keys
    cells: tuple[int, int, int]  # number of cells per axis
    cell_nm: tuple[float, float, float]

    @classmethod
    def build(cls, pos_nm: np.ndarray, grid: ScanGrid) -> "MoleculeIndex":
        cell_nm = tuple(NOISE_TILE * v for v in grid.voxel_size_nm)
        cells = tuple(-(-s // NOISE_TILE) for s in grid.shape)
        ijk = [np.clip(np.floor(pos_nm[:, a] / cell_nm[a]).astype(np.int64), 0, cells[a] - 1) for a in range(3)]
        key = (ijk[0] * cells[1] + ijk[1]) * cells[2] + ijk[2]
        order = np.argsort(key, kind="stable")
        return cls(pos_nm, order, key[order], cells, cell_nm)

    def near(self, lo_nm, hi_nm) -> np.ndarray:
        """Indices (ascending) of molecules whose cell meets the box ``[lo_nm, hi_nm)``."""
        rng = [range(max(0, int(np.floor(lo_nm[a] / self.cell_nm[a]))), min(self.cells[a], int(np.floor(hi_nm[a] / self.cell_nm[a])) + 1))
               for a in range(3)]
        parts = []
        for i, j in itertools.product(rng[0], rng[1]):
            k0 = (i * self.cells[1] + j) * self.cells[2] + rng[2].start
            k1 = (i * self.cells[1] + j) * self.cells[2] + rng[2].stop
            a, b = np.searchsorted(self.keys, [k0, k1])
            if b > a:
                parts.append(self.order[a:b])
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class ForwardPlan:
    """Everything a block needs; built once per scan, shared by all blocks."""

    grid: ScanGrid
    channels: tuple[ChannelPlan, ...]
    psf_sigma_nm: tuple[float, float, float]
    labels: Any
    specimen_shape: tuple[int, int, int]
    specimen_voxel_nm: tuple[float, float, float]
    molecules: MoleculeIndex | None
    amplitudes: np.ndarray | None  # (M, n_columns) photons
    distortion: Distortion | None
    damage: DamageModel
    shot_noise: bool
    read_noise_e: float
    seed: int

    @property
    def sigma_vox(self) -> tuple[float, ...]:
        return tuple(s / v for s, v in zip(self.psf_sigma_nm, self.grid.voxel_size_nm))

    def max_displacement_nm(self, ch: ChannelPlan) -> np.ndarray:
        d = self.distortion.max_nm if self.distortion is not None else 0.0
        m = self.damage.max_shift_nm
        return np.abs(np.asarray(ch.shift_nm)) + d + np.array([0.0, m, m])

    def warps(self, ch: ChannelPlan) -> bool:
        return bool(np.any(self.max_displacement_nm(ch) > 0))


def _displacement(plan: ForwardPlan, ch: ChannelPlan, start, stop) -> np.ndarray:
    """Total tissue displacement (3, z, y, x) nm at the voxel centres of a block."""
    c0 = plan.grid.centres_nm(0, start[0], stop[0])
    shape = tuple(b - a for a, b in zip(start, stop))
    u = (plan.distortion.on_cells(start, stop, plan.grid.voxel_size_nm) if plan.distortion is not None
         else np.zeros((3,) + shape))
    if plan.damage.section_shifts_nm.shape[0]:
        sh = plan.damage.shift_at_z(c0)  # (nz, 2)
        u[1] += sh[:, 0][:, None, None]
        u[2] += sh[:, 1][:, None, None]
    for a in range(3):
        u[a] += ch.shift_nm[a]
    return u


def _membrane(plan: ForwardPlan, ch: ChannelPlan, start, stop) -> np.ndarray:
    """Blurred, displaced membrane fraction on scan voxels ``start..stop``."""
    g = plan.grid
    rad = blur_radius_vox(plan.sigma_vox)
    if plan.warps(ch):
        reach = [int(np.ceil(d / v)) + 1 for d, v in zip(plan.max_displacement_nm(ch), g.voxel_size_nm)]
    else:
        reach = [0, 0, 0]
    b_lo = [max(0, start[a] - reach[a]) for a in range(3)]
    b_hi = [min(g.shape[a], stop[a] + reach[a]) for a in range(3)]
    r_lo = [max(0, b_lo[a] - rad[a]) for a in range(3)]
    r_hi = [min(g.shape[a], b_hi[a] + rad[a]) for a in range(3)]
    frac = membrane_fraction(plan.labels, plan.specimen_shape, plan.specimen_voxel_nm, g, r_lo, r_hi)
    blurred = blur(frac, plan.sigma_vox)[tuple(slice(b_lo[a] - r_lo[a], b_hi[a] - r_lo[a]) for a in range(3))]
    if not plan.warps(ch):
        return blurred
    u = _displacement(plan, ch, start, stop)
    coords = []
    for a in range(3):
        centres = g.centres_nm(a, start[a], stop[a])
        shape = [1, 1, 1]
        shape[a] = -1
        src = (centres.reshape(shape) - u[a]) / g.voxel_size_nm[a] - 0.5  # global voxel index
        coords.append(src - b_lo[a])  # exact: integer offset
    return map_coordinates(blurred, coords, order=1, mode="grid-constant", cval=0.0, prefilter=False)


def _puncta(plan: ForwardPlan, ch: ChannelPlan, start, stop) -> np.ndarray:
    g = plan.grid
    shape = tuple(b - a for a, b in zip(start, stop))
    if plan.molecules is None or ch.column is None:
        return np.zeros(shape)
    rad = point_radius_vox(plan.psf_sigma_nm, g.voxel_size_nm)
    shift = np.asarray(ch.shift_nm)
    lo = [(start[a] - rad[a] - 1) * g.voxel_size_nm[a] - shift[a] for a in range(3)]
    hi = [(stop[a] + rad[a] + 1) * g.voxel_size_nm[a] - shift[a] for a in range(3)]
    idx = plan.molecules.near(lo, hi)
    amp = plan.amplitudes[idx, ch.column]
    keep = amp > 0
    idx = idx[keep]
    return render_points(plan.molecules.pos_nm[idx] + shift[None, :], amp[keep], plan.psf_sigma_nm,
                         g.voxel_size_nm, start, shape, batch_ids=idx)


def expected_block(plan: ForwardPlan, c: int, start, stop) -> np.ndarray:
    """Expected electrons (z, y, x) of channel ``c`` on scan voxels ``start..stop``."""
    ch = plan.channels[c]
    shape = tuple(b - a for a, b in zip(start, stop))
    signal = np.zeros(shape)
    if ch.membrane_gain != 0:
        signal += ch.membrane_gain * _membrane(plan, ch, start, stop)
    if ch.column is not None:
        signal += _puncta(plan, ch, start, stop)
    if plan.damage.loses_tissue:
        signal[plan.damage.lost_mask(plan.grid, start, stop)] = 0.0
    return np.maximum(ch.background + signal, 0.0)


def compute_block(plan: ForwardPlan, c: int, start, stop) -> np.ndarray:
    """Measured electrons (1, z, y, x) float32 of channel ``c`` on scan voxels ``start..stop``."""
    t = [tile_aligned(start[a], stop[a], plan.grid.shape[a]) for a in range(3)]
    t_lo, t_hi = [a for a, _ in t], [b for _, b in t]
    lam = expected_block(plan, c, t_lo, t_hi)
    counts = detect(lam, t_lo, seed=plan.seed, channel=c, shot_noise=plan.shot_noise, read_noise_e=plan.read_noise_e,
                    background=plan.channels[c].background)
    crop = tuple(slice(start[a] - t_lo[a], stop[a] - t_lo[a]) for a in range(3))
    return counts[crop].astype(np.float32)[None]


def _chunks_1d(n: int, size: int) -> tuple[int, ...]:
    return tuple(min(size, n - i) for i in range(0, n, size))


def images(plan: ForwardPlan, chunks=(64, 64, 64)) -> da.Array:
    """The scan's images (c, z, y, x) float32 as a lazy dask array with ``chunks`` (z, y, x)."""
    chunks = tuple(int(c) for c in chunks)
    per_axis = [_chunks_1d(n, c) for n, c in zip(plan.grid.shape, chunks)]
    name = "scan-" + uuid.uuid4().hex  # each plan is its own graph; names only need to be unique
    plan_key = "scanplan-" + name
    dsk: dict = {plan_key: plan}
    offsets = [np.concatenate([[0], np.cumsum(p)]).astype(int) for p in per_axis]
    for c in range(len(plan.channels)):
        for i, j, k in itertools.product(*(range(len(p)) for p in per_axis)):
            start = (int(offsets[0][i]), int(offsets[1][j]), int(offsets[2][k]))
            stop = (int(offsets[0][i + 1]), int(offsets[1][j + 1]), int(offsets[2][k + 1]))
            dsk[(name, c, i, j, k)] = (compute_block, plan_key, c, start, stop)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=())
    return da.Array(graph, name, ((1,) * len(plan.channels),) + tuple(per_axis), dtype=np.float32,
                    meta=np.empty((0, 0, 0, 0), dtype=np.float32))


def _lost_block(damage: DamageModel, grid: ScanGrid, block_info=None) -> np.ndarray:
    loc = block_info[None]["array-location"]
    return damage.lost_mask(grid, [a for a, _ in loc], [b for _, b in loc])


def lost_mask(plan: ForwardPlan, chunks=(64, 64, 64)) -> da.Array:
    """The lost-tissue mask (z, y, x) bool as a lazy dask array."""
    per_axis = tuple(_chunks_1d(n, int(c)) for n, c in zip(plan.grid.shape, chunks))
    return da.map_blocks(_lost_block, plan.damage, plan.grid, chunks=per_axis, dtype=bool,
                         meta=np.empty((0, 0, 0), dtype=bool))
