"""Boundary estimation: where the membrane stain is, from the membrane channel alone.

The channel is smoothed by a Gaussian (optional), turned so that membranes are bright
(heavy-metal stains of X-ray and EM scans absorb, ``config["derived"]["membrane_contrast"]
== "dark"``) and called membrane above a threshold placed a fraction ``threshold`` of the
way from the background level to the membrane level. Both levels come from one histogram
of the whole volume (chunk by chunk), so the call does not depend on the chunking:

- background: the median (most voxels are extracellular space or cell interior), with the
  noise scale from its lower half, ``sd = median - P15.87`` (Gaussian-equivalent, robust to
  the bright membrane tail);
- membrane: the 95th percentile of the voxels brighter than ``background + 5 sd`` (the
  brightness of a voxel filled with membrane; blurred edges and tails are dimmer), or of
  the brightest 0.1% when noise drowns the membranes.

Lost tissue (the Scan's damage record) is left out of the histogram and never called
membrane.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.ndimage import gaussian_filter

from .._errors import NeurophantomError
from ..types.scan import Scan
from .chunks import Box, Grid, WorkStore, read_box, run_tasks

N_BINS = 8192
MEMBRANE_QUANTILE = 0.95
TRUNCATE = 4.0


@dataclasses.dataclass(frozen=True)
class MembraneLevels:
    """Background and membrane levels of the (sign-corrected, smoothed) membrane channel."""

    background: float
    noise_sd: float
    membrane: float
    threshold: float
    polarity: str
    smooth_sigma_nm: float = 0.0
    fraction: float = 0.5

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def membrane_channel(scan: Scan) -> int:
    """Index of the scan's membrane channel (one-line error when there is none)."""
    for i, c in enumerate(scan.channels):
        if c.kind == "membrane":
            return i
    raise NeurophantomError(f"scan has no membrane channel (channels: {', '.join(c.name for c in scan.channels)}); "
                            "segmentation needs a membrane stain")


def polarity(scan: Scan) -> str:
    """``"bright"`` or ``"dark"`` membranes, as the scan's record says (bright if unsaid)."""
    derived = scan.config.get("derived", {}) if hasattr(scan.config, "get") else {}
    value = derived.get("membrane_contrast", "bright") if hasattr(derived, "get") else "bright"
    if value not in ("bright", "dark"):
        raise NeurophantomError(f"scan record: unknown membrane_contrast {value!r}")
    return value


def _hist_levels(hist: np.ndarray, edges: np.ndarray, fraction: float, pol: str) -> MembraneLevels:
    centres = 0.5 * (edges[:-1] + edges[1:])
    cdf = np.cumsum(hist) / max(hist.sum(), 1)

    def quantile(q: float) -> float:
        return float(centres[min(int(np.searchsorted(cdf, q)), len(centres) - 1)])

    bg = quantile(0.5)
    sd = max(bg - quantile(0.158655), 0.0)
    above = centres > bg + 5.0 * sd + (edges[1] - edges[0])
    if hist[above].sum() == 0:
        # Membranes drowned in noise: take the brightest 0.1% as the membrane level (the
        # segmentation will show how little that is worth).
        above = (centres >= quantile(0.999)) & (centres > bg)
        if hist[above].sum() == 0:
            raise NeurophantomError("the membrane channel is flat: no voxel is brighter than the background")
    h = hist * above
    c2 = np.cumsum(h) / h.sum()
    memb = float(centres[min(int(np.searchsorted(c2, MEMBRANE_QUANTILE)), len(centres) - 1)])
    return MembraneLevels(bg, sd, memb, bg + fraction * (memb - bg), pol, fraction=fraction)


def estimate_membrane(scan: Scan, grid: Grid, store: WorkStore, *, smooth_sigma_nm: float, threshold: float) -> MembraneLevels:
    """Write the smoothed, bright-membrane channel (``"membrane"``, float32) and the lost
    mask (``"lost"``, uint8) into ``store``; return the levels and the threshold."""
    c = membrane_channel(scan)
    pol = polarity(scan)
    sign = 1.0 if pol == "bright" else -1.0
    sigma = tuple(smooth_sigma_nm / v for v in scan.voxel_size_nm)
    halo = tuple(int(math.ceil(TRUNCATE * s)) for s in sigma)
    memb = store.array("membrane", np.float32)
    lost = store.array("lost", np.uint8)
    image = scan.images[c]

    def smooth(box: Box):
        lo = tuple(a - h for a, h in zip(box.lo, halo))
        hi = tuple(b + h for b, h in zip(box.hi, halo))
        raw = read_box(image, lo, hi).astype(np.float64)
        if any(h for h in halo):
            # Mirror the volume's edge instead of padding with zeros (which would look
            # like a dark stain or a bright one depending on polarity).
            a = [max(0, -l) for l in lo]
            b = [raw.shape[i] - max(0, hi[i] - grid.shape[i]) for i in range(3)]
            core = raw[a[0]:b[0], a[1]:b[1], a[2]:b[2]]
            raw = np.pad(core, [(a[i], raw.shape[i] - b[i]) for i in range(3)], mode="symmetric")
            raw = gaussian_filter(raw, sigma, mode="nearest", truncate=TRUNCATE)
        crop = tuple(slice(h, h + s) for h, s in zip(halo, box.shape))
        val = (sign * raw[crop]).astype(np.float32)
        sl = tuple(slice(a, b) for a, b in zip(box.lo, box.hi))
        memb[sl] = val
        gone = np.zeros(box.shape, dtype=bool) if scan.lost_mask is None else read_box(scan.lost_mask, box.lo, box.hi).astype(bool)
        lost[sl] = gone.astype(np.uint8)
        seen = val[~gone]
        return (float(seen.min()), float(seen.max())) if seen.size else (np.inf, -np.inf)

    ranges = run_tasks(smooth, grid.boxes)
    lo_v = min(r[0] for r in ranges)
    hi_v = max(r[1] for r in ranges)
    if not np.isfinite(lo_v):
        raise NeurophantomError("all tissue of this scan was lost: nothing to segment")
    edges = np.linspace(lo_v, hi_v if hi_v > lo_v else lo_v + 1.0, N_BINS + 1)

    def hist(box: Box):
        sl = tuple(slice(a, b) for a, b in zip(box.lo, box.hi))
        val = np.asarray(memb[sl])[np.asarray(lost[sl]) == 0]
        return np.histogram(val, bins=edges)[0]

    total = np.sum(run_tasks(hist, grid.boxes), axis=0)
    return dataclasses.replace(_hist_levels(total, edges, threshold, pol), smooth_sigma_nm=float(smooth_sigma_nm))
