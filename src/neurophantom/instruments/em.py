"""Electron microscopy of a heavy-metal-stained specimen (shapes only).

Volume EM (FIB-SEM, Xu et al. 2017; serial-section SEM) reaches 4 to 8 nm voxels; the
stained membranes scatter electrons and appear dark. The image is the detected electron
count per voxel with Poisson statistics (``dose_electrons`` in an unstained voxel,
``1 - membrane_contrast`` of it on a fully stained one) plus Gaussian detector noise,
blurred by the beam spot (``beam_sigma_nm``). No molecular tags.

References
----------
Xu CS et al. (2017) Enhanced FIB-SEM systems for large-volume 3D imaging. eLife 6:e25916.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

import numpy as np

from ..types.scan import ChannelInfo
from . import specs
from .damage import Damage
from .forward import ChannelPlan, ChannelSet


class ElectronMicroscope(BaseModel):
    """Volume electron microscope.

    Parameters
    ----------
    voxel_size_nm_zyx : (z, y, x)
        Voxel edge per axis, each 4 to 8 nm.
    beam_sigma_nm : float
        Gaussian width of the beam spot and interaction volume (nm).
    dose_electrons : float
        Detected electrons per voxel from unstained tissue.
    membrane_contrast : float
        Fraction of the signal lost on a voxel filled with stained membrane (0..1).
    read_noise_e : float
        Gaussian detector noise (electrons RMS).
    shot_noise : bool
        Poisson electron noise.
    damage : list of damage specs
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    instrument: Literal["em"] = "em"
    voxel_size_nm_zyx: tuple[float, float, float] = specs.EM_VOXEL_NM
    beam_sigma_nm: float = Field(2.0, ge=0.0)
    dose_electrons: float = Field(50.0, gt=0.0)
    membrane_contrast: float = Field(0.5, ge=0.0, le=1.0)
    read_noise_e: float = Field(1.0, ge=0.0)
    shot_noise: bool = True
    damage: tuple[Damage, ...] = ()

    @field_validator("voxel_size_nm_zyx")
    @classmethod
    def _em_voxels(cls, v: tuple[float, float, float]) -> tuple[float, float, float]:
        if not all(4.0 <= x <= 8.0 for x in v):
            raise ValueError(f"EM voxels must be 4 to 8 nm per axis, got {v}")
        return v

    @property
    def voxel_size_nm(self) -> tuple[float, float, float]:
        return tuple(self.voxel_size_nm_zyx)

    @property
    def psf_sigma_nm(self) -> tuple[float, float, float]:
        return (self.beam_sigma_nm,) * 3

    def instrument_seconds(self, volume_um3: float) -> float:
        """EM time for a specimen volume at the stated rate."""
        return specs.em_seconds(volume_um3)

    def channels(self, spec, labelled: np.ndarray, seed: int) -> ChannelSet:
        """One channel: dark stained membranes on the detected electron dose."""
        return ChannelSet((ChannelInfo("membrane", "membrane"),),
                          (ChannelPlan(-self.membrane_contrast * self.dose_electrons, self.dose_electrons),))
