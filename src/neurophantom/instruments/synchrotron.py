"""Synchrotron X-ray tomography of a heavy-metal-stained specimen.

Hard X-rays are monochromatic and measured in transmission, so the image shows where
the stain absorbs: membranes stained with osmium (and other heavy metals, Hua, Laserstein
& Helmstaedter 2015) appear dark on a bright background. The default voxel is 300 nm
(Kuan et al. 2020), optionally after expanding the specimen. Up to two proteins can be
tagged with an element of their own (read, e.g., by K-edge subtraction: one channel per
tag); there are no spectral barcodes. The reconstructed tomogram is modelled as the
transmitted photon count per voxel with Poisson statistics (``flux_photons`` in an
unstained voxel, ``1 - membrane_contrast`` of it in a fully stained one), blurred by a
Gaussian of ``psf_sigma_voxels`` detector voxels.

References
----------
Kuan AT et al. (2020) Dense neuronal reconstruction through X-ray holographic
nano-tomography. Nat Neurosci 23:1637-1643.
Hua Y, Laserstein P, Helmstaedter M (2015) Large-volume en-bloc staining for electron
microscopy-based connectomics. Nat Commun 6:7923.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

import numpy as np

from .._errors import NeurophantomError
from ..types.scan import ChannelInfo
from . import specs
from .damage import Damage
from .forward import ChannelPlan, ChannelSet


class Synchrotron(BaseModel):
    """Synchrotron X-ray tomography.

    Parameters
    ----------
    voxel_nm : float
        Isotropic detector voxel in the imaged (possibly expanded) sample, nm.
    expansion : float
        Prior linear expansion (1 = none, at most 20).
    psf_sigma_voxels : float
        Gaussian blur of the imaging and reconstruction, in voxels.
    flux_photons : float
        Transmitted photons per voxel through unstained tissue.
    membrane_contrast : float
        Fraction of the flux absorbed by a voxel filled with stained membrane (0..1).
    read_noise_e : float
        Gaussian detector noise (photons RMS).
    shot_noise : bool
        Poisson photon noise.
    tags : list of str
        At most two protein types tagged with their own element.
    tag_photons, tag_background : float
        Signal of one tagged molecule, and background, in a tag channel.
    labelling_efficiency : float
        Probability that a molecule carries its tag.
    distortion_nm, distortion_length_nm : float
        Expansion distortion (only meaningful with expansion > 1).
    damage : list of damage specs
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    instrument: Literal["synchrotron"] = "synchrotron"
    voxel_nm: float = Field(specs.SYNCHROTRON_VOXEL_NM, gt=0.0)
    expansion: float = Field(1.0, ge=1.0, le=20.0)
    psf_sigma_voxels: float = Field(0.6, ge=0.0)
    flux_photons: float = Field(1000.0, gt=0.0)
    membrane_contrast: float = Field(0.3, ge=0.0, le=1.0)
    read_noise_e: float = Field(0.0, ge=0.0)
    shot_noise: bool = True
    tags: tuple[str, ...] = ()
    tag_photons: float = Field(200.0, ge=0.0)
    tag_background: float = Field(5.0, ge=0.0)
    labelling_efficiency: float = Field(0.7, ge=0.0, le=1.0)
    distortion_nm: float = Field(0.0, ge=0.0)
    distortion_length_nm: float = Field(5000.0, gt=0.0)
    damage: tuple[Damage, ...] = ()

    @field_validator("tags")
    @classmethod
    def _two_tags(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(v) > 2:
            raise ValueError(f"a synchrotron scan reads at most two tags, got {len(v)}")
        if len(set(v)) != len(v):
            raise ValueError(f"tags must be distinct, got {v}")
        return v

    @property
    def voxel_size_nm(self) -> tuple[float, float, float]:
        """Scan voxel in specimen (pre-expansion) nm."""
        return (self.voxel_nm / self.expansion,) * 3

    @property
    def psf_sigma_nm(self) -> tuple[float, float, float]:
        return tuple(self.psf_sigma_voxels * v for v in self.voxel_size_nm)

    def instrument_seconds(self, volume_um3: float) -> float:
        """Beamline time for a specimen volume (the expanded volume is what is imaged)."""
        return specs.synchrotron_seconds(volume_um3, self.expansion)

    def channels(self, spec, labelled: np.ndarray, seed: int) -> ChannelSet:
        """Dark membranes on the transmitted flux, then one channel per tag."""
        infos = [ChannelInfo("membrane", "membrane")]
        plans = [ChannelPlan(-self.membrane_contrast * self.flux_photons, self.flux_photons)]
        amps = np.zeros((spec.molecule_pos_nm.shape[0], len(self.tags)))
        for i, tag in enumerate(self.tags):
            if tag not in spec.proteins:
                raise NeurophantomError(f"tag {tag!r} is not a protein of this specimen (proteins: {', '.join(spec.proteins) or 'none'})")
            amps[:, i] = self.tag_photons * labelled * (spec.molecule_protein == spec.proteins.index(tag))
            infos.append(ChannelInfo(f"tag_{tag}", "tag", protein=tag))
            plans.append(ChannelPlan(0.0, self.tag_background, i))
        return ChannelSet(tuple(infos), tuple(plans), amps if self.tags else None)
