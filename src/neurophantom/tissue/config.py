"""TissueConfig: every knob of :func:`~neurophantom.tissue.grow_tissue`, validated.

Lengths named ``*_um`` are biological (the Circuit's frame); the phantom is drawn at
``geometry_scale`` times those lengths (areas at ``geometry_scale**2``), on voxels of
``voxel_size_nm`` (z, y, x). ``geometry_scale=1`` is real scale; the default 0.35 draws
neurites and contacts at about a third of their size so that the default 200-neuron
organoid (about 9,500 contacts) stays near 4e8 voxels and renders in seconds. An instrument's resolution relative to the tissue changes with the scale:
use 1.0 for resolution studies.
"""

from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..sources.hidden import GliaConfig


class TissueGliaConfig(BaseModel):
    """Which astrocytes to draw (the world's :class:`GliaConfig` and seed) and how
    (:mod:`neurophantom.tissue.glia`).

    Parameters
    ----------
    astrocytes : GliaConfig
        The world's glia (count and domain radius; the strength and time constant act in
        the ground truth's simulation only).
    seed : int
        The world's seed, as given to :func:`~neurophantom.sources.hidden.astrocytes`
        (same seed, same positions and domains as the ground truth's).
    processes, process_cells : int
        Up to ``processes`` straight processes of at most ``process_cells`` lattice cells.
    process_radius_um : float
        Biological radius of a process (capped at what a lattice cell holds).
    marker_protein : str
        The astrocyte's membrane marker (default GLT-1, EAAT2).
    marker_density_per_um2 : float
        Markers per um^2 of the astrocyte's drawn membrane (biological um^2).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    astrocytes: GliaConfig = Field(default_factory=GliaConfig)
    seed: int = Field(0, ge=0, description="the world's seed given to sources.hidden.astrocytes")
    processes: int = Field(4, ge=0, le=6)
    process_cells: int = Field(3, ge=1, le=64)
    process_radius_um: float = Field(0.3, gt=0.0)
    marker_protein: str = Field("glt1", pattern=r"^[a-z0-9_.]+$")
    marker_density_per_um2: float = Field(20.0, gt=0.0, le=1e5)


class TissueConfig(BaseModel):
    """How to fold a Circuit into a Phantom.

    Parameters
    ----------
    seed : int
        Root seed of every random draw (layout jitter, routing order, molecule positions).
    voxel_size_nm : (float, float, float)
        Voxel size along (z, y, x) in nm; may differ per axis.
    geometry_scale : float
        Phantom length per biological length (1.0 = real scale).
    axon_radius_um, dendrite_radius_um, soma_radius_um : float
        Biological radii of axon and dendrite cables and of the soma sphere of a neuron
        of the circuit's median membrane area.
    soma_area_exponent : float
        A neuron's soma radius is ``soma_radius_um * (area / median area) **
        soma_area_exponent`` (0.5: the soma's share of the membrane is the same in every
        neuron; 0: one soma size for all), within what the soma block holds (see
        :func:`~neurophantom.tissue.geometry.soma_radii_nm`).
    lattice_pitch_nm : float or None
        Spacing of the routing lattice in phantom nm; ``None`` picks the smallest pitch
        that holds the thickest cable and the largest contact patch with one voxel of
        extracellular space around everything.
    layout : "auto", "circuit" or "grid"
        Soma sheet: ordered by the Circuit's positions, a grid in Circuit row order, or
        "auto" (positions unless they are all equal); see :mod:`.layout`.
    soma_gap_cells : int
        Free lattice cells between neighbouring somata of the sheet.
    border_cells : int
        Free lattice cells around the soma sheet and the neuropil.
    neuropil_fill : float
        Target fraction of neuropil cells taken by neurites; sizes the neuropil depth
        (lower = deeper, sparser neuropil; the depth grows by 1.5x on each of up to three
        retries when a route cannot be found).
    chunk_shape : (int, int, int)
        Chunk shape (z, y, x) in voxels of the rendered label volume.
    max_channel_molecules : int
        Cap on channel molecules; above it each channel type's count is scaled by its
        own sampling fraction, rare types kept whole or thinned least (water-filling;
        the fractions are recorded in the phantom metadata).
    membrane_area_factor : float or None
        The specimen's membrane per unit of rendered surface (the phantom abbreviates
        arbors and draws no spines); a neuron's membrane area, which the ground truth
        simulates and its channel molecules are counted on, is this factor times the
        surface of its label. ``None``: the factor that gives the median neuron the
        circuit's median ``area_um2`` (recorded in the phantom metadata).
    connexin_density_per_um2 : float
        Gap-junction plaque density: a junction of ``n`` channels gets a contact of
        ``n / connexin_density_per_um2`` um^2.
    max_route_expansions : int
        Search budget of one neurite route (lattice cells expanded).
    label_dtype : "uint32" or "uint64"
        Dtype of the label volume.
    glia : TissueGliaConfig or None
        Astrocytes to draw (:mod:`.glia`); ``None`` (default) draws none and the phantom
        is exactly the phantom without the option.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = Field(0, ge=0)
    voxel_size_nm: tuple[float, float, float] = (40.0, 40.0, 40.0)
    geometry_scale: float = Field(0.35, gt=0.0, le=4.0)
    axon_radius_um: float = Field(0.12, gt=0.0)
    dendrite_radius_um: float = Field(0.3, gt=0.0)
    soma_radius_um: float = Field(1.4, gt=0.0)
    soma_area_exponent: float = Field(0.5, ge=0.0, le=1.0)
    lattice_pitch_nm: Optional[float] = Field(None, gt=0.0)
    layout: Literal["auto", "circuit", "grid"] = "auto"
    soma_gap_cells: int = Field(2, ge=2, le=64)
    border_cells: int = Field(2, ge=1, le=64)
    neuropil_fill: float = Field(0.25, gt=0.0, le=0.5)
    chunk_shape: tuple[int, int, int] = (128, 128, 128)
    max_channel_molecules: int = Field(200_000, ge=0)
    membrane_area_factor: Optional[float] = Field(None, gt=0.0, le=1e4)
    connexin_density_per_um2: float = Field(1.0e4, gt=0.0)
    max_route_expansions: int = Field(200_000, ge=100)
    label_dtype: Literal["uint32", "uint64"] = "uint32"
    glia: Optional[TissueGliaConfig] = None

    @field_validator("voxel_size_nm")
    @classmethod
    def _positive_voxels(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if not all(x > 0 and x < 1e6 for x in v):
            raise ValueError(f"voxel_size_nm must be three positive numbers (z, y, x), got {v}")
        return v

    @field_validator("chunk_shape")
    @classmethod
    def _positive_chunks(cls, v: tuple[int, int, int]) -> tuple[int, int, int]:
        if not all(8 <= x <= 2048 for x in v):
            raise ValueError(f"chunk_shape entries must be in 8..2048 voxels, got {v}")
        return v
