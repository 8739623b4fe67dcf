"""Expansion light-sheet microscopy (ExM + light sheet), with optional barcodes.

The specimen is expanded ``expansion`` times per axis (4x to 20x: Chen et al. 2015 reach
about 4.5x, iterative expansion about 20x, Chang et al. 2017) and imaged by a light-sheet
microscope (Gao et al. 2019). Every length of the optics (camera voxel, PSF width, sheet
width) is given in the expanded sample and divided by the expansion factor to get
specimen nanometres. Channels: a membrane stain, then the barcode channels (serial:
rounds x colours; parallel: one spectral channel per fluorophore). The detector adds
Poisson shot noise, Gaussian read noise and a uniform background; labelled molecules
(labelling efficiency) render as PSF-blurred puncta; the expansion distorts the tissue by
a smooth random displacement field.

References
----------
Chen F, Tillberg PW, Boyden ES (2015) Expansion microscopy. Science 347:543-548.
Chang J-B et al. (2017) Iterative expansion microscopy. Nat Methods 14:593-599.
Gao R et al. (2019) Cortical column and whole-brain imaging with molecular contrast and
nanoscale resolution. Science 363:eaau8302.
"""

from __future__ import annotations

from typing import Annotated, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

import numpy as np

from .._errors import NeurophantomError
from ..types.scan import ChannelInfo
from . import specs
from .codebook import design_parallel_codebook, design_serial_codebook
from .damage import Damage
from .forward import ChannelPlan, ChannelSet
from .parallel import ParallelBarcode, crosstalk_matrix, parallel_amplitudes, parallel_channels, true_crosstalk
from .psf import gaussian_psf_sigma_nm
from .serial import SerialBarcode, registration_shifts, serial_amplitudes, serial_channels
from .streams import BARCODE, stream_rng

Barcode = Annotated[Union[SerialBarcode, ParallelBarcode], Field(discriminator="kind")]


class ExpansionLightSheet(BaseModel):
    """Expansion light-sheet microscope.

    Parameters
    ----------
    expansion : float
        Linear expansion factor, 4 to 20.
    na, wavelength_nm, refractive_index : float
        Detection numerical aperture, emission wavelength and medium index (expanded gel is
        mostly water, n = 1.33).
    sheet_sigma_nm : float or None
        Gaussian width of the light sheet in the expanded sample (None: widefield).
    camera_voxel_nm : (z, y, x)
        Voxel of the camera / z-step in the expanded sample (nm).
    membrane_photons : float
        Expected photo-electrons from a scan voxel completely filled with stained membrane.
    punctum_photons : float
        Photo-electrons of one labelled molecule per fluorophore (serial: per round, before losses).
    background_photons, read_noise_e : float
        Uniform background (photo-electrons per voxel) and Gaussian read noise (electrons RMS).
    shot_noise : bool
        Poisson photon noise (False for a noise-free instrument).
    labelling_efficiency : float
        Probability that a molecule carries a tag.
    distortion_nm, distortion_length_nm : float
        RMS displacement (specimen nm, per axis) and correlation length of the expansion distortion.
    barcode : SerialBarcode or ParallelBarcode or None
        Protein barcodes (None: membrane channel only).
    damage : list of damage specs
        Sparse holes, lost slabs, misaligned sections.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    instrument: Literal["exm"] = "exm"
    expansion: float = Field(specs.EXM_DEFAULT_EXPANSION, ge=4.0, le=20.0)
    na: float = Field(1.0, gt=0.0)
    wavelength_nm: float = Field(520.0, gt=0.0)
    refractive_index: float = Field(1.33, ge=1.0)
    sheet_sigma_nm: Optional[float] = Field(400.0, gt=0.0)
    camera_voxel_nm: tuple[float, float, float] = specs.LIGHTSHEET_CAMERA_VOXEL_NM
    membrane_photons: float = Field(200.0, ge=0.0)
    punctum_photons: float = Field(300.0, ge=0.0)
    background_photons: float = Field(5.0, ge=0.0)
    read_noise_e: float = Field(1.5, ge=0.0)
    shot_noise: bool = True
    labelling_efficiency: float = Field(0.7, ge=0.0, le=1.0)
    distortion_nm: float = Field(20.0, ge=0.0)
    distortion_length_nm: float = Field(5000.0, gt=0.0)
    barcode: Optional[Barcode] = None
    damage: tuple[Damage, ...] = ()

    @model_validator(mode="after")
    def _optics(self) -> "ExpansionLightSheet":
        if self.na >= self.refractive_index:
            raise ValueError(f"na {self.na} must be below the refractive index {self.refractive_index}")
        if not all(v > 0 for v in self.camera_voxel_nm):
            raise ValueError(f"camera_voxel_nm must be positive, got {self.camera_voxel_nm}")
        return self

    @property
    def voxel_size_nm(self) -> tuple[float, float, float]:
        """Scan voxel in specimen (pre-expansion) nm."""
        return tuple(v / self.expansion for v in self.camera_voxel_nm)

    @property
    def psf_sigma_nm(self) -> tuple[float, float, float]:
        """Gaussian PSF widths (z, y, x) in specimen nm."""
        s = gaussian_psf_sigma_nm(self.wavelength_nm, self.na, self.refractive_index, self.sheet_sigma_nm)
        return tuple(v / self.expansion for v in s)

    @property
    def rounds(self) -> int:
        """Imaging rounds: the serial barcode's rounds, else one."""
        return self.barcode.rounds if isinstance(self.barcode, SerialBarcode) else 1

    def instrument_seconds(self, volume_um3: float) -> float:
        """Light-sheet time for a specimen volume: every round images the expanded volume."""
        return specs.lightsheet_seconds(volume_um3, self.expansion, rounds=self.rounds)

    def channels(self, spec, labelled: np.ndarray, seed: int) -> ChannelSet:
        """Membrane stain, then the barcode channels (if any) with their molecule photons."""
        membrane = (ChannelInfo("membrane", "membrane"),), (ChannelPlan(self.membrane_photons, self.background_photons),)
        if self.barcode is None:
            return ChannelSet(*membrane)
        if not spec.proteins:
            raise NeurophantomError("barcodes need molecules, but the specimen has no protein types")
        bc, bg = self.barcode, self.background_photons
        photons = self.punctum_photons * labelled
        rng = stream_rng(seed, BARCODE)
        if isinstance(bc, SerialBarcode):
            book = design_serial_codebook(spec.proteins, bc.rounds, bc.colors, bc.min_distance)
            amps = serial_amplitudes(book.codewords[spec.molecule_protein], photons, bc, rng)
            shifts = registration_shifts(bc, rng)  # hidden: a lab registers its rounds itself
            plans = [ChannelPlan(0.0, bg, r * bc.colors + c, tuple(shifts[r]))
                     for r in range(bc.rounds) for c in range(bc.colors)]
            return ChannelSet(membrane[0] + tuple(serial_channels(bc)), membrane[1] + tuple(plans), amps, book)
        book = design_parallel_codebook(spec.proteins, bc.fluorophores, bc.per_tag, bc.min_distance)
        amps = parallel_amplitudes(book.codewords[spec.molecule_protein], photons, bc, true_crosstalk(bc, rng), rng)
        plans = tuple(ChannelPlan(0.0, bg, f) for f in range(bc.fluorophores))
        derived = {"crosstalk_matrix": crosstalk_matrix(bc.fluorophores, bc.crosstalk).tolist()}  # the calibration
        return ChannelSet(membrane[0] + tuple(parallel_channels(bc)), membrane[1] + plans, amps, book, derived)
