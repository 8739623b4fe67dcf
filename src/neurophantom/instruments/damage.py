"""Tissue damage: sparse holes, lost sections (slabs) and section misalignment.

Slicing and expansion destroy some tissue. Three kinds, all in specimen nanometres:

``SparseDamage``
    Small spherical holes of ``radius_nm`` placed as a Poisson (Boolean) process whose
    intensity gives an expected lost fraction ``fraction``: ``1 - exp(-lambda V_hole) =
    fraction`` (Chiu, Stoyan, Kendall & Mecke 2013, ch. 3).
``SlabDamage``
    The volume is cut into sections of ``section_nm`` along z; ``round(fraction *
    n_sections)`` whole sections, chosen at random, are lost (clustered loss).
``MisalignDamage``
    Every section is shifted in (y, x) by an independent Gaussian offset of ``sigma_nm``
    per axis; nothing is lost, but the image no longer lines up across sections.

The draws come from the damage stream (:mod:`.streams`) keyed by the damage's index,
so the same seed gives the same damage. A ``DamageModel`` is the drawn result: it
evaluates the lost mask on any block of a grid (the same values in any chunking) and the
section shift at any z, and it lists what was lost for the Scan's record (the holes and
slabs; not the section shifts, which stay hidden like every other ground truth).

References
----------
Chiu SN, Stoyan D, Kendall WS, Mecke J (2013) Stochastic Geometry and its Applications,
3rd ed. Wiley (the Boolean model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from .._errors import NeurophantomError
from .grid import ScanGrid
from .streams import DAMAGE, stream_rng

_FROZEN = ConfigDict(frozen=True, extra="forbid")

class SparseDamage(BaseModel):
    """Sparse small spherical holes; ``fraction`` is the expected lost volume fraction."""

    model_config = _FROZEN
    kind: Literal["sparse"] = "sparse"
    fraction: float = Field(..., ge=0.0, lt=1.0)
    radius_nm: float = Field(300.0, gt=0.0)


class SlabDamage(BaseModel):
    """Whole lost sections of ``section_nm`` along z; about ``fraction`` of them."""

    model_config = _FROZEN
    kind: Literal["slabs"] = "slabs"
    fraction: float = Field(..., ge=0.0, lt=1.0)
    section_nm: float = Field(500.0, gt=0.0)


class MisalignDamage(BaseModel):
    """Sections of ``section_nm`` along z, each shifted in (y, x) by N(0, sigma_nm) per axis."""

    model_config = _FROZEN
    kind: Literal["misalign"] = "misalign"
    sigma_nm: float = Field(..., ge=0.0)
    section_nm: float = Field(500.0, gt=0.0)


Damage = Annotated[Union[SparseDamage, SlabDamage, MisalignDamage], Field(discriminator="kind")]


@dataclass(frozen=True)
class DamageModel:
    """Drawn damage of one scan: holes, lost z ranges, per-section (y, x) shifts."""

    hole_centres_nm: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    hole_radius_nm: np.ndarray = field(default_factory=lambda: np.zeros(0))
    slabs_nm: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    section_nm: float = 0.0
    section_shifts_nm: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    @property
    def loses_tissue(self) -> bool:
        return self.hole_centres_nm.shape[0] > 0 or self.slabs_nm.shape[0] > 0

    @property
    def max_shift_nm(self) -> float:
        return float(np.abs(self.section_shifts_nm).max()) if self.section_shifts_nm.size else 0.0

    def shift_at_z(self, z_nm: np.ndarray) -> np.ndarray:
        """(y, x) shift (len(z), 2) of the section containing each z (nm)."""
        z_nm = np.asarray(z_nm, dtype=np.float64)
        if self.section_shifts_nm.shape[0] == 0:
            return np.zeros(z_nm.shape + (2,))
        sec = np.clip(np.floor(z_nm / self.section_nm).astype(np.int64), 0, self.section_shifts_nm.shape[0] - 1)
        return self.section_shifts_nm[sec]

    def lost_mask(self, grid: ScanGrid, start, stop) -> np.ndarray:
        """Boolean lost mask of grid voxels ``start..stop`` (z, y, x), judged at voxel centres."""
        c = [grid.centres_nm(a, start[a], stop[a]) for a in range(3)]
        mask = np.zeros(tuple(b - a for a, b in zip(start, stop)), dtype=bool)
        for z0, z1 in self.slabs_nm:
            mask[(c[0] >= z0) & (c[0] < z1)] = True
        for centre, r in zip(self.hole_centres_nm, self.hole_radius_nm):
            lo = [np.searchsorted(c[a], centre[a] - r, "left") for a in range(3)]
            hi = [np.searchsorted(c[a], centre[a] + r, "right") for a in range(3)]
            if any(h <= l for l, h in zip(lo, hi)):
                continue
            sub = [c[a][lo[a]:hi[a]] - centre[a] for a in range(3)]
            d2 = sub[0][:, None, None] ** 2 + sub[1][None, :, None] ** 2 + sub[2][None, None, :] ** 2
            mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] |= d2 <= r * r
        return mask

    def regions(self) -> list[dict]:
        """The lost regions (holes, slabs) as JSON-ready records. Section shifts are not
        listed: a lab does not know them, it estimates them from the images."""
        out = [{"kind": "hole", "centre_nm": [float(v) for v in c], "radius_nm": float(r)}
               for c, r in zip(self.hole_centres_nm, self.hole_radius_nm)]
        out += [{"kind": "slab", "z_nm": [float(z0), float(z1)]} for z0, z1 in self.slabs_nm]
        return out


def _draw_sparse(d: SparseDamage, extent_nm, rng) -> tuple[np.ndarray, np.ndarray]:
    r = d.radius_nm
    v_hole = 4.0 / 3.0 * math.pi * r**3
    lam = -math.log1p(-d.fraction) / v_hole  # holes per nm^3
    lo = np.array([-r, -r, -r])
    hi = np.asarray(extent_nm, dtype=np.float64) + r  # centres just outside still cut in
    n = int(rng.poisson(lam * float(np.prod(hi - lo))))
    centres = rng.uniform(lo, hi, size=(n, 3))
    return centres, np.full(n, r)


def _draw_slabs(d: SlabDamage, extent_nm, rng) -> np.ndarray:
    n_sec = max(1, math.ceil(extent_nm[0] / d.section_nm - 1e-9))
    n_lost = int(round(d.fraction * n_sec))
    lost = np.sort(rng.choice(n_sec, size=n_lost, replace=False)) if n_lost else np.zeros(0, dtype=int)
    return np.stack([lost * d.section_nm, (lost + 1) * d.section_nm], axis=1).astype(np.float64).reshape(-1, 2)


def draw_damage(damages, extent_nm, seed: int) -> DamageModel:
    """Draw the damage of a specimen of ``extent_nm`` (z, y, x) from its specs and seed."""
    holes, radii, slabs = [np.zeros((0, 3))], [np.zeros(0)], [np.zeros((0, 2))]
    section_nm, shifts = 0.0, np.zeros((0, 2))
    n_misalign = 0
    for i, d in enumerate(damages):
        rng = stream_rng(seed, DAMAGE, i)
        if isinstance(d, SparseDamage):
            c, r = _draw_sparse(d, extent_nm, rng)
            holes.append(c)
            radii.append(r)
        elif isinstance(d, SlabDamage):
            slabs.append(_draw_slabs(d, extent_nm, rng))
        elif isinstance(d, MisalignDamage):
            n_misalign += 1
            if n_misalign > 1:
                raise NeurophantomError("at most one misalign damage per scan")
            n_sec = max(1, math.ceil(extent_nm[0] / d.section_nm - 1e-9))
            section_nm = d.section_nm
            shifts = rng.normal(0.0, d.sigma_nm, size=(n_sec, 2))
        else:  # pragma: no cover - pydantic restricts the kinds
            raise NeurophantomError(f"unknown damage {d!r}")
    return DamageModel(np.concatenate(holes), np.concatenate(radii), np.concatenate(slabs), section_nm, shifts)
