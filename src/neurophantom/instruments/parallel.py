"""Parallel barcodes: one multicoloured conjugate per protein type, read spectrally.

Each protein type is tagged with a conjugate of ``per_tag`` of ``fluorophores``
fluorophores (a k-of-F code, as in combinatorial spectral labelling: Lin et al. 2015;
Seo et al. 2022 PICASSO). The microscope records one spectral channel per fluorophore;
emission spectra overlap, so channel ``i`` sees fluorophore ``j`` with weight
``X[i, j]`` (the crosstalk matrix, columns summing to one: a fluorophore's photons are
split over the channels). The nominal matrix has ``1`` on the diagonal and
``crosstalk * 2**-(|i - j| - 1)`` off it, normalised per column.

Unmixing noise has three sources here: photon shot noise (camera), the brightness of
each fluorophore in a conjugate varying from molecule to molecule (lognormal with
coefficient of variation ``brightness_cv``), and the true spectra of the sample differing
from the calibrated reference by a relative error ``unmixing_error`` (drawn once per
scan) so that the decoder unmixes with a slightly wrong matrix.

References
----------
Lin J-R, Fallahi-Sichani M, Sorger PK (2015) Highly multiplexed imaging of single cells
using a high-throughput cyclic immunofluorescence method. Nat Commun 6:8390.
Seo J et al. (2022) PICASSO allows ultra-multiplexed fluorescence imaging of spatially
overlapping proteins without reference spectra measurements. Nat Commun 13:2475.
Zimmermann T, Rietdorf J, Pepperkok R (2003) Spectral imaging and its applications in
live cell microscopy. FEBS Lett 546:87-92 (linear unmixing).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..types.scan import ChannelInfo

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class ParallelBarcode(BaseModel):
    """Parallel barcode readout: ``per_tag`` of ``fluorophores`` per conjugate."""

    model_config = _FROZEN
    kind: Literal["parallel"] = "parallel"
    fluorophores: int = Field(8, ge=2, le=32)
    per_tag: int = Field(3, ge=1)
    min_distance: int = Field(2, ge=1, description="minimum binary Hamming distance between conjugates")
    crosstalk: float = Field(0.1, ge=0.0, lt=1.0, description="leak into each neighbouring spectral channel (halving further out)")
    brightness_cv: float = Field(0.1, ge=0.0, description="coefficient of variation of a fluorophore's brightness")
    unmixing_error: float = Field(0.02, ge=0.0, description="relative error of the reference spectra")

    @model_validator(mode="after")
    def _shape_fits(self) -> "ParallelBarcode":
        if self.per_tag >= self.fluorophores:
            raise ValueError(f"per_tag {self.per_tag} must be < fluorophores {self.fluorophores}")
        if self.min_distance > 2 * self.per_tag:
            raise ValueError(f"min_distance {self.min_distance} exceeds 2 * per_tag = {2 * self.per_tag}")
        return self


def crosstalk_matrix(fluorophores: int, crosstalk: float) -> np.ndarray:
    """Nominal (F, F) crosstalk matrix; column j = how fluorophore j's photons split over channels."""
    i = np.arange(fluorophores)
    gap = np.abs(i[:, None] - i[None, :])
    x = np.where(gap == 0, 1.0, crosstalk * 2.0 ** -(gap - 1.0))
    return x / x.sum(axis=0, keepdims=True)


def parallel_channels(cfg: ParallelBarcode) -> list[ChannelInfo]:
    """One spectral channel per fluorophore: ``s{f}``."""
    return [ChannelInfo(f"s{f}", "barcode", round=0, color=f) for f in range(cfg.fluorophores)]


def true_crosstalk(cfg: ParallelBarcode, rng: np.random.Generator) -> np.ndarray:
    """The sample's spectra: the nominal matrix with a relative error, columns renormalised."""
    x = crosstalk_matrix(cfg.fluorophores, cfg.crosstalk)
    if cfg.unmixing_error > 0:
        x = np.clip(x * (1.0 + rng.normal(0.0, cfg.unmixing_error, size=x.shape)), 0.0, None)
        x /= x.sum(axis=0, keepdims=True)
    return x


def parallel_amplitudes(codes: np.ndarray, photons, cfg: ParallelBarcode, x_true: np.ndarray,
                        rng: np.random.Generator) -> np.ndarray:
    """Photons of each molecule in each spectral channel, shape (M, F).

    Parameters
    ----------
    codes : (M, F) 0/1 array
        Conjugate of each molecule's protein.
    photons : float or (M,) array
        Photons per fluorophore of each labelled molecule (0 for unlabelled ones).
    x_true : (F, F) array
        The sample's crosstalk matrix.
    """
    m = codes.shape[0]
    if cfg.brightness_cv > 0:
        s2 = math.log1p(cfg.brightness_cv**2)
        gain = rng.lognormal(-s2 / 2.0, math.sqrt(s2), size=codes.shape)  # mean 1
    else:
        gain = np.ones(codes.shape)
    per_fluor = codes * gain * np.broadcast_to(np.asarray(photons, dtype=np.float64), (m,))[:, None]
    return per_fluor @ x_true.T
