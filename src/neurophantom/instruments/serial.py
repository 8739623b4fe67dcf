"""Serial barcodes: R rounds of stain, image and wash, C colours per round.

In every round each labelled molecule shows the colour its protein's codeword gives for
that round (as in sequential FISH and its protein analogues: seqFISH, Lubeck et al. 2014;
4i, Gut et al. 2018; ExSeq, Alon et al. 2021). What the rounds do to the signal:

- ``signal_loss``: the readout gets dimmer by this fraction per round (bleaching, probe and
  epitope loss): brightness ``(1 - signal_loss) ** r`` in round ``r``.
- ``degradation``: each round a molecule is lost from the sample with this probability;
  it stays dark from then on (alive in round ``r`` with probability ``(1 - degradation) ** r``).
- ``washout``: the wash leaves this fraction of the previous round's signal, in the colour
  it had then: ``S_r = fresh_r + washout * S_{r-1}``.
- ``registration_nm``: each round after the first is misregistered against round 0 by a
  rigid Gaussian shift (per axis, specimen nm).

References
----------
Lubeck E, Coskun AF, Zhiyentayev T, Ahmad M, Cai L (2014) Single-cell in situ RNA profiling
by sequential hybridization. Nat Methods 11:360-361.
Gut G, Herrmann MD, Pelkmans L (2018) Multiplexed protein maps link subcellular
organization to cellular states. Science 361:eaar7042.
Alon S et al. (2021) Expansion sequencing: spatially precise in situ transcriptomics in
intact biological systems. Science 371:eaax2656.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..types.scan import ChannelInfo

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class SerialBarcode(BaseModel):
    """Serial barcode readout: ``rounds`` x ``colors`` with per-round losses."""

    model_config = _FROZEN
    kind: Literal["serial"] = "serial"
    rounds: int = Field(6, ge=1, le=32)
    colors: int = Field(4, ge=2, le=16)
    min_distance: int = Field(1, ge=1, description="minimum number of rounds in which two codewords differ")
    signal_loss: float = Field(0.03, ge=0.0, lt=1.0, description="fraction of brightness lost per round")
    degradation: float = Field(0.01, ge=0.0, lt=1.0, description="probability per round that a molecule is lost")
    washout: float = Field(0.02, ge=0.0, lt=1.0, description="fraction of the previous round's signal left after the wash")
    registration_nm: float = Field(5.0, ge=0.0, description="RMS rigid shift per axis between rounds (specimen nm)")

    @model_validator(mode="after")
    def _distance_fits(self) -> "SerialBarcode":
        if self.min_distance > self.rounds:
            raise ValueError(f"min_distance {self.min_distance} exceeds rounds {self.rounds}")
        return self


def serial_channels(cfg: SerialBarcode) -> list[ChannelInfo]:
    """Channel records, round-major: ``r{r}c{c}``."""
    return [ChannelInfo(f"r{r}c{c}", "barcode", round=r, color=c) for r in range(cfg.rounds) for c in range(cfg.colors)]


def serial_amplitudes(codes: np.ndarray, photons: float, cfg: SerialBarcode, rng: np.random.Generator) -> np.ndarray:
    """Photons of each molecule in each (round, colour) channel, shape (M, R * C).

    Parameters
    ----------
    codes : (M, R) int array
        Codeword of each molecule's protein (rows of ``Codebook.codewords``).
    photons : float or (M,) array
        Round-0 photons of each labelled molecule (0 for unlabelled ones).
    """
    m, r_n, c_n = codes.shape[0], cfg.rounds, cfg.colors
    rounds = np.arange(r_n)
    if cfg.degradation > 0:
        lost_at = rng.geometric(cfg.degradation, size=m)  # molecule dark from round lost_at on
        alive = rounds[None, :] < lost_at[:, None]
    else:
        alive = np.ones((m, r_n), dtype=bool)
    bright = np.broadcast_to(np.asarray(photons, dtype=np.float64), (m,))[:, None] * (1.0 - cfg.signal_loss) ** rounds[None, :]
    fresh = np.zeros((m, r_n, c_n))
    fresh[np.arange(m)[:, None], rounds[None, :], codes] = bright * alive
    shown = np.empty_like(fresh)
    shown[:, 0] = fresh[:, 0]
    for r in range(1, r_n):
        shown[:, r] = fresh[:, r] + cfg.washout * shown[:, r - 1]
    return shown.reshape(m, r_n * c_n)


def registration_shifts(cfg: SerialBarcode, rng: np.random.Generator) -> np.ndarray:
    """Rigid shift (R, 3) nm of each round against round 0 (row 0 is zero)."""
    shifts = rng.normal(0.0, cfg.registration_nm, size=(cfg.rounds, 3)) if cfg.registration_nm > 0 else np.zeros((cfg.rounds, 3))
    shifts[0] = 0.0
    return shifts
